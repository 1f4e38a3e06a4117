package dev.cairn.storage;

import dev.cairn.values.Digest;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;

/**
 * An upload session of a {@link FileBlobStore} being written: the bytes accepted so far ({@code length},
 * which the file reaches once the writer drained) and the hash of them while it covers them all; its file
 * and writer while it holds them. Opening, parking and a request's use are decided holding the object's
 * monitor.
 */
final class OpenUpload {
    final String id;
    final Path path;
    private final boolean directWrites;
    FileChannel channel;
    /** The same file opened for direct writes, or null. */
    FileChannel direct;
    WritePipeline pipeline;
    long length;
    /** The hash of the first {@code length} bytes, or null once it may not be (then the commit hashes the file). */
    MessageDigest sha256;
    /** A request is writing to it: it may not be parked. */
    boolean busy;

    OpenUpload(String id, Path path, boolean directWrites) throws IOException {
        this.id = id;
        this.path = path;
        this.directWrites = directWrites;
        openFiles();
        this.sha256 = length == 0 ? Digest.newHasher("sha256") : null;
    }

    boolean holdsFiles() {
        return channel != null;
    }

    /** Opens the file where the accepted bytes end (its size: every earlier write was drained). */
    void openFiles() throws IOException {
        FileChannel opened = FileChannel.open(path, StandardOpenOption.WRITE);
        try {
            long size = opened.size();
            // A parked session whose last writes failed is shorter than it was: its running hash no longer fits.
            if (sha256 != null && size != length) sha256 = null;
            this.length = size;
        } catch (IOException | RuntimeException e) {
            opened.close();
            throw e;
        }
        this.channel = opened;
        this.direct = directWrites ? WritePipeline.openDirect(path) : null;
        this.pipeline = new WritePipeline(channel, direct, length);
    }

    /** Writes what is queued and closes the file; throws what the writer met. */
    void finish() throws IOException {
        if (channel == null) return;
        try (FileChannel file = channel; FileChannel directFile = direct) {
            pipeline.close();
            pipeline.drain();
        } finally {
            channel = null;
            direct = null;
            pipeline = null;
        }
    }

    /** Stops the session's writer and closes its file, whatever the writer met: its bytes are being thrown away. */
    static void closeQuietly(OpenUpload open) {
        if (open == null) return;
        synchronized (open) {
            try {
                open.finish();
            } catch (IOException e) {
                // nothing of it is kept
            }
        }
    }
}
