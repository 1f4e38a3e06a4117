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

    public UpstreamFailure(String message, int status, Optional<Duration> retryAfter, Throwable cause) {
        super(message, cause);
        this.status = status;
        this.retryAfter = retryAfter;
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
