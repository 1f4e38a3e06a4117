package dev.cairn.registry;

import java.io.IOException;
import java.io.UncheckedIOException;

/** A call into a store that may fail with an IOException, which the HTTP edge answers 503. */
@FunctionalInterface
interface StorageCall<T> {
    T run() throws IOException;

    static <T> T io(StorageCall<T> call) {
        try {
            return call.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
