package dev.cairn.storage;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Writes the buffers handed to it, in order, on a second (virtual) thread, so that receiving and hashing
 * (the request's thread) overlap the write system calls instead of adding to them. A pipeline holds at
 * most {@link #DEPTH} direct buffers at once (the kernel reads them as they are, no copy into a temporary
 * one), taken from a small shared pool and given back as soon as they are written, so a pipeline with
 * nothing queued holds no buffer: one may stay open across the PATCH requests of an upload session and
 * keep writing a chunk while the next one arrives. Once {@link #close()} returns, nothing writes to the
 * channel any more, so a caller may truncate it.
 */
final class WritePipeline implements AutoCloseable {
    private static final int BUFFER_SIZE = 1 << 20;
    /** What {@code O_DIRECT} needs of a write's file offset, length and memory address on common Linux filesystems. */
    static final int ALIGNMENT = 4096;
    private static final int DEPTH = 3;
    private static final int MAX_IDLE = 8;
    /** For streams that are not a {@link ChunkedBody} (tests, re-hashing from disk). */
    private static final int STREAM_BUFFER_SIZE = 64 << 10;
    private static final ConcurrentLinkedQueue<ByteBuffer> IDLE = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger IDLE_COUNT = new AtomicInteger();
    private static final ByteBuffer END = ByteBuffer.allocate(0);
    private static final Logger log = LoggerFactory.getLogger(WritePipeline.class);
    /** Said once per process: a filesystem that refuses direct writes would refuse every one. */
    private static volatile boolean fallbackLogged;

    private final FileChannel out;
    /** The same file opened with O_DIRECT, or null; the writer's own (dropped if a direct write fails). */
    private FileChannel direct;
    private final boolean aligning;
    /** The file offset of the next byte fed (request's thread) and of the next byte written (writer). */
    private long fedPosition;
    private long writePosition;
    /** Bytes that went through {@code direct}: the writer's, read after {@link #close()}. */
    private long directBytes;
    /** One permit per buffer this pipeline may still take; the writer gives each back once it wrote the buffer. */
    private final Semaphore permits = new Semaphore(DEPTH);
    private final BlockingQueue<ByteBuffer> toWrite = new ArrayBlockingQueue<>(DEPTH + 1);
    private Thread writer;
    private volatile IOException failure;
    private boolean closed;

    /** Writes to {@code out} from {@code position} on; aligned buffers through {@code direct} when it is not null. */
    WritePipeline(FileChannel out, FileChannel direct, long position) {
        this.out = out;
        this.direct = direct;
        this.aligning = direct != null;
        this.fedPosition = position;
        this.writePosition = position;
    }

    /**
     * Opens {@code path} for direct writes, or answers null when this JVM or the filesystem has none (tmpfs
     * refuses the flag; {@link #supportsDirectWrites} tells in advance).
     */
    static FileChannel openDirect(Path path) {
        try {
            return FileChannel.open(path, StandardOpenOption.WRITE, com.sun.nio.file.ExtendedOpenOption.DIRECT);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Whether a file in {@code dir} takes an aligned direct write: tried once with a probe file. */
    static boolean supportsDirectWrites(Path dir) {
        Path probe = dir.resolve("direct-write-probe-" + UUID.randomUUID());
        try {
            Files.createFile(probe);
            try (FileChannel channel = openDirect(probe)) {
                if (channel == null) return false;
                ByteBuffer block = ByteBuffer.allocateDirect(2 * ALIGNMENT).alignedSlice(ALIGNMENT).limit(ALIGNMENT);
                return channel.write(block, 0) == ALIGNMENT;
            }
        } catch (IOException | RuntimeException e) {
            return false;
        } finally {
            try {
                Files.deleteIfExists(probe);
            } catch (IOException ignored) {
                // a stray probe file in the temporary area is removed at the next start
            }
        }
    }

    /**
     * Receives {@code body} to its end: hashes each piece ({@code hasher} may be null) and queues it for
     * writing, without waiting for the writes. Returns the byte count. When the body fails, what was
     * queued before is still written; the caller decides what to keep (see {@link #close()}).
     */
    long feed(InputStream body, MessageDigest hasher) throws IOException {
        long total = 0;
        ByteBuffer filling = null;
        byte[] streamBuffer = body instanceof ChunkedBody ? null : new byte[STREAM_BUFFER_SIZE];
        try {
            for (ByteBuffer chunk; (chunk = next(body, streamBuffer)) != null; ) {
                total += chunk.remaining();
                if (hasher != null) {
                    int position = chunk.position();
                    hasher.update(chunk);
                    chunk.position(position);
                }
                while (chunk.hasRemaining()) {
                    if (filling == null) filling = emptyBuffer();
                    int n = Math.min(filling.remaining(), chunk.remaining());
                    filling.put(filling.position(), chunk, chunk.position(), n);
                    filling.position(filling.position() + n);
                    chunk.position(chunk.position() + n);
                    if (!filling.hasRemaining()) {
                        ByteBuffer full = filling;
                        filling = null; // write() owns it now, even when it throws
                        write(full);
                    }
                }
            }
            if (filling != null) {
                ByteBuffer last = filling;
                filling = null;
                write(last);
            }
            return total;
        } finally {
            if (filling != null) giveBack(filling);
        }
    }

    private static ByteBuffer next(InputStream body, byte[] streamBuffer) throws IOException {
        if (body instanceof ChunkedBody chunked) return chunked.nextChunk();
        int n;
        do {
            n = body.read(streamBuffer);
        } while (n == 0);
        return n < 0 ? null : ByteBuffer.wrap(streamBuffer, 0, n);
    }

    /** Waits until everything queued is written; throws what the writer met. */
    void drain() throws IOException {
        acquire(DEPTH);
        permits.release(DEPTH);
        checkFailure();
    }

    /** How many bytes went to the disk around the page cache; complete once {@link #close()} returned. */
    long directBytes() {
        return directBytes;
    }

    /** Writes what is queued, then stops the writer. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (writer == null) return;
        put(END);
        boolean interrupted = false;
        while (true) {
            try {
                writer.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true; // the writer must be done before anyone touches the file again
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** An empty buffer to fill, once the pipeline holds fewer than DEPTH. */
    private ByteBuffer emptyBuffer() throws IOException {
        checkFailure();
        acquire(1);
        ByteBuffer buffer = IDLE.poll();
        if (buffer == null) {
            buffer = ByteBuffer.allocateDirect(BUFFER_SIZE + ALIGNMENT).alignedSlice(ALIGNMENT);
        } else {
            IDLE_COUNT.decrementAndGet();
        }
        // Off a boundary (a chunk ended there): fill only up to the next one, so this short buffer goes
        // through the page cache and every buffer after it starts on a boundary again.
        int offBoundary = aligning ? (int) (fedPosition % ALIGNMENT) : 0;
        return buffer.clear().limit(offBoundary == 0 ? BUFFER_SIZE : ALIGNMENT - offBoundary);
    }

    private void write(ByteBuffer filled) throws IOException {
        filled.flip();
        fedPosition += filled.remaining();
        if (failure != null) {
            giveBack(filled);
            checkFailure();
        }
        if (writer == null) writer = Thread.ofVirtual().name("cairn-blob-writer").start(this::run);
        put(filled);
    }

    private void run() {
        while (true) {
            ByteBuffer buffer;
            try {
                buffer = toWrite.take();
            } catch (InterruptedException e) {
                if (failure == null) failure = new InterruptedIOException("blob writer interrupted");
                continue; // keep giving buffers back until END, so the request thread never waits forever
            }
            if (buffer == END) return;
            if (failure == null) {
                try {
                    writeOut(buffer);
                } catch (IOException e) {
                    failure = e;
                } catch (RuntimeException | Error e) {
                    failure = new IOException(e);
                }
            }
            giveBack(buffer);
        }
    }

    private void writeOut(ByteBuffer buffer) throws IOException {
        long start = writePosition;
        int length = buffer.remaining();
        writePosition += length;
        if (direct != null && start % ALIGNMENT == 0 && length % ALIGNMENT == 0) {
            try {
                while (buffer.hasRemaining()) direct.write(buffer, start + buffer.position());
                directBytes += length;
                return;
            } catch (IOException e) {
                // Refused (a filesystem that takes the flag but not this write, or a failing disk): from here
                // on through the page cache, which reports a failing disk at its own write or at the fsync.
                direct = null;
                if (!fallbackLogged) {
                    fallbackLogged = true;
                    log.warn("a direct (O_DIRECT) blob write failed ({}); this and later writes of the blob go through the page cache", e.toString());
                }
            }
        }
        while (buffer.hasRemaining()) out.write(buffer, start + buffer.position());
    }

    /** Returns a buffer to the shared pool (or to the collector, past MAX_IDLE) and its permit to this pipeline. */
    private void giveBack(ByteBuffer buffer) {
        if (IDLE_COUNT.incrementAndGet() <= MAX_IDLE) {
            IDLE.offer(buffer.clear());
        } else {
            IDLE_COUNT.decrementAndGet(); // freed with the object
        }
        permits.release();
    }

    /** Takes permits as the writer gives them back; fails rather than waits if the writer is gone. */
    private void acquire(int count) throws IOException {
        try {
            while (!permits.tryAcquire(count, 1, TimeUnit.SECONDS)) {
                if (writer == null || !writer.isAlive()) throw new IOException("the blob writer stopped");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing a blob");
        }
    }

    private void checkFailure() throws IOException {
        IOException e = failure;
        if (e != null) throw new IOException("writing the blob failed: " + e.getMessage(), e);
    }

    /** Never blocks nor fails: the queue has room for every buffer of the pipeline and the end mark. */
    private void put(ByteBuffer buffer) {
        if (!toWrite.offer(buffer)) throw new IllegalStateException("blob write queue full");
    }
}
