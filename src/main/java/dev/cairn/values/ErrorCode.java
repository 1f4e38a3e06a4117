package dev.cairn.values;

/**
 * The OCI Distribution error codes. They are domain facts (the blob is unknown, the digest is invalid);
 * the HTTP edge decides which status each one travels with.
 */
public enum ErrorCode {
    BLOB_UNKNOWN("blob unknown to registry"),
    BLOB_UPLOAD_INVALID("blob upload invalid"),
    BLOB_UPLOAD_UNKNOWN("blob upload unknown to registry"),
    DIGEST_INVALID("provided digest did not match uploaded content"),
    MANIFEST_BLOB_UNKNOWN("manifest references a manifest or blob unknown to registry"),
    MANIFEST_INVALID("manifest invalid"),
    MANIFEST_UNKNOWN("manifest unknown to registry"),
    NAME_INVALID("invalid repository name"),
    NAME_UNKNOWN("repository name not known to registry"),
    /** Distribution's code for a bad {@code n} or {@code last} on a paginated list. */
    PAGINATION_NUMBER_INVALID("invalid number of results requested"),
    SIZE_INVALID("provided length did not match content length"),
    /** Cairn's code for a blob Range header it cannot satisfy (the spec names none). */
    RANGE_INVALID("requested range not satisfiable"),
    UNAUTHORIZED("authentication required"),
    DENIED("requested access to the resource is denied"),
    UNSUPPORTED("the operation is unsupported"),
    TOOMANYREQUESTS("too many requests"),
    /** Cairn's code for a malformed admin API request (a bad glob, duration or JSON body). */
    INVALID_REQUEST("the request is malformed"),
    /** Cairn's code for a push refused by the hard budget limit: nothing more could be evicted to make room. */
    BUDGET_EXCEEDED("the cache's byte budget is exhausted and nothing more can be evicted"),
    /** Cairn's code for a collection asked of a node while another node sharing the stores runs one. */
    COLLECTION_BUSY("another node is collecting; retry when it is done"),
    /** Distribution's code for a service that cannot answer now: a mirror's upstream that fails, with nothing cached to serve. */
    UNAVAILABLE("service unavailable"),
    /** Cairn's code for a key a build-tool cache does not hold. */
    ENTRY_UNKNOWN("no entry under this key"),
    /** Cairn's code for a WebDAV listing of more names than one listing holds (507, as RFC 4918 answers such a PROPFIND). */
    LISTING_TOO_LARGE("the listing is larger than one listing may be"),
    /** Cairn's code for a request body the method does not take (415). */
    UNSUPPORTED_MEDIA_TYPE("the request body is of a kind this method does not take"),
    /** Cairn's code for a cache key or namespace that cannot be stored. */
    KEY_INVALID("invalid cache key"),
    /** Distribution's code for a fault on the server's side; it travels with a 5xx. */
    UNKNOWN("unknown error");

    private final String defaultMessage;

    ErrorCode(String defaultMessage) {
        this.defaultMessage = defaultMessage;
    }

    public String defaultMessage() {
        return defaultMessage;
    }
}
