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
    /**
     * Every link made is kept for the next look, whatever its time: a node whose clock runs far behind the collecting
     * node's (its links carry old times) or a day ahead has its abandoned uploads marked by the next look all the same,
     * and a look takes off what it read, so the one after reads only what came since.
     */
    @Test
    void everyLinkIsLookedAtOnceWhateverTheClockOfTheNodeThatMadeIt(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Digest behind = Digest.sha256("pushed through a node an hour behind".getBytes());
            Digest ahead = Digest.sha256("pushed through a node a day ahead".getBytes());
            store.linkBlob(REPO, behind, 10);
            store.linkBlob(REPO, ahead, 10);
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("cairn.db")); Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE repository_blobs SET linked_at = linked_at - 3600000 WHERE digest = '" + behind + "'");
                s.executeUpdate("UPDATE repository_blobs SET linked_at = linked_at + 86400000 WHERE digest = '" + ahead + "'");
            }
            assertThat(store.markNewLinks(100)).isEqualTo(2);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactlyInAnyOrder(behind, ahead);
            assertThat(store.markNewLinks(100)).as("taken off by the look that read them").isZero();
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("cairn.db")); Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM sweep_marks"); // as after a sweep that found them held
            }
            store.linkBlob(REPO, behind, 10); // pushed again: looked at again
            assertThat(store.markNewLinks(100)).isEqualTo(1);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactly(behind);
        }
    }

    /**
     * On PostgreSQL ids come from a sequence, not in commit order: a push may take an id, stall (a pause, a lock wait)
     * and commit after a look read the links with higher ids. The look takes off what it read by id, not by range, so
     * the late link is there for the next.
     */
    @Test
    void aLinkCommittedAfterALookReadPastItIsSeenByTheNextOnPostgres() throws Exception {
        dev.cairn.testing.Postgres pg = dev.cairn.testing.Postgres.shared();
        String url = pg.newDatabase();
        try (JdbcMetadataStore store = JdbcMetadataStore.postgres(url, pg.user(), pg.password(), 8)) {
            Digest late = Digest.sha256("abandoned upload, slow commit".getBytes());
            try (Connection slow = pg.connect(url)) {
                slow.setAutoCommit(false);
                try (Statement s = slow.createStatement()) { // what linkBlob writes, in a transaction that does not commit yet
                    s.executeUpdate("INSERT INTO repositories (name, created_at) VALUES ('" + REPO.value() + "', 0) ON CONFLICT DO NOTHING");
                    s.executeUpdate("INSERT INTO blobs (digest, size, created_at, last_used_at) VALUES ('" + late + "', 5, 0, 0)");
                    s.executeUpdate("INSERT INTO repository_blobs (repository, digest, linked_at) VALUES ('" + REPO.value() + "', '" + late + "', 0)");
                    s.executeUpdate("INSERT INTO new_links (repository, digest) VALUES ('" + REPO.value() + "', '" + late + "')");
                }
                Digest after = Digest.sha256("a push that took a later id and committed first".getBytes());
                store.linkBlob(RepositoryName.of("sweep/other"), after, 5);
                assertThat(store.markNewLinks(100)).isEqualTo(1);
                assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactly(after);
                slow.commit();
            }
            assertThat(store.markNewLinks(100)).as("the late link, at the next look").isEqualTo(1);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).contains(late);
        } finally {
            pg.dropDatabase(url);
        }
    }

    /** A blob linked several times, in one repository and in two, is one mark, and the look says it marked one. */
    @Test
    void aBlobLinkedSeveralTimesIsMarkedOnce(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Digest layer = Digest.sha256("linked three times".getBytes());
            store.linkBlob(REPO, layer, 10);
            store.linkBlob(REPO, layer, 10);
            store.linkBlob(RepositoryName.of("sweep/other"), layer, 10);
            assertThat(store.markNewLinks(100)).isEqualTo(1);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactly(layer);
        }
    }

    /** A look reads page after page until none is left, marking each link once. */
    @Test
    void theLookAtNewLinksPagesThroughAllOfThem(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            for (int i = 0; i < 25; i++) store.linkBlob(REPO, Digest.sha256(("same millisecond " + i).getBytes()), 10);
            assertThat(store.markNewLinks(4)).isEqualTo(25);
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
                s.executeUpdate("DELETE FROM sweep_marks");
                s.executeUpdate("DELETE FROM new_links");
                s.executeUpdate("UPDATE repository_blobs SET linked_at = linked_at - 600000"); // made ten minutes ago
            }

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
