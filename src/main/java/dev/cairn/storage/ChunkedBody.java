package dev.cairn.storage;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A request body that hands over its bytes in the buffers they arrived in (the HTTP server's own, usually
 * direct), so that a store hashes and writes them without first copying them into an array. Stores check
 * for it with {@code instanceof} on the {@link java.io.InputStream} they are given and read any other
 * stream as usual.
 */
public interface ChunkedBody {
    /**
     * The next bytes of the body, or {@code null} at its end; blocks until some arrive. The buffer is the
     * caller's to read until the next call (or until the stream is closed), and counts as consumed then.
     */
    ByteBuffer nextChunk() throws IOException;

    /** The body's length when the request declared it (Content-Length), else -1. */
    long length();
}
