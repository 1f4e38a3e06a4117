package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.LastUse;
import dev.cairn.metadata.MetadataException;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.NewManifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LastUseRecorderTest {
    @Test
    void aFailedFlushKeepsTheBatchForTheNextOne(@TempDir Path dir) {
        try (JdbcMetadataStore real = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            RepositoryName repo = RepositoryName.of("use/app");
            Digest digest = Digest.sha256("{}".getBytes());
            Instant pushedAt = Instant.parse("2026-01-01T00:00:00Z");
            assertThat(real.putManifest(new NewManifest(repo, digest, MediaTypes.OCI_INDEX,
                    "{\"schemaVersion\":2,\"manifests\":[]}".getBytes(), Optional.empty(), Optional.empty(), Set.of(), pushedAt),
                    Optional.empty())).isEmpty();

            // the real store, except that its first last-use write fails (the database was busy, say)
            AtomicInteger writes = new AtomicInteger();
            MetadataStore flaky = (MetadataStore) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[]{MetadataStore.class},
                    (proxy, method, args) -> {
                        if (method.getName().equals("recordLastUse") && writes.getAndIncrement() == 0) {
                            throw new MetadataException("database is locked", null);
                        }
                        try {
                            return method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            Instant usedAt = Instant.parse("2026-06-01T00:00:00Z");
            try (LastUseRecorder recorder = new LastUseRecorder(flaky, Clock.fixed(usedAt, java.time.ZoneOffset.UTC), Duration.ofHours(1), new ReadProtection(Duration.ofHours(1), Duration.ofMinutes(30)))) {
                assertThat(recorder.manifestUsed(repo, digest, usedAt, Optional.empty())).isTrue();
                assertThatThrownBy(recorder::flush).isInstanceOf(MetadataException.class);
                assertThat(real.manifestLastUse(repo, digest)).hasValue(pushedAt);
                recorder.flush();
                assertThat(real.manifestLastUse(repo, digest)).hasValue(usedAt);
            }
            assertThat(writes.get()).isEqualTo(2);
        }
    }

    @Test
    void timesNeverMoveBackwards(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            RepositoryName repo = RepositoryName.of("use/back");
            Digest digest = Digest.sha256("[]".getBytes());
            Instant pushedAt = Instant.parse("2026-03-01T00:00:00Z");
            store.putManifest(new NewManifest(repo, digest, MediaTypes.OCI_INDEX, "{\"schemaVersion\":2,\"manifests\":[]}".getBytes(),
                    Optional.empty(), Optional.empty(), Set.of(), pushedAt), Optional.empty());
            Collection<LastUse> older = java.util.List.of(new LastUse.OfManifest(repo, digest, pushedAt.minusSeconds(60)));
            store.recordLastUse(older);
            assertThat(store.manifestLastUse(repo, digest)).hasValue(pushedAt);
        }
    }

    @Test
    void aManifestReadOfAnOldRecordIsWrittenAtOnceAndAnswersFalseWhenTheManifestWentMeanwhile(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            RepositoryName repo = RepositoryName.of("use/read");
            byte[] content = "{\"schemaVersion\":2,\"manifests\":[]}".getBytes();
            Digest digest = Digest.sha256(content);
            Instant pushedAt = Instant.parse("2026-03-01T00:00:00Z");
            store.putManifest(new NewManifest(repo, digest, MediaTypes.OCI_INDEX, content, Optional.empty(), Optional.empty(), Set.of(),
                    pushedAt), Optional.of(new dev.cairn.values.Tag("main")));
            ReadProtection protection = new ReadProtection(GRACE, GRACE.dividedBy(2));
            Instant now = pushedAt.plus(GRACE).plusSeconds(60);
            try (LastUseRecorder recorder = new LastUseRecorder(store, Clock.fixed(now, java.time.ZoneOffset.UTC), Duration.ofHours(1), protection)) {
                // the record is older than the lag: the read is in the database before it is answered
                assertThat(recorder.manifestUsed(repo, digest, pushedAt, Optional.empty())).isTrue();
                assertThat(store.manifestLastUse(repo, digest)).hasValue(now);

                // an eviction now retires it (it was just read); a read of the retired manifest extends its stay
                var unit = new dev.cairn.metadata.RetentionRecords.UnitDeletion(repo, java.util.List.of(digest.toString()), pushedAt,
                        Optional.of(now), false, dev.cairn.values.DeletionReason.BUDGET);
                assertThat(store.deleteUnits(java.util.List.of(unit), protection, now).getFirst()).containsExactly(digest.toString());
                Instant retiredUntil = store.manifest(repo, digest).orElseThrow().retiredUntil().orElseThrow();
                assertThat(retiredUntil).isEqualTo(now.plus(protection.batchedLag()).plus(GRACE));
                try (LastUseRecorder later = new LastUseRecorder(store, Clock.fixed(retiredUntil.minusSeconds(1), java.time.ZoneOffset.UTC),
                        Duration.ofHours(1), protection)) {
                    assertThat(later.manifestUsed(repo, digest, now, Optional.of(retiredUntil))).isTrue();
                }
                assertThat(store.manifest(repo, digest).orElseThrow().retiredUntil()).hasValue(retiredUntil.minusSeconds(1).plus(GRACE));

                // gone between the read and the record of its use: the read must answer as if it found nothing
                assertThat(store.deleteManifest(repo, digest)).isTrue();
                assertThat(recorder.manifestUsed(repo, digest, pushedAt, Optional.empty())).isFalse();
            }
        }
    }

    private static final Duration GRACE = Duration.ofHours(1);
    private static final RepositoryName LINKED = RepositoryName.of("use/layers");

    /** The real store, except that its first last-use write waits for {@code release} before it starts. */
    private static MetadataStore firstWriteHeld(JdbcMetadataStore real, CountDownLatch entered, CountDownLatch release) {
        AtomicInteger writes = new AtomicInteger();
        return (MetadataStore) Proxy.newProxyInstance(LastUseRecorderTest.class.getClassLoader(), new Class<?>[]{MetadataStore.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("recordLastUse") && writes.getAndIncrement() == 0) {
                        entered.countDown();
                        assertThat(release.await(10, TimeUnit.SECONDS)).as("released").isTrue();
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /** Links the blob into {@link #LINKED}; returns the last use the database records for it. */
    private static Instant linkedAndLastUsed(JdbcMetadataStore store, Digest blob) {
        store.linkBlob(LINKED, blob, 11);
        return store.linkedBlob(LINKED, blob).orElseThrow().lastUsedAt();
    }

    @Test
    void aFlushWhileAnotherIsWaitingForTheDatabaseStillWritesEveryUse(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore real = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Digest blob = Digest.sha256("base layer".getBytes());
            Instant linkedUse = linkedAndLastUsed(real, blob);
            Instant usedAt = linkedUse.plusSeconds(60);
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            try (LastUseRecorder recorder = new LastUseRecorder(firstWriteHeld(real, entered, release),
                    Clock.fixed(usedAt, java.time.ZoneOffset.UTC), Duration.ofHours(1), new ReadProtection(GRACE, GRACE.dividedBy(2)))) {
                assertThat(recorder.blobUsed(LINKED, blob, linkedUse)).isTrue();
                // the periodic flush has taken the batch and waits for the database ...
                Thread periodic = Thread.ofVirtual().start(recorder::flush);
                assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
                // ... when the collector flushes before its sweep: the use must be in the database after it
                recorder.flush();
                assertThat(real.linkedBlob(LINKED, blob).orElseThrow().lastUsedAt()).isEqualTo(usedAt);
                release.countDown();
                periodic.join(Duration.ofSeconds(10));
                assertThat(periodic.isAlive()).isFalse();
            }
        }
    }

    @Test
    void aUseOfAnOldRecordIsWrittenAtOnceUnlessASweepTookTheLinkAfterItWasRead(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Digest blob = Digest.sha256("shared base".getBytes());
            Instant recorded = linkedAndLastUsed(store, blob);
            Instant now = recorded.plus(GRACE).plusSeconds(60); // the record is older than the whole grace window
            try (LastUseRecorder recorder = new LastUseRecorder(store, Clock.fixed(now, java.time.ZoneOffset.UTC),
                    Duration.ofHours(1), new ReadProtection(GRACE, GRACE.dividedBy(2)))) {
                // a HEAD read the link; a sweep deleted it before the HEAD recorded its use: the HEAD must answer 404
                store.markNewLinks(100);
                store.sweepBlobs(java.util.List.of(blob), now.minus(GRACE));
                assertThat(store.isBlobLinked(LINKED, blob)).isFalse();
                assertThat(recorder.blobUsed(LINKED, blob, recorded)).isFalse();

                // the other order: the use is in the database before the recorder returns, so the sweep keeps the link
                store.linkBlob(LINKED, blob, 11);
                assertThat(recorder.blobUsed(LINKED, blob, recorded)).isTrue();
                assertThat(store.linkedBlob(LINKED, blob).orElseThrow().lastUsedAt()).isEqualTo(now);
                store.markNewLinks(100);
                assertThat(store.sweepBlobs(java.util.List.of(blob), now.plusSeconds(1).minus(GRACE))).isEmpty();
                assertThat(store.isBlobLinked(LINKED, blob)).isTrue();
            }
        }
    }

    @Test
    void aUseOfARecentRecordIsBatched(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Digest blob = Digest.sha256("fresh layer".getBytes());
            Instant recorded = linkedAndLastUsed(store, blob);
            Instant now = recorded.plus(GRACE.dividedBy(2)).minusSeconds(1);
            try (LastUseRecorder recorder = new LastUseRecorder(store, Clock.fixed(now, java.time.ZoneOffset.UTC),
                    Duration.ofHours(1), new ReadProtection(GRACE, GRACE.dividedBy(2)))) {
                assertThat(recorder.blobUsed(LINKED, blob, recorded)).isTrue();
                assertThat(store.linkedBlob(LINKED, blob).orElseThrow().lastUsedAt()).isEqualTo(recorded);
                recorder.flush();
                assertThat(store.linkedBlob(LINKED, blob).orElseThrow().lastUsedAt()).isEqualTo(now);
            }
        }
    }
}
