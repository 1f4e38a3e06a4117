package dev.cairn.retention;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.registry.DigestLocks;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.storage.BlobListing;
import dev.cairn.storage.BlobStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Optional;
import java.util.List;
import java.util.Map;

/**
 * The collection's sweep, after its evictions: retired manifests whose stay ended, links no manifest
 * references, blobs nothing holds any more, and now and then files no record points at. Blob deletions go
 * records first, then files, each under its digest's lock (the same locks a push holds while it publishes
 * and links), so no push can find a file present just before the collector deletes it.
 */
final class BlobSweeper {
    private static final int SWEEP_BATCH = 1000;
    /** Retired manifests deleted per transaction. */
    private static final int RETIRED_BATCH = 250;
    /** Links examined per transaction by the link sweep. */
    private static final int LINK_PAGE = 10_000;
    private static final Duration ORPHAN_SWEEP_EVERY = Duration.ofHours(6);

    private final BlobStore blobs;
    private final BlobListing listing;
    private final RetentionRecords metadata;
    private final DigestLocks digestLocks;
    private final LastUseRecorder lastUse;
    private final AuditLog audit;
    private final CacheMetrics metrics;
    private final Duration grace;
    private Instant lastOrphanSweep = Instant.EPOCH;

    BlobSweeper(BlobStore blobs, RetentionRecords metadata, DigestLocks digestLocks, LastUseRecorder lastUse, AuditLog audit,
                CacheMetrics metrics, Duration grace) {
        this.blobs = blobs;
        this.listing = blobs;
        this.metadata = metadata;
        this.digestLocks = digestLocks;
        this.lastUse = lastUse;
        this.audit = audit;
        this.metrics = metrics;
        this.grace = grace;
    }

    /**
     * Deletes what nothing needs any more and the grace window no longer protects: first repository links
     * no manifest of that repository references, then blobs no repository links, then (every few hours)
     * files no record points at. Blob deletion takes the digest's lock, so a concurrent push of the same
     * blob either comes first (and the blob stays) or after (and uploads it again).
     */
    Tally<CollectionReport.DeletedBlob> sweep(Instant now, PhaseTimes phases) {
        Instant cutoff = now.minus(grace);
        lastUse.flush(); // a HEAD that let a client skip an upload must protect that blob's link
        while (metadata.deleteRetiredManifests(now, RETIRED_BATCH) > 0) {
            // evicted manifests whose readers' grace windows have passed, indexes before their children;
            // their blobs follow below
        }
        phases.end("retired manifests");
        Optional<RetentionRecords.LinkKey> page = Optional.empty();
        do {
            page = metadata.deleteUnreferencedLinks(cutoff, page, LINK_PAGE); // one pass over the links, a page per transaction
        } while (page.isPresent());
        phases.end("links");
        Tally<CollectionReport.DeletedBlob> deleted = new Tally<>();
        Optional<Digest> after = Optional.empty();
        List<Digest> unlinked;
        do {
            unlinked = metadata.unlinkedBlobs(cutoff, after, SWEEP_BATCH);
            if (unlinked.isEmpty()) break;
            after = Optional.of(unlinked.getLast());
            // A blob an eviction freed goes for that eviction's reason, which its record keeps; others were never held.
            Map<Digest, DeletionReason> reasons = new LinkedHashMap<>();
            for (Digest digest : unlinked) reasons.put(digest, DeletionReason.UNREFERENCED);
            Map<Digest, RetentionRecords.DeletedBlobRecord> freed = deleteUnlinkedBlobs(reasons);
            audit.drain(metadata); // per batch, so that the log follows a long sweep (and tells how far a crash let it go)
            for (Map.Entry<Digest, RetentionRecords.DeletedBlobRecord> blob : freed.entrySet()) {
                String reason = blob.getValue().reason().wireName();
                metrics.evicted(reason, 0, blob.getValue().size());
                deleted.add(new CollectionReport.DeletedBlob(blob.getKey().toString(), blob.getValue().size(), reason));
            }
        } while (unlinked.size() == SWEEP_BATCH);
        phases.end("blobs");
        if (lastOrphanSweep.isBefore(now.minus(ORPHAN_SWEEP_EVERY))) {
            lastOrphanSweep = now;
            sweepOrphanFiles(now, cutoff).forEach(deleted::add);
            phases.end("orphan files");
        }
        return deleted;
    }

    /**
     * Deletes blob files older than the grace window that no record points at. Files are checked against the
     * records a thousand at a time; only the few without one are looked at again, under their digest's lock.
     */
    private List<CollectionReport.DeletedBlob> sweepOrphanFiles(Instant now, Instant cutoff) {
        List<CollectionReport.DeletedBlob> deleted = new ArrayList<>();
        List<dev.cairn.storage.StoredBlob> candidates = new ArrayList<>(SWEEP_BATCH);
        try {
            listing.forEachBlob(blob -> {
                if (!blob.writtenAt().isBefore(cutoff)) return;
                candidates.add(blob);
                if (candidates.size() == SWEEP_BATCH) deleteOrphans(candidates, now, deleted);
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        deleteOrphans(candidates, now, deleted);
        audit.drain(metadata);
        return deleted;
    }

    private void deleteOrphans(List<dev.cairn.storage.StoredBlob> candidates, Instant now, List<CollectionReport.DeletedBlob> deleted) {
        if (candidates.isEmpty()) return;
        java.util.Set<Digest> recorded = metadata.blobRecordsAmong(candidates.stream().map(dev.cairn.storage.StoredBlob::digest).toList());
        for (dev.cairn.storage.StoredBlob blob : candidates) {
            if (!recorded.contains(blob.digest()) && deleteOrphanFile(blob.digest(), () -> metadata.addAuditEvent(
                    new RetentionRecords.AuditEvent(0, now, "blob", Optional.empty(), blob.digest().toString(), List.of(), blob.size(), DeletionReason.ORPHAN.wireName())))) {
                deleted.add(new CollectionReport.DeletedBlob(blob.digest().toString(), blob.size(), DeletionReason.ORPHAN.wireName()));
            }
        }
        candidates.clear();
    }

    /** What a sweep would delete now (the first of it): blobs no repository links and no entry holds, past the grace window. */
    Tally<CollectionReport.DeletedBlob> sweepable(Instant now) {
        Tally<CollectionReport.DeletedBlob> blobsToGo = new Tally<>();
        for (Digest digest : metadata.unlinkedBlobs(now.minus(grace), Optional.empty(), Tally.LISTED)) {
            blobsToGo.add(new CollectionReport.DeletedBlob(digest.toString(), 0, DeletionReason.UNREFERENCED.wireName()));
        }
        return blobsToGo;
    }


    /**
     * Deletes blobs that no repository links and no manifest references, each for the reason its record keeps or the one given: their
     * records (with an audit event each, in the same transaction), then their files,
     * holding their digests' locks so no push can be publishing one meanwhile. Returns the size of each
     * blob deleted; a blob linked again in the meantime stays.
     */
    Map<Digest, RetentionRecords.DeletedBlobRecord> deleteUnlinkedBlobs(Map<Digest, DeletionReason> reasons) {
        return digestLocks.withLocks(reasons.keySet(), () -> {
            Map<Digest, RetentionRecords.DeletedBlobRecord> deleted = metadata.deleteBlobsIfUnlinked(reasons);
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
