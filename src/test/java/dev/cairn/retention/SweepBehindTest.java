package dev.cairn.retention;

import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.NewManifest;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.DigestLocks;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.registry.MediaTypes;
import dev.cairn.storage.FileBlobStore;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The blobs a collection's evictions free are swept behind them while they go on: the store shrinks from the
 * first eviction batch on (at millions of blobs the evictions alone take minutes), and a failure of that sweep
 * fails the collection like any other, without leaving the evictions waiting for it.
 */
@org.junit.jupiter.api.Timeout(180) // a sweep that left the evictions waiting would hang the collection
class SweepBehindTest {
    private static final RepositoryName REPO = RepositoryName.of("behind/app");
    /**
     * Enough images that evicting most of them takes more eviction batches than the sweep may fall behind by (so that
     * evictions held up by a sweep that stopped would show).
     */
    private static final int IMAGES = 7 * EvictionPlanner.BATCH;
    /** The low watermark: the collection evicts about four images in five. */
    private static final double LOW = 0.2;

    @Test
    void whatTheEvictionsFreeIsSweptWhileTheyGoOn(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            Map<Integer, List<Digest>> layers = seed(store, blobs);
            AtomicInteger calls = new AtomicInteger();
            AtomicReference<List<String>> firstFreed = new AtomicReference<>();
            AtomicBoolean goneBeforeTheNext = new AtomicBoolean();
            AtomicBoolean drainedBehind = new AtomicBoolean();
            RetentionRecords records = records(store, (method, args) -> {
                // On PostgreSQL event ids do not follow commit order: a copy to the log made while evictions commit
                // on another thread would forget their events ("id <= last"). The sweep behind copies none.
                if (method.equals("readAuditEvents") && Thread.currentThread().getName().equals("cairn-sweep-behind")) drainedBehind.set(true);
                if (!method.equals("evict")) return;
                if (calls.getAndIncrement() == 2) {
                    // The third batch: the first two freed an eighth of the store's blobs (at least a sweep batch), so a pass
                    // over the marks is under way; wait (bounded) for the first batch's blobs, records and files, to be swept.
                    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                    while (System.nanoTime() < deadline && !allGone(store, blobs, firstFreed.get())) Thread.sleep(20);
                    goneBeforeTheNext.set(allGone(store, blobs, firstFreed.get()));
                }
            }, (method, result) -> {
                if (method.equals("evict") && firstFreed.get() == null) {
                    @SuppressWarnings("unchecked") List<RetentionRecords.Evicted> evicted = (List<RetentionRecords.Evicted>) result;
                    firstFreed.set(evicted.stream().flatMap(e -> e.freedBlobs().stream()).toList());
                }
            });
            long stored = store.storedBytes();
            RetentionPolicy policy = new RetentionPolicy(stored * 10 / 12, 0.95, LOW, false, Duration.ZERO, Duration.ofHours(1),
                    Optional.empty(), List.of());
            Path auditLog = dir.resolve("audit.log");
            try (CacheKeeper keeper = keeper(store, records, blobs, policy, auditLog)) {
                CollectionReport report = keeper.collect(false);

                assertThat(calls.get()).as("eviction batches").isGreaterThan(2);
                assertThat(firstFreed.get()).as("the first batch freed its images' layers").hasSizeGreaterThan(100);
                assertThat(goneBeforeTheNext).as("the first batch's blobs were swept while the evictions went on").isTrue();
                assertThat(calls.get()).as("more batches after that").isGreaterThan(3);
                assertThat(drainedBehind).as("audit events copied to the log only by the collection").isFalse();
                // All the same as a sweep after the evictions: every freed blob counted once and logged once, the budget
                // kept, and every image left whole.
                long evictedImages = report.evictedCount();
                assertThat(report.blobCount()).isEqualTo(2 * evictedImages);
                List<String> lines = Files.readAllLines(auditLog);
                assertThat(lines.stream().filter(l -> l.contains("\"kind\":\"blob\"")).distinct().count()).isEqualTo(report.blobCount());
                assertThat(store.storedBytes()).isLessThanOrEqualTo((long) (policy.maxBytes() * LOW));
                int whole = 0;
                for (Map.Entry<Integer, List<Digest>> image : layers.entrySet()) {
                    boolean tagged = store.resolveTag(REPO, new Tag("t" + image.getKey())).isPresent();
                    for (Digest layer : image.getValue()) {
                        assertThat(store.blobRecordExists(layer)).as("layer of image %d (tagged: %s)", image.getKey(), tagged).isEqualTo(tagged);
                        assertThat(blobs.stat(layer).isPresent()).as("file of a layer of image %d", image.getKey()).isEqualTo(tagged);
                    }
                    if (tagged) whole++;
                }
                assertThat(whole).isEqualTo(IMAGES - evictedImages);
            }
        }
    }

    @Test
    void aFailingSweepBehindFailsTheCollectionWithoutHoldingUpTheEvictionsAndTheNextOneSweepsWhatItLeft(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            Map<Integer, List<Digest>> layers = seed(store, blobs);
            AtomicBoolean failing = new AtomicBoolean(true);
            AtomicInteger evictions = new AtomicInteger();
            RetentionRecords records = records(store, (method, args) -> {
                if (method.equals("evict")) evictions.incrementAndGet();
                if (method.equals("sweepBlobs") && failing.get()) throw new IllegalStateException("the disk is on fire");
            }, (method, result) -> { });
            RetentionPolicy policy = new RetentionPolicy(store.storedBytes() * 10 / 12, 0.95, LOW, false, Duration.ZERO, Duration.ofHours(1),
                    Optional.empty(), List.of());
            try (CacheKeeper keeper = keeper(store, records, blobs, policy, dir.resolve("audit.log"))) {
                assertThatThrownBy(() -> keeper.collect(false)).isInstanceOf(CollectionFailure.class).hasMessageContaining("the disk is on fire");
                assertThat(evictions.get()).as("the evictions went on to the budget after the sweep stopped").isGreaterThan(3);
                assertThat(keeper.health().failuresInARow()).isEqualTo(1);
                assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().equals("cairn-sweep-behind"));
                long evicted = layers.keySet().stream().filter(i -> store.resolveTag(REPO, new Tag("t" + i)).isEmpty()).count();
                assertThat(evicted).isGreaterThan(0);

                failing.set(false);
                keeper.collect(false);
                assertThat(keeper.health().failingSince()).isEmpty();
                for (Map.Entry<Integer, List<Digest>> image : layers.entrySet()) {
                    boolean tagged = store.resolveTag(REPO, new Tag("t" + image.getKey())).isPresent();
                    for (Digest layer : image.getValue()) {
                        assertThat(store.blobRecordExists(layer)).as("layer of image %d: the next collection swept what the failed one freed", image.getKey())
                                .isEqualTo(tagged);
                    }
                }
            }
        }
    }

    /**
     * The node stops (the collector is interrupted) while the sweep behind the evictions is stuck on a slow disk: once the
     * disk answers, the sweep ends with the batch it is on (what is left keeps its marks), so the collection ends and no
     * thread stays behind.
     */
    @Test
    void aStopWhileTheSweepIsBehindEndsTheCollectionAndItsThread(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            seed(store, blobs);
            java.util.concurrent.CountDownLatch slowDisk = new java.util.concurrent.CountDownLatch(1);
            AtomicBoolean stalled = new AtomicBoolean();
            RetentionRecords records = records(store, (method, args) -> {
                if (method.equals("sweepBlobs") && Thread.currentThread().getName().equals("cairn-sweep-behind") && !stalled.getAndSet(true)) {
                    slowDisk.await(60, java.util.concurrent.TimeUnit.SECONDS); // the sweep's first batch, on a slow disk
                }
            }, (method, result) -> { });
            RetentionPolicy policy = new RetentionPolicy(store.storedBytes() * 10 / 12, 0.95, LOW, false, Duration.ZERO, Duration.ofHours(1),
                    Optional.empty(), List.of());
            CacheKeeper keeper = keeper(store, records, blobs, policy, dir.resolve("audit.log"));
            try {
                keeper.requestRun();
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (!stalled.get() && System.nanoTime() < deadline) Thread.sleep(20);
                assertThat(stalled).as("the sweep behind reached the slow disk").isTrue();
                Thread.sleep(300);
                long closing = System.nanoTime();
                Thread release = Thread.ofPlatform().start(() -> {
                    try {
                        Thread.sleep(1000); // the disk recovers a second into the stop
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    slowDisk.countDown();
                });
                keeper.close();
                release.join();
                assertThat(Duration.ofNanos(System.nanoTime() - closing)).as("the stop").isLessThan(Duration.ofSeconds(20));
            } finally {
                slowDisk.countDown();
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (sweepThreadAlive() && System.nanoTime() < deadline) Thread.sleep(50);
            assertThat(sweepThreadAlive()).as("the sweep behind ended").isFalse();
        }
    }

    /** A collection that evicts nothing (most of them, under the budget) does not count the store's blobs for a pass. */
    @Test
    void aCollectionThatFreesNothingDoesNotCountTheBlobs(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            seed(store, blobs);
            AtomicInteger counts = new AtomicInteger();
            RetentionRecords records = records(store, (method, args) -> {
                if (method.equals("blobCount")) counts.incrementAndGet();
            }, (method, result) -> { });
            RetentionPolicy roomy = new RetentionPolicy(store.storedBytes() * 10, 0.95, LOW, false, Duration.ZERO, Duration.ofHours(1),
                    Optional.empty(), List.of());
            try (CacheKeeper keeper = keeper(store, records, blobs, roomy, dir.resolve("audit.log"))) {
                keeper.collect(false);
            }
            assertThat(counts).hasValue(0);
            RetentionPolicy tight = new RetentionPolicy(store.storedBytes() * 10 / 12, 0.95, LOW, false, Duration.ZERO, Duration.ofHours(1),
                    Optional.empty(), List.of());
            try (CacheKeeper keeper = keeper(store, records, blobs, tight, dir.resolve("audit.log"))) {
                keeper.collect(false);
            }
            assertThat(counts).as("once, for a collection that frees").hasValue(1);
        }
    }

    /**
     * On PostgreSQL a collector's batch transaction reads much, and under concurrent pushes it can lose every race (a
     * 300,000-blob collection under 8 pushers failed each batch of 250 units 20 times over). Here the database itself
     * fails, with a real serialization failure, every transaction that deletes more than one manifest, blob or new link:
     * the collection still completes, splitting its batches down to what wins, with the same result as ever.
     */
    @Test
    void onPostgresBatchesThatKeepLosingRacesAreSplitUntilTheyWin(@TempDir Path dir) throws Exception {
        dev.cairn.testing.Postgres pg = dev.cairn.testing.Postgres.shared();
        String url = pg.newDatabase();
        try (JdbcMetadataStore store = JdbcMetadataStore.postgres(url, pg.user(), pg.password(), 8);
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            Map<Integer, List<Digest>> layers = seed(store, blobs);
            onDelete(pg, url, """
                    DECLARE n int := coalesce(nullif(current_setting('cairn_test.rows_' || TG_TABLE_NAME, true), ''), '0')::int + 1;
                    BEGIN
                      PERFORM set_config('cairn_test.rows_' || TG_TABLE_NAME, n::text, true);
                      IF n > 1 THEN RAISE EXCEPTION 'scripted conflict' USING ERRCODE = 'serialization_failure'; END IF;
                      RETURN OLD;
                    END""", "manifests", "blobs", "new_links");
            AtomicInteger evictCalls = new AtomicInteger();
            RetentionRecords records = records(store, (method, args) -> {
                if (method.equals("evict")) evictCalls.incrementAndGet();
            }, (method, result) -> { });
            RetentionPolicy policy = new RetentionPolicy(store.storedBytes() * 10 / 12, 0.95, LOW, false, Duration.ZERO, Duration.ofHours(1),
                    Optional.empty(), List.of());
            Path auditLog = dir.resolve("audit.log");
            try (CacheKeeper keeper = keeper(store, records, blobs, policy, auditLog)) {
                CollectionReport report = keeper.collect(false);
                long evictedImages = report.evictedCount();
                assertThat(evictedImages).as("whole batches of units could not have gone").isGreaterThan(1);
                assertThat(report.blobCount()).isEqualTo(2 * evictedImages);
                assertThat(Files.readAllLines(auditLog).stream().filter(l -> l.contains("\"kind\":\"blob\"")).distinct().count())
                        .isEqualTo(report.blobCount());
                assertThat(store.storedBytes()).isLessThanOrEqualTo((long) (policy.maxBytes() * LOW));
                for (Map.Entry<Integer, List<Digest>> image : layers.entrySet()) {
                    boolean tagged = store.resolveTag(REPO, new Tag("t" + image.getKey())).isPresent();
                    for (Digest layer : image.getValue()) {
                        assertThat(store.blobRecordExists(layer)).as("layer of image %d (tagged: %s)", image.getKey(), tagged).isEqualTo(tagged);
                        assertThat(blobs.stat(layer).isPresent()).as("file of a layer of image %d", image.getKey()).isEqualTo(tagged);
                    }
                }
                assertThat(keeper.health().failingSince()).isEmpty();
            }
        } finally {
            pg.dropDatabase(url);
        }
    }

    /**
     * A split sweep whose last part keeps failing: the parts that committed deleted their records, so their files go
     * too, before the failure is reported (a file without a record would wait hours for the orphan walk).
     */
    @Test
    void onPostgresASplitSweepThatFailsPartWayStillDeletesTheFilesOfWhatWent(@TempDir Path dir) throws Exception {
        dev.cairn.testing.Postgres pg = dev.cairn.testing.Postgres.shared();
        String url = pg.newDatabase();
        try (JdbcMetadataStore store = JdbcMetadataStore.postgres(url, pg.user(), pg.password(), 8);
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            Map<Integer, List<Digest>> layers = seed(store, blobs);
            Digest stuck = layers.get(0).getFirst(); // the least recently used image's: in the first batch the sweep takes
            onDelete(pg, url, """
                    BEGIN
                      IF OLD.digest = '%s' THEN RAISE EXCEPTION 'scripted conflict' USING ERRCODE = 'serialization_failure'; END IF;
                      RETURN OLD;
                    END""".formatted(stuck), "blobs");
            RetentionRecords records = records(store, (method, args) -> { }, (method, result) -> { });
            RetentionPolicy policy = new RetentionPolicy(store.storedBytes() * 10 / 12, 0.95, LOW, false, Duration.ZERO, Duration.ofHours(1),
                    Optional.empty(), List.of());
            try (CacheKeeper keeper = keeper(store, records, blobs, policy, dir.resolve("audit.log"))) {
                assertThatThrownBy(() -> keeper.collect(false)).isInstanceOf(CollectionFailure.class);
            }
            int recordsGone = 0;
            for (List<Digest> image : layers.values()) {
                for (Digest layer : image) {
                    boolean recorded = store.blobRecordExists(layer);
                    if (!recorded) recordsGone++;
                    assertThat(blobs.stat(layer).isPresent()).as("file of %s (record there: %s)", layer, recorded).isEqualTo(recorded);
                }
            }
            assertThat(recordsGone).as("parts of the batch went before the stuck one failed").isGreaterThan(0);
            assertThat(store.blobRecordExists(stuck)).isTrue();
        } finally {
            pg.dropDatabase(url);
        }
    }

    /** Runs PL/pgSQL {@code body} after each row deleted from {@code tables}, in the database behind {@code url}. */
    private static void onDelete(dev.cairn.testing.Postgres pg, String url, String body, String... tables) throws Exception {
        try (java.sql.Connection c = pg.admin(url.substring(url.lastIndexOf('/') + 1)); java.sql.Statement s = c.createStatement()) {
            s.execute("CREATE FUNCTION scripted_delete() RETURNS trigger LANGUAGE plpgsql AS $$ " + body + " $$");
            for (String table : tables) {
                s.execute("CREATE TRIGGER scripted_delete AFTER DELETE ON " + table + " FOR EACH ROW EXECUTE FUNCTION scripted_delete()");
            }
        }
    }

    private static boolean sweepThreadAlive() {
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("cairn-sweep-behind") && t.isAlive());
    }

    /** {@link #IMAGES} tagged images of two layers each, of which the files are written; returns each image's layers. */
    private static Map<Integer, List<Digest>> seed(JdbcMetadataStore store, FileBlobStore blobs) throws Exception {
        Map<Integer, List<Digest>> layers = new java.util.LinkedHashMap<>();
        Instant pushed = Instant.now().minus(Duration.ofHours(1));
        for (int i = 0; i < IMAGES; i++) {
            List<Digest> own = new ArrayList<>();
            for (int l = 0; l < 2; l++) {
                byte[] content = ("layer " + l + " of image " + i + " ").repeat(8).getBytes();
                Digest digest = Digest.sha256(content);
                blobs.publish(blobs.stage(digest, new ByteArrayInputStream(content)));
                store.linkBlob(REPO, digest, content.length);
                own.add(digest);
            }
            byte[] manifest = ("{\"schemaVersion\":2,\"image\":" + i + "}").getBytes();
            store.putManifest(new NewManifest(REPO, Digest.sha256(manifest), MediaTypes.OCI_MANIFEST, manifest, Optional.empty(), Optional.empty(),
                    Set.copyOf(own), pushed.plusMillis(i)), Optional.of(new Tag("t" + i)));
            layers.put(i, own);
        }
        return layers;
    }

    private static boolean allGone(JdbcMetadataStore store, FileBlobStore blobs, List<String> digests) throws Exception {
        for (String digest : digests) {
            if (store.blobRecordExists(Digest.parse(digest)) || blobs.stat(Digest.parse(digest)).isPresent()) return false;
        }
        return true;
    }

    private interface Before {
        void call(String method, Object[] args) throws Exception;
    }

    private interface After {
        void returned(String method, Object result);
    }

    /** The store's retention records, with {@code before} and {@code after} run around each call (a seam, not a stand-in). */
    private static RetentionRecords records(JdbcMetadataStore store, Before before, After after) {
        return (RetentionRecords) Proxy.newProxyInstance(RetentionRecords.class.getClassLoader(), new Class<?>[]{RetentionRecords.class},
                (proxy, method, args) -> {
                    before.call(method.getName(), args);
                    try {
                        Object result = method.invoke(store, args);
                        after.returned(method.getName(), result);
                        return result;
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    private static CacheKeeper keeper(JdbcMetadataStore store, RetentionRecords records, FileBlobStore blobs, RetentionPolicy policy, Path auditLog)
            throws java.io.IOException {
        LastUseRecorder lastUse = new LastUseRecorder(store, Clock.systemUTC(), Duration.ofSeconds(10), new ReadProtection(Duration.ZERO, Duration.ZERO));
        CacheKeeper keeper = new CacheKeeper(records, store.locks(), new DigestLocks(16, store.locks()::withDigestLocks), blobs, lastUse, policy,
                new AuditLog(auditLog, store.locks()), new CacheMetrics(), Clock.systemUTC());
        keeper.start(false);
        return keeper;
    }
}
