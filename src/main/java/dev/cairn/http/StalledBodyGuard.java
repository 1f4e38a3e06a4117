package dev.cairn.http;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A response body that gives up when no byte arrives for a while: the JDK's client times out waiting for a
 * response's headers, not for its body, and a registry that sends half a blob and then holds the connection
 * would stop a transfer (and a scheduled replication's thread) for good. One daemon thread checks every body
 * being read; a stalled one is closed, and its reader gets an IOException that says so.
 */
final class StalledBodyGuard extends FilterInputStream {
    /** How long a body may send nothing before it is given up ({@code cairn.transfer.stall-seconds} to change it). */
    static final long STALL_NANOS = TimeUnit.SECONDS.toNanos(Long.getLong("cairn.transfer.stall-seconds", 120));
    private static final Set<StalledBodyGuard> READING = ConcurrentHashMap.newKeySet();
    private static final ScheduledExecutorService WATCH = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "cairn-stalled-bodies");
        t.setDaemon(true);
        return t;
    });

    static {
        long every = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(STALL_NANOS) / 4);
        WATCH.scheduleWithFixedDelay(StalledBodyGuard::closeStalled, every, every, TimeUnit.SECONDS);
    }

    private final String what;
    private volatile long lastProgress = System.nanoTime();
    private volatile boolean stalled;

    StalledBodyGuard(InputStream body, String what) {
        super(body);
        this.what = what;
        READING.add(this);
    }

    private static void closeStalled() {
        long now = System.nanoTime();
        for (StalledBodyGuard body : READING) {
            if (now - body.lastProgress > STALL_NANOS) {
                body.stalled = true;
                READING.remove(body);
                try {
                    body.in.close();
                } catch (IOException | RuntimeException e) {
                    // closing is all that is wanted; the reader learns of it from its read
                }
            }
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        try {
            int n = super.read(b, off, len);
            if (n < 0) READING.remove(this);
            else lastProgress = System.nanoTime();
            return n;
        } catch (IOException e) {
            if (stalled) throw new IOException(what + ": nothing arrived for " + TimeUnit.NANOSECONDS.toSeconds(STALL_NANOS) + " s; given up", e);
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        READING.remove(this);
        super.close();
    }
}
