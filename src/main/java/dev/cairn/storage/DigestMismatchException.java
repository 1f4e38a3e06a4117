package dev.cairn.storage;

import dev.cairn.values.Digest;

/** The bytes did not hash to the digest the client named; nothing was kept. */
public final class DigestMismatchException extends Exception {
    private final Digest expected;
    private final Digest actual;

    public DigestMismatchException(Digest expected, Digest actual) {
        super("content hashes to " + actual + ", not " + expected, null, false, false);
        this.expected = expected;
        this.actual = actual;
    }

    public Digest expected() {
        return expected;
    }

    public Digest actual() {
        return actual;
    }
}
