package dev.cairn.transfer;

import java.io.IOException;

/** An archive or layout that cannot be imported as it is: corrupt, truncated, or missing what it names. */
public final class BadArchiveException extends IOException {
    public BadArchiveException(String message) {
        super(message);
    }
}
