package dev.cairn;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.StoreProbe;
import dev.cairn.testing.StoreSnapshot;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/** Reads are the hot path: they write nothing to the database; last-use times are written in batches. */
class LastUseTest {
    @Test
    void pullsWriteNothingUntilTheBatchIsFlushedAndAStopFlushesIt() throws Exception {
        // Long enough that no timed flush comes during the test. Not longer: where nodes share the database
        // (s3-postgres), a blob's use stays in the batch only while half the grace window (1h by default) is
        // more than two flush intervals; otherwise every blob HEAD is written at once (Cairn.confirmBlobUseAge).
        try (RunningCairn cairn = RunningCairn.start(Map.of("registry.last-use-flush-interval", "10m"))) {
            OciClient client = new OciClient(cairn);
            OciClient.Image image = client.prepareImage("use/app", "application/vnd.oci.image.config.v1+json", "u".getBytes());
            String digest = client.pushManifest("use/app", "v1", OCI_MANIFEST, image.manifest());
            RepositoryName repo = RepositoryName.of("use/app");
            Instant pushed = cairn.node().metadata().manifestLastUse(repo, Digest.parse(digest)).orElseThrow();

            Thread.sleep(20);
            try (StoreProbe.WriteWatch writes = StoreProbe.of(cairn).watchWrites()) {
                for (int i = 0; i < 50; i++) {
                    assertThat(client.get("/v2/use/app/manifests/v1").statusCode()).isEqualTo(200);
                    assertThat(client.head("/v2/use/app/blobs/" + image.layerDigests().getFirst()).statusCode()).isEqualTo(200);
                }
                // nothing written yet: same last-use time, and the store untouched (embedded: cairn.db and its WAL
                // the same size, no commit seen by SQLite; s3-postgres: no row written, not even to its old values;
                // both: every blob, upload and row as it was)
                assertThat(cairn.node().metadata().manifestLastUse(repo, Digest.parse(digest))).hasValue(pushed);
                assertThat(writes.writes()).as("writes to the store by 100 reads").isEmpty();

                cairn.node().lastUse().flush();
                assertThat(writes.writes()).as("writes to the store by the flush").anyMatch(w -> w.startsWith("manifests "));
            }
            Instant used = cairn.node().metadata().manifestLastUse(repo, Digest.parse(digest)).orElseThrow();
            assertThat(used).isAfter(pushed);

            // a pull, then a clean restart: the stop flushes the batch, so the time survives
            Thread.sleep(20);
            client.get("/v2/use/app/manifests/" + digest);
            cairn.restart();
            assertThat(cairn.node().metadata().manifestLastUse(repo, Digest.parse(digest)).orElseThrow()).isAfter(used);
            // the blob HEADs were recorded too: its last use is later than its creation
            String blobRow = StoreSnapshot.of(cairn).tables().get("blobs").stream()
                    .filter(row -> row.contains(image.layerDigests().getFirst())).findFirst().orElseThrow();
            assertThat(Long.parseLong(blobRow.replaceAll(".*last_used_at=(\\d+).*", "$1")))
                    .isGreaterThan(Long.parseLong(blobRow.replaceAll(".*created_at=(\\d+).*", "$1")));
        }
    }
}
