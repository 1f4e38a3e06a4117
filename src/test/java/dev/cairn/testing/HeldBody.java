package dev.cairn.testing;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * A request body that runs {@code beforeFirstRead} (which may block, e.g. on a latch) when the server first
 * reads it, then yields {@code bytes}: for lining up what two requests do on one upload session.
 */
public final class HeldBody extends InputStream {
    /** What runs before the first byte is read; it may wait. */
    public interface Hold {
        void run() throws InterruptedException;
    }

    private final InputStream body;
    private final Hold beforeFirstRead;
    private boolean held;

    public HeldBody(byte[] bytes, Hold beforeFirstRead) {
        this.body = new ByteArrayInputStream(bytes);
        this.beforeFirstRead = beforeFirstRead;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (!held) {
            held = true;
            try {
                beforeFirstRead.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while holding the body", e);
            }
        }
        return body.read(b, off, len);
    }
}
