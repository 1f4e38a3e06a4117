package dev.cairn.retention;

/** A collection that failed, already counted and logged; what the caller of an explicit collection sees. */
public final class CollectionFailure extends RuntimeException {
    CollectionFailure(Throwable cause) {
        super("the collection failed: " + CacheKeeper.describe(cause), cause, true, false);
    }
}
