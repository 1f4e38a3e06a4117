package dev.cairn.metadata;

/**
 * A write transaction that lost a race on every try (PostgreSQL's serialization failure or deadlock, under
 * SERIALIZABLE): the database is fine; a smaller transaction may win where this one did not.
 */
final class WriteConflictException extends MetadataException {
    WriteConflictException(String message, Throwable cause) {
        super(message, cause);
    }
}
