package dev.cairn.retention;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.registry.DigestLocks;
import dev.cairn.storage.BlobContent;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The collector's deletions of blob bytes: records first, then files, each under its digest's lock (the
 * same locks a push holds while it publishes and links), so no push can find a file present just before
 * the collector deletes it.
 */
final class BlobSweeper {
    private final BlobContent blobs;
    private final RetentionRecords metadata;
    private final DigestLocks digestLocks;

    BlobSweeper(BlobContent blobs, RetentionRecords metadata, DigestLocks digestLocks) {
        this.blobs = blobs;
        this.metadata = metadata;
        this.digestLocks = digestLocks;
    }

    /**
     * Deletes blobs that no repository links and no manifest references, each for the reason given: their
     * records (with an audit event each, in the same transaction), then their files,
     * holding their digests' locks so no push can be publishing one meanwhile. Returns the size of each
     * blob deleted; a blob linked again in the meantime stays.
     */
    Map<Digest, Long> deleteUnlinkedBlobs(Map<Digest, DeletionReason> reasons) {
        return digestLocks.withLocks(reasons.keySet(), () -> {
            Map<Digest, Long> deleted = metadata.deleteBlobsIfUnlinked(reasons);
            deleteFiles(List.copyOf(deleted.keySet()));
            return deleted;
        });
    }

    private static final int UNLINK_THREADS = 8;

    /**
     * Removes the files of deleted blob records, on several threads: an unlink costs ~0.1 ms on a local disk,
     * mostly waiting, and a collection makes tens of thousands while it holds those digests' locks. A file
     * that cannot be removed is reported after the others went (a later orphan sweep retries it).
     */
    private void deleteFiles(List<Digest> digests) {
        int threads = Math.min(UNLINK_THREADS, (digests.size() + 15) / 16);
        if (threads <= 1) {
            for (Digest digest : digests) io(() -> blobs.delete(digest));
            return;
        }
        java.util.concurrent.atomic.AtomicReference<IOException> failure = new java.util.concurrent.atomic.AtomicReference<>();
        List<Thread> workers = new ArrayList<>(threads);
        for (int t = 0; t < threads; t++) {
            List<Digest> share = digests.subList(digests.size() * t / threads, digests.size() * (t + 1) / threads);
            // platform threads: an unlink blocks its thread in the kernel, which would pin a virtual thread's carrier
            workers.add(Thread.ofPlatform().daemon().name("cairn-unlink").start(() -> {
                for (Digest digest : share) {
                    try {
                        blobs.delete(digest);
                    } catch (IOException e) {
                        failure.compareAndSet(null, e);
                    }
                }
            }));
        }
        boolean interrupted = false;
        for (Thread worker : workers) {
            while (true) {
                try {
                    worker.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the locks are held until every unlink is done
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        if (failure.get() != null) throw new UncheckedIOException(failure.get());
    }

    /**
     * Deletes a file no record points at (left by a crash between publishing and linking, or between
     * deleting a record and its file). The caller makes sure it is older than the grace window.
     */
    boolean deleteOrphanFile(Digest digest, Runnable beforeDeleting) {
        return digestLocks.withLock(digest, () -> {
            if (metadata.blobRecordExists(digest)) return false;
            beforeDeleting.run();
            io(() -> blobs.delete(digest));
            return true;
        });
    }

    private static void io(IoWork work) {
        try {
            work.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private interface IoWork {
        void run() throws IOException;
    }
}
