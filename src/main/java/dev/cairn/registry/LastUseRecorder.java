package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.metadata.LastUse;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.metadata.ReadProtection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Collects last-use times of manifests and blobs in memory and writes them in one batch per interval,
 * so that a pull, the hot path, costs no database write. At most one interval of uses is lost on a crash.
 */
public final class LastUseRecorder implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LastUseRecorder.class);

    private record ManifestKey(RepositoryName repository, Digest digest) {
    }

    private record EntryKey(String kind, RepositoryName namespace, String key) {
    }

    private final MetadataStore metadata;
    private final Clock clock;
    private final Map<Object, Instant> pending = new ConcurrentHashMap<>();
    private final Thread flusher;
    private final CountDownLatch stopping = new CountDownLatch(1);

    /**
     * When a use is batched and when it is written at once. A sweep deletes a link only when its blob was
     * last used longer than the grace window ago, as the database says, and an eviction keeps (retires)
     * what a read may still be within its grace window of; both rely on the records lagging a read by no
     * more than {@link ReadProtection#batchedLag()}. A use whose record is older than that is written at
     * once, with a check that the thing read is still there; a batched one reaches the database within the
     * lag (this node's collector flushes first; another node's relies on the flush interval being shorter).
     */
    private final ReadProtection protection;

    public LastUseRecorder(MetadataStore metadata, Clock clock, Duration interval, ReadProtection protection) {
        this.metadata = metadata;
        this.clock = clock;
        this.protection = protection;
        // Stopped by a latch, not an interrupt: an interrupt would abort a flush half-way through its write.
        this.flusher = Thread.ofVirtual().name("cairn-last-use").start(() -> {
            try {
                while (!stopping.await(interval.toMillis(), TimeUnit.MILLISECONDS)) {
                    flushQuietly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    public ReadProtection protection() {
        return protection;
    }

    /**
     * A read of a manifest that the database last saw used at {@code recordedUse} (retired until
     * {@code retiredUntil}, if an eviction retired it), taken after the caller read it. False when the
     * manifest is gone by now (an eviction took it after the read): the caller must answer as if it had
     * never found it. A retired manifest's read is always written at once, since it extends its stay.
     */
    public boolean manifestUsed(RepositoryName repository, Digest digest, Instant recordedUse, Optional<Instant> retiredUntil) {
        Instant now = clock.instant();
        if (retiredUntil.isPresent() || protection.mustConfirm(recordedUse, now)) {
            return metadata.confirmManifestUse(repository, digest, now, now.plus(protection.grace()));
        }
        pending.put(new ManifestKey(repository, digest), now);
        return true;
    }

    /**
     * A use of a blob linked in {@code repository} that the database last saw used at {@code recordedUse},
     * taken after the caller read that record. False when the link is gone by now (a sweep took it after
     * the read): the caller must then answer as if it had never found the blob.
     */
    public boolean blobUsed(RepositoryName repository, Digest digest, Instant recordedUse) {
        Instant now = clock.instant();
        if (protection.mustConfirm(recordedUse, now)) {
            return metadata.confirmBlobUse(repository, digest, now);
        }
        pending.put(digest, now);
        return true;
    }

    /**
     * A read of a keyed entry (a build tool's cache hit), batched: it only orders the entry in the LRU. The
     * reader has its content open already, so an eviction that does not see this use takes nothing it reads.
     */
    public void entryUsed(String kind, RepositoryName namespace, String key) {
        pending.put(new EntryKey(kind, namespace, key), clock.instant());
    }

    /**
     * Writes everything recorded so far. A use stays in the pending map until its write has committed, so a
     * flush that runs meanwhile (the collector's, while the periodic one waits for the database) writes it
     * again rather than missing it.
     */
    public void flush() {
        if (pending.isEmpty()) return;
        Map<Object, Instant> batch = Map.copyOf(pending);
        List<LastUse> uses = new ArrayList<>(batch.size());
        batch.forEach((key, at) -> uses.add(switch (key) {
            case ManifestKey m -> new LastUse.OfManifest(m.repository(), m.digest(), at);
            case Digest d -> new LastUse.OfBlob(d, at);
            case EntryKey e -> new LastUse.OfEntry(e.kind(), e.namespace(), e.key(), at);
            default -> throw new IllegalStateException("unknown key " + key);
        }));
        metadata.recordLastUse(uses);
        // Only what was written leaves: a newer use of the same key, recorded meanwhile, stays for the next flush.
        batch.forEach(pending::remove);
    }

    private void flushQuietly() {
        try {
            flush();
        } catch (RuntimeException e) {
            log.warn("could not record last-use times; will retry: {}", e.getMessage());
        }
    }

    @Override
    public void close() {
        stopping.countDown();
        try {
            flusher.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        flushQuietly();
    }
}
