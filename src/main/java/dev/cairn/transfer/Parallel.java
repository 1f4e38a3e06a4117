package dev.cairn.transfer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Blob copies side by side, as skopeo makes them: one stream at a time leaves both registries waiting on each
 * request's round trip. A few at once is enough to keep a link busy without crowding the servers.
 */
final class Parallel {
    /** How many blobs move at once. */
    static final int WIDTH = 4;

    interface Task<T> {
        void run(T item) throws IOException;
    }

    private Parallel() {
    }

    /** Runs {@code task} on every item, {@link #WIDTH} at a time; the first failure is thrown once all have stopped. */
    static <T> void forEach(List<T> items, Task<T> task) throws IOException {
        if (items.size() <= 1) {
            for (T item : items) task.run(item);
            return;
        }
        try (ExecutorService pool = Executors.newFixedThreadPool(Math.min(WIDTH, items.size()), Thread.ofVirtual().name("cairn-transfer-", 0).factory())) {
            List<Future<?>> running = new ArrayList<>();
            for (T item : items) {
                running.add(pool.submit(() -> {
                    try {
                        task.run(item);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    return null;
                }));
            }
            IOException failure = null;
            for (Future<?> f : running) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause() instanceof UncheckedIOException u ? u.getCause() : e.getCause();
                    if (failure == null) failure = cause instanceof IOException io ? io : new IOException(cause.getMessage(), cause);
                    pool.shutdownNow(); // the rest need not run: the import or round has failed
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    pool.shutdownNow();
                    throw new java.io.InterruptedIOException("interrupted");
                }
            }
            if (failure != null) throw failure;
        } catch (java.util.concurrent.CancellationException e) {
            throw new IOException("cancelled", e);
        }
    }
}
