package dev.cairn.retention;

import dev.cairn.values.DeletionReason;
import dev.cairn.testing.SeededBytes;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.NewManifest;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.values.Digest;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.RepositoryName;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/** The collector's guards against the interleavings a busy fleet produces. */
class CollectorSafetyTest {
    private static final RepositoryName REPO = RepositoryName.of("guard/app");
    /** Deletions planned long after the last read of anything here: nothing is retired. */
    private static final dev.cairn.metadata.ReadProtection NO_RECENT_READS =
            new dev.cairn.metadata.ReadProtection(java.time.Duration.ofHours(1), java.time.Duration.ofMinutes(30));

    private static Digest manifest(JdbcMetadataStore store, String seed, Set<Digest> references) {
        byte[] content = ("{\"schemaVersion\":2,\"seed\":\"" + seed + "\"}").getBytes();
        Digest digest = Digest.sha256(content);
        assertThat(store.putManifest(new NewManifest(REPO, digest, MediaTypes.OCI_INDEX, content, Optional.empty(), Optional.empty(),
                references, Instant.ofEpochMilli(1000)), Optional.empty())).isEmpty();
        return digest;
    }

    @Test
    void aUnitIsNotDeletedWhenAManifestPushedSinceThePlanReferencesItsRoot(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Digest child = manifest(store, "child", Set.of());
            // the plan saw `child` as an untagged root; then an index listing it arrived
            manifest(store, "index", Set.of(child));
            List<List<String>> result = store.deleteUnits(List.of(new RetentionRecords.UnitDeletion(REPO, List.of(child.toString()),
                    Instant.ofEpochMilli(1000), Optional.empty(), true, DeletionReason.UNTAGGED)), NO_RECENT_READS, Instant.now());
            assertThat(result.getFirst()).isEmpty();
            assertThat(store.manifest(REPO, child)).isPresent();
        }
    }

    @Test
    void aLinkRenewedAfterTheCutoffIsNotSwept(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Digest blob = Digest.sha256("layer".getBytes());
            store.linkBlob(REPO, blob, 5);
            assertThat(store.markNewLinks(100)).as("an upload no manifest came for").isEqualTo(1);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactly(blob);
            assertThat(store.sweepBlobs(List.of(blob), Instant.now().minusSeconds(60))).isEmpty();
            assertThat(store.isBlobLinked(REPO, blob)).isTrue();
            assertThat(store.sweepCandidates(Optional.empty(), 10)).as("still waiting: still marked").containsExactly(blob);
            assertThat(store.sweepBlobs(List.of(blob), Instant.now().plusSeconds(60))).containsOnlyKeys(blob);
            assertThat(store.isBlobLinked(REPO, blob)).isFalse();
            assertThat(store.blobRecordExists(blob)).isFalse();
        }
    }

    @Test
    void aBlobAManifestReferencesIsKeptEvenWhenItsLinkIsDeleted() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.grace", "0s", "retention.gc-interval", "1h"))) {
            OciClient client = new OciClient(cairn);
            OciClient.Image image = client.prepareImage("guard/app", "application/vnd.oci.image.config.v1+json", "keep me".getBytes());
            client.pushManifest("guard/app", "v1", OCI_MANIFEST, image.manifest());
            String layer = image.layerDigests().getFirst();
            assertThat(client.delete("/v2/guard/app/blobs/" + layer).statusCode()).isEqualTo(202);
            CollectionReport report = cairn.node().keeper().collect(false);
            assertThat(report.blobs()).extracting(CollectionReport.DeletedBlob::digest).doesNotContain(layer);
            assertThat(Files.exists(cairn.dataDir().resolve("blobs/sha256/" + layer.substring(7, 9) + "/" + layer.substring(7)))).isTrue();
        }
    }

    /**
     * Files no record points at come from a crash between publishing a blob and linking it. After a run that did
     * not stop cleanly, a collection walks every blob file once they are past the grace window, whichever restarts
     * come between; after clean stops the walk (minutes for millions of files) waits for its interval.
     */
    @Test
    void orphanFilesAreLookedForOnceWhatACrashLeftIsPastTheGraceWindow() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.grace", "2s", "retention.gc-interval", "1h"))) {
            Path marker = cairn.dataDir().resolve("cairn.running");
            assertThat(marker).as("a node running on the directory says so").exists();
            byte[] bytes = "published, never linked".getBytes();
            String hex = Digest.sha256(bytes).hex();
            Path orphan = cairn.dataDir().resolve("blobs/sha256/" + hex.substring(0, 2) + "/" + hex);
            cairn.restart(() -> {
                assertThat(marker).as("gone after a clean stop").doesNotExist();
                Files.createDirectories(orphan.getParent());
                Files.write(orphan, bytes);
            });
            Thread.sleep(2100);
            assertThat(cairn.node().keeper().collect(false).blobs()).isEmpty();
            assertThat(orphan).as("after a clean stop, no walk over the files").exists();

            cairn.restart(() -> Files.writeString(marker, "4242\n")); // as a process killed while running leaves it
            long restarted = System.nanoTime();
            assertThat(cairn.node().keeper().collect(false).blobs()).as("what the crash left may still be in its grace window").isEmpty();
            cairn.restart(); // a deploy meanwhile does not call the walk off
            Thread.sleep(Math.max(0, 2100 - (System.nanoTime() - restarted) / 1_000_000));
            assertThat(cairn.node().keeper().collect(false).blobs()).extracting(CollectionReport.DeletedBlob::reason).containsExactly("orphan");
            assertThat(orphan).doesNotExist();
            assertThat(cairn.node().keeper().collect(false).blobs()).as("one walk, not one per collection").isEmpty();

            // a walk recorded in the future (a clock that went back) or not as a time does not call walks off for good
            Files.write(orphan, bytes);
            cairn.node().metadata().putSetting("sweep.orphans-looked-at", Long.toString(System.currentTimeMillis() + 86_400_000L));
            Thread.sleep(2100);
            assertThat(cairn.node().keeper().collect(false).blobs()).extracting(CollectionReport.DeletedBlob::reason).containsExactly("orphan");
            cairn.node().metadata().putSetting("sweep.orphans-wanted-at", "not a time");
            assertThat(cairn.node().keeper().collect(false).blobs()).isEmpty();
        }
    }

    /**
     * The planner counts blobs marked for the sweep as waiting for it; a link pushed through a node whose clock is
     * behind the collector's must still be looked at, or the planner would count its blob as held by live images
     * and evict one of them in its place.
     */
    @Test
    void anUploadThroughANodeWhoseClockIsBehindIsNotTakenForALiveImage() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "3000000", "retention.gc-interval", "1h"))) {
            JdbcMetadataStore store = cairn.node().metadata();
            for (int i = 0; i < 2; i++) {
                RepositoryName repository = RepositoryName.of("live/app" + i);
                Digest layer = Digest.sha256(("layer " + i).getBytes());
                store.linkBlob(repository, layer, 1_000_000);
                byte[] content = ("{\"schemaVersion\":2,\"n\":" + i + "}").getBytes();
                store.putManifest(new NewManifest(repository, Digest.sha256(content), MediaTypes.OCI_MANIFEST, content, Optional.empty(),
                        Optional.empty(), Set.of(layer), Instant.now()), Optional.of(new dev.cairn.values.Tag("latest")));
            }
            cairn.node().keeper().collect(false);
            // the last look as a collector three minutes ahead of this node would have recorded it
            store.putSetting("sweep.links-looked-at", Long.toString(System.currentTimeMillis() + 180_000));
            store.linkBlob(RepositoryName.of("other/app"), Digest.sha256("a cancelled build's layer".getBytes()), 1_500_000);
            CollectionReport report = cairn.node().keeper().collect(false);
            assertThat(report.evictedCount()).as("live images hold 2 MB of a 3 MB budget; the rest waits for the sweep").isZero();
        }
    }

    @Test
    void bytesWaitingOutTheGraceWindowDoNotCauseEvictions() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.grace", "1h",
                "retention.gc-interval", "1h", "retention.untagged", "keep"))) {
            OciClient client = new OciClient(cairn);
            client.pushManifest("live/app", "v1", OCI_MANIFEST,
                    client.prepareImage("live/app", "application/vnd.oci.image.config.v1+json", new byte[300_000]).manifest());
            // a push in flight: blobs up, manifest not yet; together with the live entry, past the high watermark
            client.pushBlob("live/pending", SeededBytes.of(700_000, 99));
            CollectionReport report = cairn.node().keeper().collect(false);
            assertThat(report.evicted()).isEmpty();
            assertThat(client.head("/v2/live/app/manifests/v1").statusCode()).isEqualTo(200);
        }
    }
}
