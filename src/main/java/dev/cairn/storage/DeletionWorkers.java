package dev.cairn.storage;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Deletes many things (files, objects, batches of objects) on a few platform threads of their own. A collection
 * deletes thousands at a time while it holds those digests' locks, and each deletion mostly waits (an unlink on a
 * local disk, a round trip to an object store), so several at once keep the locks short. Platform threads, joined
 * without giving in to interrupts: an unlink blocks its thread in the kernel (it would pin a virtual thread's
 * carrier), and an interrupt would cut an object store's request short after the records were already deleted,
 * leaving objects nothing points at until the next orphan walk. Every item is tried; the first failure is thrown
 * after all of them.
 */
final class DeletionWorkers {
    /** Deletes one item. */
    interface Deletion<T> {
        void delete(T item) throws IOException;
    }

    private DeletionWorkers() {
    }

    /**
     * Deletes {@code items} with {@code deletion} on up to {@code maxThreads} threads, at least {@code perThread}
     * items each (fewer threads for fewer items), and returns when every one was tried.
     */
    static <T> void deleteAll(List<T> items, int maxThreads, int perThread, Deletion<T> deletion) throws IOException {
        if (items.isEmpty()) return;
        int threads = Math.max(1, Math.min(maxThreads, (items.size() + perThread - 1) / perThread));
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> workers = new ArrayList<>(threads);
        try {
            for (int t = 0; t < threads; t++) {
                List<T> share = items.subList(items.size() * t / threads, items.size() * (t + 1) / threads);
                Runnable work = () -> {
                    for (T item : share) {
                        try {
                            deletion.delete(item);
                        } catch (IOException | RuntimeException | Error e) {
                            failure.compareAndSet(null, e);
                        }
                    }
                };
                try {
                    workers.add(Thread.ofPlatform().daemon().name("cairn-delete").start(work));
                } catch (OutOfMemoryError | RuntimeException e) {
                    work.run(); // no thread to be had ("unable to create native thread"): this share on the caller's
                }
            }
        } finally {
            joinAll(workers); // none may go on after the caller's locks
        }
        Throwable first = failure.get();
        switch (first) {
            case null -> {
            }
            case IOException e -> throw e;
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IllegalStateException(first);
        }
    }

    private static void joinAll(List<Thread> workers) {
        boolean interrupted = false;
        for (Thread worker : workers) {
            while (true) {
                try {
                    worker.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // kept for the caller, once every deletion is done
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
