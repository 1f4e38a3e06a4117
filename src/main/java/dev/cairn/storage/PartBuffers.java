package dev.cairn.storage;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Part-sized buffers, reused: an upload holds one while it streams a part, so memory is bounded by
 * the pool (parts waiting for a buffer wait, they are not refused).
 */
final class PartBuffers {
    /** How long an upload waits for a part buffer before it is answered 503 (the node is saturated). */
    private static final Duration BUFFER_WAIT = Duration.ofSeconds(30);

    private final BlockingQueue<byte[]> free;
    private final int size;
    private final AtomicInteger made = new AtomicInteger();
    private final int max;

    PartBuffers(int size, int max) {
        this.size = size;
        this.max = max;
        this.free = new ArrayBlockingQueue<>(max);
    }

    byte[] take() throws IOException {
        byte[] buffer = free.poll();
        if (buffer != null) return buffer;
        if (made.incrementAndGet() <= max) return new byte[size];
        made.decrementAndGet();
        try {
            byte[] freed = free.poll(BUFFER_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            if (freed == null) {
                throw new BlobStoreUnavailableException("all " + max + " upload buffers stayed busy for " + BUFFER_WAIT.toSeconds()
                        + " s (raise the heap or storage.s3.max-connections, or add nodes)", null);
            }
            return freed;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for an upload buffer");
        }
    }

    void give(byte[] buffer) {
        free.offer(buffer);
    }
}
