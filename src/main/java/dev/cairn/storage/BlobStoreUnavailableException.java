package dev.cairn.storage;

import java.io.IOException;

/** The blob store did not answer or failed (unreachable, refusing, erroring): the store is at fault, not the request. */
public final class BlobStoreUnavailableException extends IOException {
    public BlobStoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
