package dev.cairn.storage;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;

/**
 * A blob opened from local disk: an ordinary stream, and also the file itself, so that the HTTP layer can
 * send the bytes from the page cache to the socket without copying them through the heap.
 */
public final class LocalFileStream extends InputStream {
    private final FileChannel channel;
    private final InputStream in;

    public LocalFileStream(FileChannel channel) {
        this.channel = channel;
        this.in = Channels.newInputStream(channel);
    }

    /** The open file; reading the stream moves its position. Closing the stream closes it. */
    public FileChannel channel() {
        return channel;
    }

    @Override
    public int read() throws IOException {
        return in.read();
    }

    @Override
    public int read(byte[] bytes, int offset, int length) throws IOException {
        return in.read(bytes, offset, length);
    }

    @Override
    public long skip(long n) throws IOException {
        return in.skip(n);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
