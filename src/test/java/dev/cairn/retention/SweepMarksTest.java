package dev.cairn.retention;

import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.NewManifest;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.DigestLocks;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.registry.MediaTypes;
import dev.cairn.storage.FileBlobStore;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The sweep looks only at marked blobs. What nothing marked (a store written before marks existed, a mark a
 * bug forgot) is found by the slices a collection looks at besides, a few at a time, round and round; what
 * a push left since the last look is found at once, however far the slices have to go.
 */
class SweepMarksTest {
    private static final RepositoryName REPO = RepositoryName.of("sweep/app");
    private static final int SLICE = 4;
    /** Where the last look at new links started (see RetentionRecords#markLinksMadeSinceLastLook). */
    private static final String LINKS_LOOKED_AT = "sweep.links-looked-at";

    /**
     * A node whose clock runs behind the collecting node's writes its links with times before the last look
     * started: they are moved up to that start, so the next look sees them (else their blobs would wait for the
     * slices, and the planner, counting them as held, would evict live entries in their place).
     */
    @Test
    void aLinkFromANodeWhoseClockIsBehindIsSeenByTheNextLook(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Instant collectorClock = Instant.now().plus(Duration.ofMinutes(3)); // three minutes ahead of this node's
            store.markLinksMadeSinceLastLook(collectorClock, 100);
            Digest late = Digest.sha256("pushed through a node three minutes behind".getBytes());
            store.linkBlob(REPO, late, 10);
            assertThat(store.markLinksMadeSinceLastLook(collectorClock.plusSeconds(300), 100)).isEqualTo(1);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactly(late);
        }
    }

    /**
     * The settings the look and the pushes share are checked where they are read: one that is not a time neither
     * fails a push nor the look (it counts as no look yet), and a look start far ahead (a collecting node whose clock
     * ran a day ahead) moves a link at most ten minutes past its own time, not a day, so abandoned uploads are not
     * held back for everyone.
     */
    @Test
    void aLookStartThatIsNotATimeOrFarAheadNeitherStopsPushesNorHoldsLinksBack(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            store.putSetting(LINKS_LOOKED_AT, "");
            Digest pushed = Digest.sha256("pushed while the setting is garbage".getBytes());
            store.linkBlob(REPO, pushed, 10);
            assertThat(store.markLinksMadeSinceLastLook(Instant.now(), 100)).isEqualTo(1);

            store.putSetting(LINKS_LOOKED_AT, Long.toString(System.currentTimeMillis() + Duration.ofDays(1).toMillis()));
            Digest later = Digest.sha256("pushed after a look by a clock a day ahead".getBytes());
            long before = System.currentTimeMillis();
            store.linkBlob(REPO, later, 10);
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("cairn.db")); Statement s = c.createStatement();
                 var r = s.executeQuery("SELECT linked_at FROM repository_blobs WHERE digest = '" + later + "'")) {
                assertThat(r.next()).isTrue();
                assertThat(r.getLong(1)).isBetween(before, System.currentTimeMillis() + Duration.ofMinutes(10).toMillis());
            }
        }
    }

    /**
     * On PostgreSQL a push may read where the last look started, stall (a pause, a lock wait), and commit its link
     * after the next look wrote its start and read: the link's time is then before that start. Looks start a
     * minute before the collector's clock (as BlobSweeper asks), so the next one reads back far enough.
     */
    @Test
    void aLinkWhoseTransactionStalledAcrossALookIsSeenByTheNextOnPostgres() throws Exception {
        dev.cairn.testing.Postgres pg = dev.cairn.testing.Postgres.shared();
        String url = pg.newDatabase();
        try (JdbcMetadataStore store = JdbcMetadataStore.postgres(url, pg.user(), pg.password(), 8)) {
            store.linkBlob(REPO, Digest.sha256("warm".getBytes()), 1);
            store.markLinksMadeSinceLastLook(Instant.now().minus(BlobSweeper.LOOK_OVERLAP), 100);
            Digest late = Digest.sha256("abandoned upload, slow commit".getBytes());
            java.util.concurrent.CompletableFuture<Boolean> link;
            try (Connection blocker = pg.connect(url)) {
                blocker.setAutoCommit(false);
                try (Statement s = blocker.createStatement()) {
                    // linkBlob's INSERT INTO blobs waits on this uncommitted one, after it read where the last look started
                    s.executeUpdate("INSERT INTO blobs (digest, size, created_at, last_used_at) VALUES ('" + late + "', 5, 0, 0)");
                }
                link = java.util.concurrent.CompletableFuture.supplyAsync(() -> store.linkBlob(REPO, late, 5));
                Thread.sleep(1000);
                assertThat(link).as("stalled").isNotDone();
                store.markLinksMadeSinceLastLook(Instant.now().minus(BlobSweeper.LOOK_OVERLAP), 100);
                blocker.rollback();
            }
            link.get();
            store.markLinksMadeSinceLastLook(Instant.now().minus(BlobSweeper.LOOK_OVERLAP), 100);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).as("an abandoned upload is looked at by some look").contains(late);
        } finally {
            pg.dropDatabase(url);
        }
    }

    /** A page of the look ends among links of one millisecond: the next starts just after it, reading none twice. */
    @Test
    void theLookAtNewLinksPagesExactlyThroughLinksOfOneMillisecond(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            for (int i = 0; i < 25; i++) store.linkBlob(REPO, Digest.sha256(("same millisecond " + i).getBytes()), 10);
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("cairn.db")); Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE repository_blobs SET linked_at = 1000");
            }
            assertThat(store.markLinksMadeSinceLastLook(Instant.now(), 4)).isEqualTo(25);
            assertThat(store.sweepCandidates(Optional.empty(), 100)).hasSize(25);
        }
    }

    @Test
    void slicesFindUnmarkedLeftoversRoundAfterRoundAndNewLinksAreLookedAtAtOnce(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            List<Digest> loose = new ArrayList<>();
            Set<Digest> referenced = new HashSet<>();
            for (int i = 0; i < 25; i++) {
                Digest digest = Digest.sha256(("blob " + i).getBytes());
                store.linkBlob(REPO, digest, 10);
                if (i % 5 == 0) referenced.add(digest);
                else loose.add(digest);
            }
            byte[] content = "{\"schemaVersion\":2}".getBytes();
            store.putManifest(new NewManifest(REPO, Digest.sha256(content), MediaTypes.OCI_MANIFEST, content, Optional.empty(), Optional.empty(),
                    referenced, Instant.now()), Optional.empty());
            // As a store from before marks: nothing marked, and the last look at new links after all of them.
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("cairn.db")); Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE blobs SET freed_reason = NULL");
                s.executeUpdate("UPDATE repository_blobs SET linked_at = linked_at - 600000"); // made ten minutes ago
            }
            store.putSetting(LINKS_LOOKED_AT, Long.toString(System.currentTimeMillis()));

            LastUseRecorder lastUse = new LastUseRecorder(store, Clock.systemUTC(), Duration.ofSeconds(10),
                    new ReadProtection(Duration.ZERO, Duration.ZERO));
            BlobSweeper sweeper = new BlobSweeper(blobs, store, new DigestLocks(16, store.locks()::withDigestLocks), lastUse,
                    new AuditLog(dir.resolve("audit.log"), store.locks()), new CacheMetrics(), Duration.ZERO, SLICE);
            int collections = 0;
            List<Integer> deletedPerCollection = new ArrayList<>();
            while (loose.stream().anyMatch(store::blobRecordExists) && collections < 20) {
                Instant now = Instant.now().plusSeconds(1);
                sweeper.mark(now);
                deletedPerCollection.add((int) sweeper.sweep(now, new PhaseTimes(), new Tally<>()).count());
                collections++;
            }
            assertThat(loose).noneMatch(store::blobRecordExists);
            assertThat(referenced).allMatch(store::blobRecordExists);
            assertThat(deletedPerCollection).as("a slice of %d links and %d blobs a collection", SLICE, SLICE)
                    .allMatch(n -> n <= SLICE);
            assertThat(collections).as("25 links looked at %d at a time", SLICE).isBetween(25 / SLICE, 25 / SLICE + 2);

            // a push that never finished: the next look at new links marks it, though the slices (of one link and one
            // blob, starting over) would reach it last (its digest sorts after every other)
            Digest abandoned = Digest.sha256("left by a cancelled build".getBytes());
            store.linkBlob(REPO, abandoned, 10);
            store.putSetting("sweep.link-slice-after", ""); // the slices start over, at the first link and the first blob
            store.putSetting("sweep.blob-slice-after", "");
            sweeper = new BlobSweeper(blobs, store, new DigestLocks(16, store.locks()::withDigestLocks), lastUse,
                    new AuditLog(dir.resolve("audit.log"), store.locks()), new CacheMetrics(), Duration.ZERO, 1);
            Instant now = Instant.now().plusSeconds(1);
            sweeper.mark(now);
            assertThat(store.sweepCandidates(Optional.empty(), 100)).contains(abandoned);
            sweeper.sweep(now, new PhaseTimes(), new Tally<>());
            assertThat(store.blobRecordExists(abandoned)).isFalse();
            assertThat(referenced).allMatch(store::blobRecordExists);
        }
    }
}
