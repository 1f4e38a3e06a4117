package dev.cairn.http;

import dev.cairn.storage.ChunkedBody;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.IO;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;

/**
 * A request's body, readable as an {@link InputStream} (small bodies: manifests, forms) or chunk by chunk in
 * Jetty's own buffers ({@link ChunkedBody}: blob uploads, which hash and write them without a copy into an
 * array). Blocks the calling (virtual) thread while it waits for bytes.
 */
final class RequestBody extends InputStream implements ChunkedBody {
    private final Content.Source source;
    private final long length;
    private final Blocker.Shared blocking = new Blocker.Shared();
    /** The chunk being read, a terminal chunk (end or failure), or null when the next one must be read. */
    private Content.Chunk chunk;
    /** The current chunk's buffer was handed out by {@link #nextChunk()}: it is consumed at the next call. */
    private boolean handedOut;
    /** Bytes handed out so far, and how many may be: past that the body is refused with {@code overLimit}'s exception. */
    private long handedOutBytes;
    private final long limit;
    private final java.util.function.Supplier<? extends RuntimeException> overLimit;

    RequestBody(Content.Source source, long length) {
        this(source, length, Long.MAX_VALUE, () -> new IllegalStateException("no limit"));
    }

    RequestBody(Content.Source source, long length, long limit, java.util.function.Supplier<? extends RuntimeException> overLimit) {
        this.source = source;
        this.length = length;
        this.limit = limit;
        this.overLimit = overLimit;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public ByteBuffer nextChunk() throws IOException {
        if (handedOut) {
            ByteBuffer consumed = chunk.getByteBuffer();
            consumed.position(consumed.limit());
            handedOut = false;
        }
        while (true) {
            if (chunk != null) {
                if (Content.Chunk.isFailure(chunk)) throw IO.rethrow(chunk.getFailure());
                if (chunk.hasRemaining()) {
                    handedOutBytes += chunk.remaining();
                    // A client that declared no length (or a wrong one) is stopped once it is past the limit, not at its end.
                    if (handedOutBytes > limit) throw overLimit.get();
                    handedOut = true;
                    return chunk.getByteBuffer();
                }
                boolean last = chunk.isLast();
                chunk.release();
                chunk = Content.Chunk.next(chunk); // the end stays the end; otherwise null: read the next one
                if (last) return null;
                continue;
            }
            chunk = source.read();
            if (chunk == null) {
                try (Blocker.Runnable demanded = blocking.runnable()) {
                    source.demand(demanded);
                    demanded.block();
                }
            }
        }
    }

    /** The rest of the current chunk, when it has bytes a read may take. */
    private ByteBuffer unread() {
        return chunk != null && !handedOut && !Content.Chunk.isFailure(chunk) && chunk.hasRemaining() ? chunk.getByteBuffer() : null;
    }

    @Override
    public int read(byte[] into, int offset, int count) throws IOException {
        java.util.Objects.checkFromIndexSize(offset, count, into.length);
        if (count == 0) return 0;
        ByteBuffer buffer = unread();
        if (buffer == null) {
            buffer = nextChunk();
            if (buffer == null) return -1;
            handedOut = false; // read by position from here on
        }
        int n = Math.min(count, buffer.remaining());
        buffer.get(into, offset, n);
        return n;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int available() {
        ByteBuffer buffer = unread();
        return buffer == null ? 0 : buffer.remaining();
    }

    /** Gives the current chunk back to Jetty; what is left of the body is Jetty's to drain or drop. */
    @Override
    public void close() {
        if (chunk != null) {
            chunk.release();
            chunk = Content.Chunk.isFailure(chunk) || chunk.isLast() ? Content.Chunk.next(chunk) : null;
            handedOut = false;
        }
    }
}
