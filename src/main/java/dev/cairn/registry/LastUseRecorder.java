package dev.cairn.registry;

import dev.cairn.metadata.LastUse;
import dev.cairn.metadata.MetadataStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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

    private final MetadataStore metadata;
    private final Clock clock;
    private final Map<Object, Instant> pending = new ConcurrentHashMap<>();
    private final Thread flusher;
    private final CountDownLatch stopping = new CountDownLatch(1);

    /**
     * A sweep deletes a link only when its blob was last used longer than the grace window ago, as the
     * database says. A use of a blob whose record is older than this (half the window) is therefore written
     * at once, with a check that the link is still there, rather than batched: a use that is batched
     * instead has at least this long to reach the database before any sweep could act on its record
     * (this node's collector flushes first; another node's waits for this node's next flush).
     */
    private final Duration confirmWhenOlderThan;

    public LastUseRecorder(MetadataStore metadata, Clock clock, Duration interval, Duration confirmWhenOlderThan) {
        this.metadata = metadata;
        this.clock = clock;
        this.confirmWhenOlderThan = confirmWhenOlderThan;
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

    public void manifestUsed(RepositoryName repository, Digest digest) {
        pending.put(new ManifestKey(repository, digest), clock.instant());
    }

    /**
     * A use of a blob linked in {@code repository} that the database last saw used at {@code recordedUse},
     * taken after the caller read that record. False when the link is gone by now (a sweep took it after
     * the read): the caller must then answer as if it had never found the blob.
     */
    public boolean blobUsed(RepositoryName repository, Digest digest, Instant recordedUse) {
        Instant now = clock.instant();
        if (recordedUse.isBefore(now.minus(confirmWhenOlderThan))) {
            return metadata.confirmBlobUse(repository, digest, now);
        }
        pending.put(digest, now);
        return true;
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
