package dev.cairn.values;

import java.util.Map;
import java.util.Optional;

/**
 * A request the cache refuses for a reason the client can act on: a value it sent is malformed, what it
 * names is not here, the content it sent is refused, or a limit holds. The reason is a domain fact; the
 * HTTP edge alone turns it into a wire code and status. {@code detail} is extra structured information for
 * the client (e.g. the missing digest); it never carries secrets or stack traces.
 */
public class Refusal extends RuntimeException {
    /** Why a request is refused. */
    public enum Reason {
        /** A digest that is malformed or of an algorithm Cairn cannot verify. */
        INVALID_DIGEST,
        INVALID_REPOSITORY_NAME,
        INVALID_TAG,
        /** A glob over repository names or tags that cannot be used. */
        INVALID_PATTERN,
        /** A page size (the listing's {@code n}) that is not a non-negative whole number. */
        INVALID_PAGE_SIZE,
        BLOB_NOT_FOUND,
        /** A key a build-tool cache does not hold (a cache miss). */
        ENTRY_NOT_FOUND,
        /** A key or namespace of a keyed cache that cannot be stored ('..', control characters, too long). */
        INVALID_KEY,
        /** A keyed entry over the configured size limit. */
        ENTRY_TOO_LARGE,
        /** A directory listing of more names than one listing may hold. */
        LISTING_TOO_LARGE,
        MANIFEST_NOT_FOUND,
        UPLOAD_NOT_FOUND,
        REPOSITORY_NOT_FOUND,
        /** A manifest document that does not parse or breaks the image spec. */
        INVALID_MANIFEST,
        /** A manifest over the configured size limit. */
        MANIFEST_TOO_LARGE,
        /** Content whose digest is not the one the client claimed. */
        CONTENT_DIGEST_MISMATCH,
        /** A manifest referencing blobs or manifests the repository does not hold. */
        MISSING_REFERENCES,
        /** A chunk that does not continue its upload where the upload ends. */
        UPLOAD_OUT_OF_ORDER,
        /** A client holding as many open upload sessions as it may. */
        TOO_MANY_UPLOAD_SESSIONS,
        /** The byte budget's hard limit, with nothing left to evict. */
        BUDGET_EXHAUSTED,
        /** Another node sharing the stores is collecting. */
        COLLECTION_BUSY,
        /** A body of a kind the method does not take (MKCOL with a body). */
        UNSUPPORTED_MEDIA_TYPE,
        /** A method the addressed resource does not offer. */
        UNSUPPORTED_METHOD,
        /** A path (or a grant type) no part of Cairn serves. */
        UNKNOWN_ENDPOINT,
        /** A malformed request to the admin API or the token service (a bad body, scope or duration). */
        INVALID_REQUEST,
        /** A byte range outside the blob. */
        UNSATISFIABLE_RANGE,
        /** No credentials, or wrong ones, where they are needed. */
        NOT_AUTHENTICATED,
        /** A known caller without the right. */
        ACCESS_DENIED,
        /** A caller whose address is cooling off after failed logins. */
        LOGIN_COOLING_OFF,
        /** A mirror's upstream that failed (unreachable, timed out, 5xx) for something the mirror does not hold. */
        UPSTREAM_UNAVAILABLE,
        /** A mirror's upstream that rate-limits (429) for something the mirror does not hold. */
        UPSTREAM_RATE_LIMITED
    }

    private final Reason reason;
    private final Map<String, Object> detail;

    public Refusal(Reason reason, String message) {
        this(reason, message, Map.of());
    }

    public Refusal(Reason reason, String message, Map<String, Object> detail) {
        super(message, null, false, false);
        this.reason = reason;
        this.detail = Map.copyOf(detail);
    }

    public Reason reason() {
        return reason;
    }

    public Optional<Map<String, Object>> detail() {
        return detail.isEmpty() ? Optional.empty() : Optional.of(detail);
    }
}
