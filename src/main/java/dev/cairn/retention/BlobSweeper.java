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
import java.util.Optional;
import java.util.List;
import java.util.Map;

/**
 * The collection's sweep, after its evictions: retired manifests whose stay ended, then the blobs marked for
 * it that nothing needs any more (with the links no manifest references), and now and then files no record
 * points at. Blob deletions go records first, then files, each under its digest's lock (the same locks a push
 * holds while it publishes and links), so no push can find a file present just before the collector deletes it.
 *
 * <p>It looks only at marked blobs (see {@link RetentionRecords#sweepCandidates}), so its work follows what
 * changed: evictions and deletions mark what they may have freed; {@link #mark} marks the uploads no manifest
 * came for, from the links made since it last looked, and a slice of every link and blob besides, round and
 * round, so that nothing a mark was missed for stays for good.
 */
final class BlobSweeper {
    private static final int SWEEP_BATCH = 1000;
    /** Retired manifests deleted per transaction. */
    private static final int RETIRED_BATCH = 250;
    /** Links read per page when marking those made since the last look. */
    private static final int MARK_PAGE = 1000;
    /** Links, and blobs, looked at on each collection besides what changed. */
    static final int SCRUB_SLICE = 10_000;
    private static final Duration ORPHAN_SWEEP_EVERY = Duration.ofHours(6);
    /** When the last walk over every blob file started (epoch milliseconds), in the shared settings. */
    static final String ORPHANS_LOOKED_AT = "sweep.orphans-looked-at";
    /** When a node that did not stop cleanly wants the next walk, once what its crash left is past the grace window. */
    static final String ORPHANS_WANTED_AT = "sweep.orphans-wanted-at";

    private final BlobStore blobs;
    private final BlobListing listing;
    private final RetentionRecords metadata;
    private final DigestLocks digestLocks;
    private final LastUseRecorder lastUse;
    private final AuditLog audit;
    private final CacheMetrics metrics;
    private final Duration grace;
    private final int slice;

    BlobSweeper(BlobStore blobs, RetentionRecords metadata, DigestLocks digestLocks, LastUseRecorder lastUse, AuditLog audit,
                CacheMetrics metrics, Duration grace) {
        this(blobs, metadata, digestLocks, lastUse, audit, metrics, grace, SCRUB_SLICE);
    }

