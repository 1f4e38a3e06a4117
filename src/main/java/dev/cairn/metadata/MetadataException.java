package dev.cairn.metadata;

/** The database failed (unreachable, full, corrupt): a server-side fault, never the client's. */
public class MetadataException extends RuntimeException {
    public MetadataException(String message, Throwable cause) {
        super(message, cause);
    }
}
