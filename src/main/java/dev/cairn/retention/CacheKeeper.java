package dev.cairn.retention;

import dev.cairn.values.DeletionReason;
import dev.cairn.values.Glob;
import dev.cairn.metadata.ClusterLocks;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.values.Digest;
import dev.cairn.registry.DigestLocks;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.registry.RegistryEvents;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;
import dev.cairn.storage.BlobStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Keeps the cache within its budget and rules, online: a background collector runs on an interval and
 * whenever pushes take stored bytes past the high watermark. Each run flushes last-use times, evicts
 * whole units (expired first, then least recently used), sweeps blobs nothing references any more and
 * that are older than the grace window, and writes every deletion to the audit log.
 */
public final class CacheKeeper implements RegistryEvents, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CacheKeeper.class);
    /** Runs woken by pushes are at least this far apart, so a stream of pushes cannot keep the collector spinning. */
    private static final Duration MIN_TRIGGERED_SPACING = Duration.ofSeconds(1);
    private static final Duration FIRST_BACKOFF = Duration.ofSeconds(5);
    /** How long an explicit collection (CLI, admin API, invalidation) waits for another node's collection to end. */
    private static final Duration EXPLICIT_LOCK_WAIT = Duration.ofSeconds(60);
    private static final Duration ADMISSION_LOCK_WAIT = Duration.ofSeconds(30);

    private final BlobSweeper sweeper;
    private final RetentionRecords records;
    private final ClusterLocks locks;
    private final LastUseRecorder lastUse;
    private final RetentionPolicy policy;
    private final AuditLog audit;
    private final CacheMetrics metrics;
    private final Clock clock;

    /** One collection or invalidation at a time. */
    private final ReentrantLock collecting = new ReentrantLock();
    private final ReentrantLock signal = new ReentrantLock();
    private final Condition wake = signal.newCondition();
    private final Condition finished = signal.newCondition();
    private boolean runRequested;
    /** Pushes waiting on the hard limit for a collection: then a run waits for another node's collection to end. */
    private final java.util.concurrent.atomic.AtomicInteger admissionsWaiting = new java.util.concurrent.atomic.AtomicInteger();
    private long completedRuns;
    private volatile boolean stopping;
    private final Thread collector;
    private final AtomicLong storedBytes = new AtomicLong();
    private final java.util.concurrent.atomic.AtomicReference<CollectorHealth> health =
            new java.util.concurrent.atomic.AtomicReference<>(new CollectorHealth(Optional.empty(), 0, Optional.empty(), Optional.empty()));
    /** Room held by admissions whose bytes are on their way in (hard limit only). */
    private final AtomicLong reserved = new AtomicLong();
    private long lastRunStarted = System.nanoTime() - MIN_TRIGGERED_SPACING.toNanos();
    /** When the last automatic or explicit run ended, failed or not: the backoff after failures counts from here. */
    private volatile long lastRunEnded = System.nanoTime();
    /**
     * Failed automatic runs in a row, which set the backoff; explicit ones (an operator retrying `cairn gc`)
     * do not lengthen it. Any success ends it.
     */
    private volatile long automaticFailures;

    public CacheKeeper(RetentionRecords records, ClusterLocks locks, DigestLocks digestLocks, BlobStore blobs, LastUseRecorder lastUse,
                       RetentionPolicy policy, AuditLog audit, CacheMetrics metrics, Clock clock) {
        this.sweeper = new BlobSweeper(blobs, records, digestLocks, lastUse, audit, metrics, policy.grace());
        this.records = records;
        this.locks = locks;
        this.lastUse = lastUse;
        this.policy = policy;
        this.audit = audit;
        this.metrics = metrics;
        this.clock = clock;
        this.storedBytes.set(records.storedBytes());
        this.collector = Thread.ofVirtual().name("cairn-collector").unstarted(this::collectPeriodically);
        metrics.gauges(storedBytes::get, policy::maxBytes);
        metrics.collectorFailing(() -> health.get().failingSince().isPresent());
    }

    /**
     * Starts the background collector. {@code orphansPossible}: the node's last run may have left blob files no
     * record points at (it did not stop cleanly), so a collection looks for them once they are past the grace
     * window; otherwise that walk (it reads every blob file: minutes for millions) comes every few hours.
     */
    public void start(boolean orphansPossible) {
        audit.drain(records); // events a crash left between a deletion and the file
        if (orphansPossible) sweeper.orphansPossibleSince(clock.instant());
        collector.start();
    }

    public RetentionPolicy policy() {
        return policy;
    }

    public long storedBytes() {
        return storedBytes.get();
    }

    // ---- registry events ----

    @Override
    public void bytesStored(long bytes) {
        if (storedBytes.addAndGet(bytes) > policy.highBytes()) requestRun();
    }

    @Override
    public void manifestDeleted(RepositoryName repository, Digest digest, long bytes) {
        storedBytes.addAndGet(-bytes);
        audit.drain(records); // the delete wrote its "manual" event in its own transaction
        metrics.evicted(DeletionReason.MANUAL.wireName(), 1, bytes);
    }

    /**
     * An entry a scheduled replication round brought in, in the audit log beside the deletions (reason
     * {@code replicated}), so the log says where everything the cache holds came from and where it went.
     */
    public void recordReplicated(RepositoryName repository, Digest digest, List<String> tags, long bytes) {
        records.addAuditEvent(new RetentionRecords.AuditEvent(0, clock.instant(), "manifest", Optional.of(repository.value()),
                digest.toString(), tags, bytes, "replicated"));
        audit.drain(records);
    }

    @Override
    public void entryDeleted(String kind, RepositoryName namespace, String key) {
        audit.drain(records); // as a manifest's: the delete wrote its "manual" event in its own transaction
    }

    /**
     * The hard limit: new bytes that would take the store past its budget wait for a collection; if that
     * cannot make room, they are refused. Without the hard limit the budget is restored after the fact.
     */
    @Override
    public Admission admit(long bytes) {
        if (!policy.hardLimit()) return Admission.NONE;
        Optional<Admission> room = reserve(bytes);
        if (room.isPresent()) return room.get();
        admissionsWaiting.incrementAndGet();
        try {
            awaitRun(Duration.ofSeconds(60));
        } finally {
            admissionsWaiting.decrementAndGet();
        }
        return reserve(bytes).orElseThrow(() -> new Refusal(Refusal.Reason.BUDGET_EXHAUSTED, "storing " + bytes
                + " more bytes would exceed the budget of " + policy.maxBytes() + " bytes (" + storedBytes.get() + " stored, "
                + reservedBytes() + " on their way in) and nothing more can be evicted"));
    }

    /**
     * Holds room for {@code bytes} when stored bytes, the room other admissions hold, and these fit the
     * budget. The room goes back when the admission closes, after its bytes were counted as stored (or
     * not, if they were abandoned or already there).
     */
    private Optional<Admission> reserve(long bytes) {
        synchronized (reserved) {
            if (storedBytes.get() + reserved.get() + bytes > policy.maxBytes()) return Optional.empty();
            reserved.addAndGet(bytes);
        }
        java.util.concurrent.atomic.AtomicBoolean open = new java.util.concurrent.atomic.AtomicBoolean(true);
        return Optional.of(() -> {
            if (open.compareAndSet(true, false)) reserved.addAndGet(-bytes);
        });
    }

    /**
     * Brings the running count to what the records say without losing what pushes add meanwhile: the count
     * is read before the records and moved by the difference, so a push counted in between stays counted
     * (at worst twice, until the next correction) and none is lost, which the hard limit relies on.
     * Returns the correction.
     */
    private long correctStoredBytes() {
        long estimate = storedBytes.get();
        long correction = records.storedBytes() - estimate;
        storedBytes.addAndGet(correction);
        return correction;
    }

    long reservedBytes() {
        return reserved.get();
    }

    // ---- the collector ----

    private void collectPeriodically() {
        while (!stopping) {
            signal.lock();
            try {
                if (!runRequested) wake.await(policy.gcInterval().toMillis(), TimeUnit.MILLISECONDS);
                runRequested = false;
            } catch (InterruptedException e) {
                return;
            } finally {
                signal.unlock();
            }
            if (stopping) return;
            try {
                long sinceLast = System.nanoTime() - lastRunStarted;
                if (sinceLast < MIN_TRIGGERED_SPACING.toNanos()) {
                    Thread.sleep(java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(MIN_TRIGGERED_SPACING.toNanos() - sinceLast));
                }
                awaitBackoff();
                lastRunStarted = System.nanoTime();
                // Periodic and push-triggered runs do not wait: if another node is collecting, this one need not.
                collect(false, admissionsWaiting.get() > 0 ? ADMISSION_LOCK_WAIT : Duration.ZERO);
            } catch (InterruptedException e) {
                return;
            } catch (Throwable e) {
                // Out of memory included: the run's heap is garbage once it unwinds, and the next run is tried.
                // Nothing but stopping ends this loop; collect() has already counted the failure.
                automaticFailures++;
                if (!(e instanceof CollectionFailure)) failed(e);
            } finally {
                lastRunEnded = System.nanoTime();
                signal.lock();
                try {
                    completedRuns++;
                    finished.signalAll();
                } finally {
                    signal.unlock();
                }
            }
        }
    }

    /**
     * How long automatic runs wait after {@code failures} failed ones in a row: 5 s, doubling per failure, at
     * most the collection interval. A run that failed for want of memory fails again at once, and every attempt
     * takes the heap from the requests being served; explicit collections (the API, the CLI) do not wait.
     */
    Duration backoff(long failures) {
        if (failures == 0) return Duration.ZERO;
        Duration doubled = FIRST_BACKOFF.multipliedBy(1L << Math.min(20, failures - 1));
        return doubled.compareTo(policy.gcInterval()) < 0 ? doubled : policy.gcInterval();
    }

    /**
     * Waits out the backoff after failed automatic runs, but no longer once a push is waiting for room under
     * the hard limit (it must see a run, failing or not, within its wait), or once a run has succeeded.
     */
    private void awaitBackoff() throws InterruptedException {
        long until = lastRunEnded + backoff(automaticFailures).toNanos();
        while (!stopping && automaticFailures > 0 && admissionsWaiting.get() == 0 && System.nanoTime() < until) {
            Thread.sleep(Math.min(250, Math.max(1, java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime()))));
        }
    }

    /** Asks the background collector to run as soon as it can. */
    public void requestRun() {
        signal.lock();
        try {
            runRequested = true;
            wake.signal();
        } finally {
            signal.unlock();
        }
    }

    /** Requests a run and waits until a run that started after the request has finished (or the time is up). */
    private void awaitRun(Duration limit) {
        signal.lock();
        try {
            long target = completedRuns + 2; // the run in progress may predate the request
            runRequested = true;
            wake.signal();
            long deadline = System.nanoTime() + limit.toNanos();
            while (completedRuns < target && !stopping) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return;
                finished.awaitNanos(left);
                if (completedRuns == target - 1) {
                    runRequested = true;
                    wake.signal();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            signal.unlock();
        }
    }

    /**
     * One collection now: evict what the rules and the budget say, then sweep. A dry run deletes nothing.
     * Where nodes share the stores, waits a while for another node's collection to end, then refuses.
     */
    public CollectionReport collect(boolean dryRun) {
        return collect(dryRun, EXPLICIT_LOCK_WAIT).orElseThrow(CacheKeeper::busy);
    }

    private static Refusal busy() {
        return new Refusal(Refusal.Reason.COLLECTION_BUSY, "another node sharing this cache's stores is collecting; retry when it is done");
    }

    /** A collection if this node may run one within {@code lockWait} (only one node at a time does); empty otherwise. */
    private Optional<CollectionReport> collect(boolean dryRun, Duration lockWait) {
        collecting.lock();
        try {
            if (dryRun) return Optional.of(collectHoldingLock(true));
            try {
                Optional<AutoCloseable> lease = locks.collectorLock(lockWait);
                if (lease.isEmpty()) {
                    correctStoredBytes(); // another node collects: take its result as it stands
                    return Optional.empty();
                }
                CollectionReport report;
                try (AutoCloseable held = lease.get()) {
                    report = collectHoldingLock(false);
                } catch (Exception e) {
                    if (!(e instanceof RuntimeException) && e.getSuppressed().length == 0) {
                        // the collection went through; only releasing the lock failed, which the session's end does
                        log.warn("releasing the collector lock failed (the database drops it with the session): {}", e.toString());
                        return Optional.empty();
                    }
                    throw e;
                }
                health.set(CollectorHealth.succeeded(clock.instant()));
                automaticFailures = 0;
                return Optional.of(report);
            } catch (Throwable e) {
                // Recorded here, under the collecting lock, so that a later run's outcome cannot be overwritten by it.
                lastRunEnded = System.nanoTime();
                failed(e);
                throw new CollectionFailure(e);
            }
        } finally {
            collecting.unlock();
        }
    }

    static String describe(Throwable e) {
        return e instanceof OutOfMemoryError
                ? "out of memory (" + e.getMessage() + "); give the node a larger heap, e.g. CAIRN_JAVA_OPTS='-Xmx512m'"
                : e.toString();
    }

    public CollectorHealth health() {
        return health.get();
    }

    private void failed(Throwable e) {
        try {
            CollectorHealth now = health.updateAndGet(h -> h.failed(clock.instant(), describe(e)));
            metrics.collectionFailed();
            // Loud on purpose: while collections fail, nothing keeps the cache within its budget.
            log.error("collection failed ({} in a row, failing since {}; the budget is not being kept): {}", now.failuresInARow(),
                    now.failingSince().orElseThrow(), describe(e), e instanceof OutOfMemoryError ? null : e);
        } catch (Throwable whileRecording) {
            // out of memory again, say: the collector must live on even when it cannot say why it failed
        }
    }

    private CollectionReport collectHoldingLock(boolean dryRun) {
        long started = System.nanoTime();
        PhaseTimes phases = new PhaseTimes();
        lastUse.flush(); // a manifest pulled just now must count as used
        Instant now = clock.instant();
        // What the records say corrects the running count: pushes on other nodes, or two of one manifest at
        // once on two nodes, make it drift; say by how much.
        long correction = correctStoredBytes();
        metrics.storedBytesCorrected(correction);
        long before = storedBytes.get();
        if (!dryRun) {
            sweeper.mark(now); // before planning, which counts the marked blobs nothing holds
            phases.end("marking");
        }
        EvictionPlanner planner;
        Tally<CollectionReport.DeletedBlob> sweptBehind = new Tally<>();
        // What the evictions free is swept behind them while they go on (a dry run deletes nothing).
        try (BlobSweeper.SweepBehind behind = dryRun ? null : sweeper.sweepBehind(now)) {
            planner = new EvictionPlanner(records, policy, dryRun ? new DryRunEvictions(records) : deletions(true, Optional.ofNullable(behind)), now);
            planner.expire();
            planner.evictToCaps();
            phases.end("expiry");
            // After a real expiry its records are gone from the count, and the blobs they freed are still stored and
            // counted as unheld below: read the count again, rather than subtract those blobs twice. A dry run deleted
            // nothing, so what it would have freed comes off what it started from. (Blobs the sweep behind took are
            // gone from both.)
            long stored = dryRun ? before - planner.freedBytes() : planner.freedBytes() > 0 ? records.storedBytes() : before;
            if (stored > policy.highBytes()) {
                // Plan against what live entries hold: blobs already unheld (waiting out the grace window) go with the
                // sweep, and evicting more entries would not bring them back sooner.
                planner.evictToBudget(dryRun ? stored - records.unheldBlobBytes() : records.heldBytes());
            }
            if (behind != null) sweptBehind = behind.finish();
        }
        if (!dryRun) audit.drain(records); // once for all batches: each drain fsyncs the file and the database
        phases.end(sweptBehind.count() > 0 ? "budget (with " + sweptBehind.count() + " blobs swept behind)" : "budget");
        Tally<CollectionReport.DeletedBlob> swept = dryRun ? sweeper.sweepable(now) : sweeper.sweep(now, phases, sweptBehind);
        if (!dryRun) correctStoredBytes();
        long after = dryRun ? before : storedBytes.get();
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        if (!dryRun) {
            metrics.gcRun(took);
            if (planner.evicted().count() > 0 || swept.count() > 0) {
                log.info("collection: evicted {} entr(ies), deleted {} blob(s); stored {} -> {} bytes (budget {}) in {} ms ({})",
                        planner.evicted().count(), swept.count(), before, after, policy.maxBytes(), took.toMillis(), phases);
            }
        }
        return new CollectionReport(dryRun, planner.evicted(), swept, before, after, took.toMillis());
    }

    /**
     * Evictions for real: each batch deleted in one transaction, only if still as read (see RetentionRecords.evict);
     * an entry used or re-tagged since stays. Uses since the batch was read are flushed first, so they count.
     */
    private EvictionPlanner.Evictions deletions(boolean guardUse, Optional<BlobSweeper.SweepBehind> sweepBehind) {
        return (batch, bytesToFree) -> {
            if (guardUse) lastUse.flush();
            List<RetentionRecords.Deletion> deletions = batch.stream().map(p -> p.entry().deletion(p.reason(), guardUse)).toList();
            // An invalidation (no use guard) is meant to take the entries from everyone at once, builds in flight included.
            List<RetentionRecords.Evicted> results = records.evict(deletions, guardUse ? lastUse.protection() : ReadProtection.NONE,
                    clock.instant(), bytesToFree);
            for (int i = 0; i < results.size(); i++) {
                RetentionRecords.Evicted result = results.get(i);
                if (!result.records().isEmpty()) metrics.evicted(batch.get(i).reason().wireName(), result.records().size(), result.ownBytes());
            }
            sweepBehind.ifPresent(sweep -> sweep.freed(results.stream().flatMap(r -> r.freedBlobs().stream()).toList()));
            return results;
        };
    }

    /** Deletes the entries an invalidation matches at once; their blobs follow through the sweep. */
    public CollectionReport invalidate(Glob repositories, Optional<Glob> tags, Optional<Duration> olderThan, boolean dryRun) {
        collecting.lock();
        long started = System.nanoTime();
        Optional<AutoCloseable> lease;
        try {
            lease = dryRun ? Optional.of(() -> { }) : locks.collectorLock(EXPLICIT_LOCK_WAIT);
        } catch (RuntimeException | Error e) {
            collecting.unlock();
            throw e;
        }
        if (lease.isEmpty()) {
            collecting.unlock();
            throw busy();
        }
        try (AutoCloseable held = lease.get()) {
            Instant now = clock.instant();
            long before = records.storedBytes();
            EvictionPlanner planner = new EvictionPlanner(records, policy, dryRun ? new DryRunEvictions(records) : deletions(false, Optional.empty()), now);
            planner.invalidate(repositories, tags, olderThan);
            if (!dryRun) {
                audit.drain(records);
                if (tags.isEmpty()) {
                    // What a collection retired earlier goes too: nobody is to build on an invalidated entry.
                    // (Retired manifests have no tags left, so an invalidation by tag cannot match them.)
                    int retired = records.deleteRetiredManifests(name -> repositories.matches(name), olderThan.map(now::minus));
                    if (retired > 0) log.info("invalidation: deleted {} retired manifest(s) at once", retired);
                }
                correctStoredBytes();
            }
            long after = dryRun ? before : storedBytes.get();
            return new CollectionReport(dryRun, planner.evicted(), new Tally<>(), before, after,
                    Duration.ofNanos(System.nanoTime() - started).toMillis());
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("releasing the collector lock failed", e);
        } finally {
            collecting.unlock();
        }
    }

    @Override
    public void close() {
        stopping = true;
        collector.interrupt();
        if (collector.getState() == Thread.State.NEW) return; // a start that failed before the collector's
        try {
            // Bounded: a shutdown must end even if a call of the collector's ignores the interrupt. What it was doing
            // then fails as the stores close under it; each batch is a transaction, and a blob whose record went but
            // whose file stayed is found by the next collection's walk of the store.
            if (!collector.join(Duration.ofSeconds(30))) {
                log.warn("the collector did not stop within 30 s of being asked; closing the stores under it (at {})",
                        java.util.Arrays.stream(collector.getStackTrace()).limit(3).map(StackTraceElement::toString).toList());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
