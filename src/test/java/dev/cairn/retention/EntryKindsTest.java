package dev.cairn.retention;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.metadata.EntryRecords;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.values.Digest;
import dev.cairn.values.Glob;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static dev.cairn.retention.RetentionTest.audit;
import static dev.cairn.retention.RetentionTest.present;
import static dev.cairn.retention.RetentionTest.pull;
import static dev.cairn.retention.RetentionTest.push;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A kind of entry that exists only in this test, stored by key beside OCI images: the budget and the LRU
 * order evict it among them, it keeps the blobs it holds (even those no repository links), and a blob it
 * shares with an image stays while either holds it. Nothing in retention knows the kind's name.
 */
class EntryKindsTest {
    private static final String TEST_KIND = "test-artifact";

    @Test
    void aTestOnlyKindIsEvictedByBudgetAndLruBesideImagesAndSharesTheirBlobs() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.high-watermark", "90%",
                "retention.low-watermark", "80%", "retention.grace", "1s", "retention.gc-interval", "1h", "retention.untagged", "keep"))) {
            OciClient client = new OciClient(cairn);
            EntryRecords entries = cairn.node().metadata();
            OciClient.Image old = push(client, "oci/old", "v1", 1, 200_000, 7, 100_000);
            String shared = old.layerDigests().get(1);
            // Blobs pushed without a manifest: no repository will hold them once their links go; the entries will.
            Digest x = Digest.parse(client.pushBlob("scratch", SeededBytes.of(200_000, 20)));
            assertThat(entries.putEntry(TEST_KIND, RepositoryName.of("tool/one"), "k1", 10, List.of(x, Digest.parse(shared)), Instant.now()))
                    .as("no blob missing").isEmpty();
            Thread.sleep(5);
            OciClient.Image recent = push(client, "oci/new", "v1", 2, 200_000);
            Digest z = Digest.parse(client.pushBlob("scratch", SeededBytes.of(100_000, 21)));
            Digest l2 = Digest.parse(recent.layerDigests().getFirst());
            assertThat(entries.putEntry(TEST_KIND, RepositoryName.of("tool/two"), "k2", 10, List.of(z, l2), Instant.now())).isEmpty();
            assertThat(entries.putEntry(TEST_KIND, RepositoryName.of("tool/two"), "k3", 10,
                    List.of(Digest.sha256("never pushed".getBytes())), Instant.now()))
                    .as("an entry naming a blob the store lacks is refused").hasSize(1);
            assertThat(entries.entry(TEST_KIND, RepositoryName.of("tool/two"), "k3")).isEmpty();
            for (String kind : List.of("manifest", "blob", "Test", "two words", "")) {
                assertThatThrownBy(() -> entries.putEntry(kind, RepositoryName.of("tool/two"), "k4", 10, List.of(z), Instant.now()))
                        .as(kind).isInstanceOf(IllegalArgumentException.class);
            }

            Thread.sleep(1600); // past the grace window: the scratch links may go, and evicted blobs with them
            pull(client, "oci/old", "v1");
            assertThat(entries.entryUsed(TEST_KIND, RepositoryName.of("tool/two"), "k2", Instant.now())).isTrue();
            // About 800,000 bytes so far, under the high watermark: no collection has run. This push takes the
            // store past it (and wakes the collector, which plans as the explicit run below would).
            push(client, "oci/last", "v1", 3, 150_000);
            // Least recently used now: k1, then oci/new, then oci/old, then k2, then oci/last. Evicting k1 alone
            // (and its 200,000-byte blob) reaches the low watermark.
            cairn.node().keeper().collect(false);

            assertThat(entries.entry(TEST_KIND, RepositoryName.of("tool/one"), "k1")).as("least recently used").isEmpty();
            assertThat(cairn.node().metadata().blobRecordExists(x)).as("held by k1 alone").isFalse();
            assertThat(client.get("/v2/oci/old/blobs/" + shared).statusCode()).as("k1 shared it with oci/old").isEqualTo(200);
            assertThat(present(client, "oci/new", "v1")).isTrue();
            assertThat(present(client, "oci/old", "v1")).isTrue();
            assertThat(present(client, "oci/last", "v1")).isTrue();
            assertThat(entries.entry(TEST_KIND, RepositoryName.of("tool/two"), "k2")).isPresent();
            assertThat(cairn.node().metadata().blobRecordExists(z)).as("no repository links it any more, but k2 holds it").isTrue();
            assertThat(cairn.node().keeper().storedBytes()).isLessThanOrEqualTo(800_000);

            JsonNode evicted = audit(cairn).stream().filter(r -> r.path("kind").asText().equals(TEST_KIND)).findFirst()
                    .orElseThrow(() -> new AssertionError("no audit record of the test kind"));
            assertThat(evicted.path("repository").asText()).isEqualTo("tool/one");
            assertThat(evicted.path("digest").asText()).isEqualTo("k1");
            assertThat(evicted.path("reason").asText()).isEqualTo("budget");
            assertThat(audit(cairn).stream().filter(r -> r.path("digest").asText().equals(x.toString())).findFirst().orElseThrow()
                    .path("reason").asText()).as("the blob went for the reason its holder did").isEqualTo("budget");

            // The other way round: the image goes, the entry keeps the layer they share.
            cairn.node().keeper().invalidate(new Glob("oci/new"), Optional.empty(), Optional.empty(), false);
            assertThat(present(client, "oci/new", "v1")).isFalse();
            Thread.sleep(1600);
            cairn.node().keeper().collect(false);
            assertThat(cairn.node().metadata().blobRecordExists(l2)).as("oci/new is gone, k2 still holds its layer").isTrue();
            String unique = recent.configDigest();
            assertThat(cairn.node().metadata().blobRecordExists(Digest.parse(unique))).as("what only oci/new held went").isFalse();
        }
    }
}
