package dev.cairn.testing;

import java.util.Random;

/** Pseudo-random test content: the same seed gives the same bytes, so a test can rebuild what it pushed. */
public final class SeededBytes {
    private SeededBytes() {
    }

    public static byte[] of(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }
}