    /** With {@code slice} links and blobs looked at per collection besides what changed. */
    BlobSweeper(BlobStore blobs, RetentionRecords metadata, DigestLocks digestLocks, LastUseRecorder lastUse, AuditLog audit,
                CacheMetrics metrics, Duration grace, int slice) {
        this.slice = slice;
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
     * Marks what may be unheld that nothing marked yet: blobs of links made since the last look that no manifest
     * references (abandoned pushes, and pushes in flight, which the sweep waits out), and of the next slice of
     * links and of blobs. Before planning, which counts marked blobs nothing holds.
     */
    void mark(Instant now) {
        metadata.markNewLinks(MARK_PAGE);
        metadata.markNextSlice(now.minus(grace), slice);
    }

    /**
     * Deletes what nothing needs any more and the grace window no longer protects: retired manifests whose stay
     * ended, then marked blobs nothing links (after their links no manifest references went), then (every few
     * hours) files no record points at. Blob deletion takes the digest's lock, so a concurrent push of the same
     * blob either comes first (and the blob stays) or after (and uploads it again).
     */
    Tally<CollectionReport.DeletedBlob> sweep(Instant now, PhaseTimes phases, Tally<CollectionReport.DeletedBlob> deleted) {
        Instant cutoff = now.minus(grace);
        lastUse.flush(); // a HEAD that let a client skip an upload must protect that blob's link
        while (metadata.deleteRetiredManifests(now, RETIRED_BATCH) > 0) {
            // evicted manifests whose readers' grace windows have passed, indexes before their children;
            // their blobs, marked, follow below
        }
        phases.end("retired manifests");
        Optional<Digest> after = Optional.empty();
        List<Digest> marked;
        do {
            marked = metadata.sweepCandidates(after, SWEEP_BATCH);
            if (marked.isEmpty()) break;
            after = Optional.of(marked.getLast());
            sweepBatch(marked, cutoff, deleted, true);
        } while (marked.size() == SWEEP_BATCH);
        phases.end("blobs");
        if (orphanWalkDue(now)) {
            sweepOrphanFiles(now, cutoff).forEach(deleted::add);
            metadata.putSetting(ORPHANS_LOOKED_AT, Long.toString(now.toEpochMilli()));
            phases.end("orphan files");
        }
        return deleted;
    }

    /**
     * Whether files no record points at are to be looked for now: every few hours, counted across restarts and
     * nodes, and once what a node that did not stop cleanly left is past the grace window. A store that never had
     * a walk counts from now: it was made by this version, or walked by an earlier one at its start.
     */
    private boolean orphanWalkDue(Instant now) {
        Optional<Instant> last = timeSetting(ORPHANS_LOOKED_AT);
        Optional<Instant> wanted = timeSetting(ORPHANS_WANTED_AT);
        if (wanted.isPresent() && (last.isEmpty() || wanted.get().isAfter(last.get())) && !now.isBefore(wanted.get())) return true;
        if (last.isEmpty()) {
            metadata.putSetting(ORPHANS_LOOKED_AT, Long.toString(now.toEpochMilli()));
            return false;
        }
        // A last walk "after now" is a clock that went back (or ran ahead on the node that walked): walk, and count from now.
        return last.get().isAfter(now) || !now.isBefore(last.get().plus(ORPHAN_SWEEP_EVERY));
    }

    /** A time kept in the settings; none when absent or not a time (the schedule then starts over, rather than fail every collection). */
    private Optional<Instant> timeSetting(String name) {
        try {
            return metadata.setting(name).map(v -> Instant.ofEpochMilli(Long.parseLong(v)));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * A node that did not stop cleanly may have left files no record points at (published, not yet linked): asks
     * for a walk once they are past the grace window, whichever node collects then.
     */
    void orphansPossibleSince(Instant start) {
        metadata.putSetting(ORPHANS_WANTED_AT, Long.toString(start.plus(grace).toEpochMilli()));
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

    /** What a sweep would delete now (the first of it): marked blobs nothing references or holds, past the grace window. */
    Tally<CollectionReport.DeletedBlob> sweepable(Instant now) {
        Tally<CollectionReport.DeletedBlob> blobsToGo = new Tally<>();
        for (RetentionRecords.SweepableBlob blob : metadata.sweepable(now.minus(grace), Tally.LISTED)) {
            blobsToGo.add(new CollectionReport.DeletedBlob(blob.digest().toString(), blob.size(), blob.reason().wireName()));
        }
        return blobsToGo;
    }

    /** Sweeps one batch of marked blobs, then copies its audit events to the log, and counts what went. */
    private void sweepBatch(List<Digest> marked, Instant cutoff, Tally<CollectionReport.DeletedBlob> deleted, boolean drain) {
        Map<Digest, RetentionRecords.DeletedBlobRecord> freed = sweepMarked(marked, cutoff);
        // per batch, so that the log follows a long sweep (and tells how far a crash let it go); not behind the evictions,
        // which write events meanwhile: one copy when they are done costs one fsync and one hold of the audit lock, not one a batch
        if (drain) audit.drain(metadata);
        for (Map.Entry<Digest, RetentionRecords.DeletedBlobRecord> blob : freed.entrySet()) {
            String reason = blob.getValue().reason().wireName();
            metrics.evicted(reason, 0, blob.getValue().size());
            deleted.add(new CollectionReport.DeletedBlob(blob.getKey().toString(), blob.getValue().size(), reason));
        }
    }

    /**
     * The part of the store's blobs that evictions free before the sweep behind them makes a pass over the marks. A
     * pass goes in digest order, so the records it deletes share pages when they are dense enough: with one blob in
     * eight to go, a page of the blob table holds about five of them, where a sweep of each eviction batch's few
     * thousand blobs (random digests) changes a page of every table per blob. That was most of what a collection over
     * millions of blobs wrote.
     */
    static final int PASS_EVERY_PART = 8;

    /**
     * Starts sweeping, on a thread of its own, the blobs that the collection's evictions free, while it goes on
     * evicting (see {@link SweepBehind}).
     */
    SweepBehind sweepBehind(Instant now) {
        return new SweepBehind(now.minus(grace));
    }

    /**
     * The sweep of what the evictions of a collection free, while the collection goes on evicting: the store shrinks
     * while the evictions go on (at millions of blobs they take minutes), not only after the last, and the blobs'
     * unlinks, which mostly wait on the disk, overlap the evictions' database work. Once the evictions have freed an
     * eighth of the store's blobs since its last pass (see {@link #PASS_EVERY_PART}), it sweeps every marked blob in
     * digest order, as the final sweep does (the same locks, the same checks in the deleting statements); a blob it may
     * not take yet (a link younger than the grace window) keeps its mark for the final sweep. The evictions never wait
     * for it: what they freed waits in the database (its marks). The audit events it writes are copied to the log by
     * the collection once the evictions are done (see {@link #sweepBatch}).
     */
    final class SweepBehind implements AutoCloseable {
        private final Instant cutoff;
        private final Tally<CollectionReport.DeletedBlob> deleted = new Tally<>();
        private final Thread worker;
        /** Guards {@link #freedSinceLastPass} and {@link #done}; signalled when either changes. */
        private final Object state = new Object();
        private long freedSinceLastPass;
        private boolean done;
        private volatile Throwable failure;

        private SweepBehind(Instant cutoff) {
            this.cutoff = cutoff;
            // A platform thread: the sweep blocks in the database's native code and in unlinks, which would pin a
            // virtual thread's carrier.
            this.worker = Thread.ofPlatform().daemon().name("cairn-sweep-behind").start(this::run);
        }

        /** Tells the sweep that an eviction batch freed (and marked) {@code digests}. Never waits. */
        void freed(List<String> digests) {
            if (digests.isEmpty()) return;
            synchronized (state) {
                freedSinceLastPass += digests.size();
                state.notifyAll();
            }
        }

        private void run() {
            try {
                synchronized (state) {
                    while (!done && freedSinceLastPass == 0) state.wait();
                    if (done) return; // nothing freed (most collections): no count
                }
                // Counted here, not on the evictions' thread, and only once something was freed: on a large store it reads
                // every blob record.
                long passAfter = Math.max(SWEEP_BATCH, metadata.blobCount() / PASS_EVERY_PART);
                while (true) {
                    synchronized (state) {
                        while (!done && freedSinceLastPass < passAfter) state.wait();
                        if (done) return;
                        freedSinceLastPass = 0;
                    }
                    pass();
                }
            } catch (InterruptedException e) {
                // stopping: what is left keeps its marks for the final sweep or the next collection
            } catch (Throwable e) {
                failure = e;
            }
        }

        /** Every marked blob once, in digest order, until the evictions are done. */
        private void pass() {
            lastUse.flush(); // as the final sweep: a HEAD that let a client skip an upload protects its link
            Optional<Digest> after = Optional.empty();
            List<Digest> marked;
            do {
                synchronized (state) {
                    if (done) return; // the final sweep goes over every mark anyway
                }
                marked = metadata.sweepCandidates(after, SWEEP_BATCH);
                if (marked.isEmpty()) return;
                after = Optional.of(marked.getLast());
                sweepBatch(marked, cutoff, deleted, false);
            } while (marked.size() == SWEEP_BATCH);
        }

        /**
         * Waits for the sweep to finish the batch it is on and returns what it deleted; throws what made it stop, if
         * something did (the collection then fails, as it would had its own sweep failed).
         */
        Tally<CollectionReport.DeletedBlob> finish() {
            close();
            if (failure instanceof RuntimeException e) throw e;
            if (failure instanceof Error e) throw e;
            if (failure != null) throw new IllegalStateException("the sweep behind the evictions failed", failure);
            return deleted;
        }

        @Override
        public void close() {
            synchronized (state) {
                done = true;
                state.notifyAll();
            }
            boolean interrupted = false;
            while (true) {
                try {
                    worker.join(); // it holds digest locks until its batch is done: wait for it whatever happens
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /**
     * Sweeps marked blobs (see {@link RetentionRecords#sweepBlobs}): their records, with an audit event each in
     * the same transaction, then their files, holding their digests' locks so no push can be publishing one
     * meanwhile. Returns the size and reason of each blob deleted; a blob linked again in the meantime stays.
     */
    Map<Digest, RetentionRecords.DeletedBlobRecord> sweepMarked(List<Digest> digests, Instant cutoff) {
        return digestLocks.withLocks(digests, () -> {
            Map<Digest, RetentionRecords.DeletedBlobRecord> deleted;
            try {
                deleted = metadata.sweepBlobs(digests, cutoff);
            } catch (dev.cairn.metadata.SweptInPartException e) {
                // records of part of the batch went before the rest failed: their files go too, or they would wait for the orphan walk
                io(() -> blobs.deleteAll(List.copyOf(e.swept().keySet())));
                throw e;
            }
            io(() -> blobs.deleteAll(List.copyOf(deleted.keySet())));
            return deleted;
        });
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
