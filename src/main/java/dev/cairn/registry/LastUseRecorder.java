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
    private volatile boolean closed;

    public LastUseRecorder(MetadataStore metadata, Clock clock, Duration interval) {
        this.metadata = metadata;
        this.clock = clock;
        this.flusher = Thread.ofVirtual().name("cairn-last-use").start(() -> {
            while (!closed) {
                try {
                    Thread.sleep(interval);
                } catch (InterruptedException e) {
                    break;
                }
                flushQuietly();
            }
        });
    }

    public void manifestUsed(RepositoryName repository, Digest digest) {
        pending.put(new ManifestKey(repository, digest), clock.instant());
    }

    public void blobUsed(Digest digest) {
        pending.put(digest, clock.instant());
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
        metadata.recordLastUse(batch);
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
        closed = true;
        flusher.interrupt();
        try {
            flusher.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        flushQuietly();
    }
}
