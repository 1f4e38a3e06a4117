package dev.cairn.mirror;

import java.io.IOException;
import java.time.Duration;
import java.util.Optional;

/**
 * An upstream that did not answer as a registry should: {@code status} is its HTTP status (429 when it rate-limits,
 * 5xx when it fails), or 0 when it could not be reached or broke off; {@code retryAfter} what it asked for.
 */
public class UpstreamFailure extends IOException {
    private final int status;
    private final Optional<Duration> retryAfter;
    private final boolean badContent;

    public UpstreamFailure(String message, int status, Optional<Duration> retryAfter, Throwable cause) {
        this(message, status, retryAfter, cause, false);
    }

    private UpstreamFailure(String message, int status, Optional<Duration> retryAfter, Throwable cause, boolean badContent) {
        super(message, cause);
        this.status = status;
        this.retryAfter = retryAfter;
        this.badContent = badContent;
    }

    /**
     * An upstream that answered, with content that is not what it should be (bytes that do not hash to their digest, a
     * manifest larger than Cairn keeps): that one object fails, the upstream is not taken for down.
     */
    public static UpstreamFailure badContent(String message) {
        return new UpstreamFailure(message, 0, Optional.empty(), null, true);
    }

    public boolean badContent() {
        return badContent;
    }

    public int status() {
        return status;
    }

    public Optional<Duration> retryAfter() {
        return retryAfter;
    }

    public boolean rateLimited() {
        return status == 429;
    }
}
