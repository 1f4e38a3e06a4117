package dev.cairn.registry;

import dev.cairn.metadata.LastUse;
import dev.cairn.metadata.MetadataStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
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
     * Where nodes share the database, a use seen here reaches the database only at this node's next flush,
     * while another node's collector may decide meanwhile. A use of something the database last saw used
     * longer ago than this is therefore written at once (rarely: once per item per period), so no other
     * node's sweep can take it before its time. Empty for a single node, whose collector flushes first.
     */
    private final Optional<Duration> writeThroughWhenOlderThan;

    public LastUseRecorder(MetadataStore metadata, Clock clock, Duration interval) {
        this(metadata, clock, interval, Optional.empty());
    }

    public LastUseRecorder(MetadataStore metadata, Clock clock, Duration interval, Optional<Duration> writeThroughWhenOlderThan) {
        this.metadata = metadata;
        this.clock = clock;
        this.writeThroughWhenOlderThan = writeThroughWhenOlderThan;
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

    public void blobUsed(Digest digest) {
        pending.put(digest, clock.instant());
    }

    /**
     * A use of a blob the database last saw used at {@code recordedUse}: batched like any other, unless
     * nodes share the database and that record is old enough for another node's sweep to act on it.
     */
    public void blobUsed(Digest digest, Instant recordedUse) {
        Instant now = clock.instant();
        if (writeThroughWhenOlderThan.isPresent() && recordedUse.isBefore(now.minus(writeThroughWhenOlderThan.get()))) {
            metadata.recordLastUse(java.util.List.of(new LastUse.OfBlob(digest, now)));
            return;
        }
        pending.put(digest, now);
    }

    /** Writes everything recorded so far. */
    public void flush() {
        if (pending.isEmpty()) return;
        List<LastUse> batch = new ArrayList<>();
        for (Object key : List.copyOf(pending.keySet())) {
            Instant at = pending.remove(key);
            if (at == null) continue;
            batch.add(switch (key) {
                case ManifestKey m -> new LastUse.OfManifest(m.repository(), m.digest(), at);
                case Digest d -> new LastUse.OfBlob(d, at);
                default -> throw new IllegalStateException("unknown key " + key);
            });
        }
        try {
            metadata.recordLastUse(batch);
        } catch (RuntimeException e) {
            // Put the batch back (keeping the later time where a newer use arrived meanwhile) for the next flush.
            for (LastUse use : batch) {
                Object key = switch (use) {
                    case LastUse.OfManifest m -> new ManifestKey(m.repository(), m.digest());
                    case LastUse.OfBlob b -> b.digest();
                };
                pending.merge(key, use.at(), (a, b) -> a.isAfter(b) ? a : b);
            }
            throw e;
        }
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
