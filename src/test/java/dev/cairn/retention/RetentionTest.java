package dev.cairn.retention;

import dev.cairn.testing.SeededBytes;
import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/** The budget, LRU order, shared blobs, rules and the audit trail, against a real node. */
class RetentionTest {
    static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";

    /** Pushes an image whose layers are the given sizes (seeded, so the same seed shares a layer) under a tag. */
    static OciClient.Image push(OciClient client, String repository, String tag, long... layerSeedsAndSizes) throws InterruptedException {
        List<byte[]> layers = new ArrayList<>();
        for (int i = 0; i < layerSeedsAndSizes.length; i += 2) {
            layers.add(SeededBytes.of((int) layerSeedsAndSizes[i + 1], layerSeedsAndSizes[i]));
        }
        OciClient.Image image = client.prepareImage(repository, CONFIG_TYPE, layers.toArray(byte[][]::new));
        client.pushManifest(repository, tag, OCI_MANIFEST, image.manifest());
        Thread.sleep(5); // distinct millisecond timestamps
        return image;
    }

    static void pull(OciClient client, String repository, String tag) throws InterruptedException {
        assertThat(client.get("/v2/" + repository + "/manifests/" + tag).statusCode()).isEqualTo(200);
        Thread.sleep(5);
    }

    static boolean present(OciClient client, String repository, String tag) {
        return client.head("/v2/" + repository + "/manifests/" + tag).statusCode() == 200;
    }

    static List<JsonNode> audit(RunningCairn cairn) throws Exception {
        List<JsonNode> records = new ArrayList<>();
        for (String line : Files.readAllLines(cairn.dataDir().resolve("audit.log"))) {
            records.add(OciClient.JSON.readTree(line));
        }
        return records;
    }

    static JsonNode auditOf(RunningCairn cairn, String digest) throws Exception {
        return audit(cairn).stream().filter(r -> r.path("digest").asText().equals(digest)).findFirst()
                .orElseThrow(() -> new AssertionError("no audit record for " + digest));
    }

    @Test
    void leastRecentlyUsedGoFirstUntilUnderTheLowWatermark() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.grace", "1s",
                "retention.gc-interval", "1h", "retention.untagged", "keep",
                "retention.rules", "[{\"repositories\": \"keep/**\", \"evict\": \"never\"}]"))) {
            OciClient client = new OciClient(cairn);
            push(client, "keep/base", "v1", 100, 10_000); // oldest and never used, but never evicted
            OciClient.Image a = push(client, "lru/a", "v1", 1, 200_000);
            push(client, "lru/b", "v1", 2, 200_000);
            OciClient.Image c = push(client, "lru/c", "v1", 3, 200_000);
            push(client, "lru/d", "v1", 4, 200_000);
            for (String repo : List.of("lru/c", "lru/a", "lru/d", "lru/b")) pull(client, repo, "v1");
            Thread.sleep(1600); // read longer ago than the grace window plus the half window a batched read may lag: evicted blobs go at once; a new push's blobs stay protected

            push(client, "lru/e", "v1", 5, 200_000); // past the high watermark
            cairn.node().keeper().collect(false);
            assertThat(present(client, "lru/c", "v1")).as("least recently used").isFalse();
            // HEAD is a use too: checking in this order leaves d the least recently used
            for (String repo : List.of("lru/d", "lru/b", "lru/e", "lru/a", "keep/base")) {
                assertThat(present(client, repo, "v1")).as(repo).isTrue();
            }
            assertThat(cairn.node().keeper().storedBytes()).isLessThanOrEqualTo(850_000);

            // its unique layer is gone at once (it is older than the grace window)
            String cLayer = c.layerDigests().getFirst();
            assertThat(client.head("/v2/lru/c/blobs/" + cLayer).statusCode()).isEqualTo(404);
            assertThat(client.get("/v2/lru/c/blobs/" + cLayer).statusCode()).isEqualTo(404);
            assertThat(auditOf(cairn, c.digest()).path("reason").asText()).isEqualTo("budget");
            assertThat(auditOf(cairn, c.digest()).path("repository").asText()).isEqualTo("lru/c");
            assertThat(auditOf(cairn, cLayer).path("reason").asText()).isEqualTo("budget");
            assertThat(auditOf(cairn, cLayer).path("bytes").asLong()).isEqualTo(200_000);

            // a manifest pulled just before eviction survives: a was older than d, now it is the newest
            Thread.sleep(1600); // the HEADs above read d: past their grace window and the batching lag
            pull(client, "lru/a", "v1");
            push(client, "lru/f", "v1", 6, 200_000);
            cairn.node().keeper().collect(false);
            assertThat(present(client, "lru/a", "v1")).isTrue();
            assertThat(present(client, "lru/d", "v1")).as("now the least recently used").isFalse();
            assertThat(present(client, "keep/base", "v1")).isTrue();
            for (String layer : a.layerDigests()) assertThat(client.get("/v2/lru/a/blobs/" + layer).statusCode()).isEqualTo(200);
            assertThat(cairn.node().keeper().storedBytes()).isLessThanOrEqualTo(850_000);

            String metrics = OciClient.text(client.get("/metrics"));
            assertThat(metrics).contains("cairn_stored_bytes ", "cairn_budget_bytes 1000000",
                    "cairn_manifest_lookups_total{repository=\"lru/a\",result=\"hit\"}",
                    "cairn_evicted_manifests_total{reason=\"budget\"} 2.0", "cairn_evicted_bytes_total{reason=\"budget\"}",
                    "cairn_gc_duration_seconds_count", "cairn_blob_received_bytes_total", "cairn_blob_served_bytes_total");

            // no stale existence: a re-push of the deleted layer uploads it again
            HttpResponse<byte[]> again = client.post("/v2/lru/c/blobs/uploads/?digest=" + cLayer, SeededBytes.of(200_000, 3));
            assertThat(again.statusCode()).isEqualTo(201);
            assertThat(client.get("/v2/lru/c/blobs/" + cLayer).body()).isEqualTo(SeededBytes.of(200_000, 3));
        }
    }

    @Test
    void evictingAManifestFreesOnlyTheBytesNoSurvivorShares() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.low-watermark", "90%",
                "retention.grace", "1s", "retention.gc-interval", "1h", "retention.untagged", "keep"))) {
            OciClient client = new OciClient(cairn);
            OciClient.Image s1 = push(client, "shared/one", "v1", 7, 300_000, 8, 100_000);
            OciClient.Image s2 = push(client, "shared/two", "v1", 7, 300_000, 9, 100_000);
            pull(client, "shared/two", "v1");
            Thread.sleep(1600); // past the grace window and the batching lag: what goes, goes at once
            push(client, "shared/three", "v1", 10, 460_000);

            // the push past the high watermark wakes the collector; one more run makes sure it is done
            cairn.node().keeper().collect(false);
            assertThat(present(client, "shared/one", "v1")).isFalse();
            assertThat(present(client, "shared/two", "v1")).isTrue();
            assertThat(present(client, "shared/three", "v1")).isTrue();
            List<String> deleted = audit(cairn).stream().map(r -> r.path("digest").asText()).toList();
            assertThat(deleted).containsExactlyInAnyOrder(s1.digest(), s1.layerDigests().get(1), s1.configDigest());
            long configSize = OciClient.JSON.readTree(s1.manifest()).path("config").path("size").asLong();
            long freed = audit(cairn).stream().mapToLong(r -> r.path("bytes").asLong()).sum();
            assertThat(freed).isEqualTo(100_000 + s1.manifest().length + configSize);

            // the survivor that shares the big layer still pulls completely
            JsonNode manifest = OciClient.json(client.get("/v2/shared/two/manifests/v1"));
            for (JsonNode layer : manifest.path("layers")) {
                HttpResponse<byte[]> blob = client.get("/v2/shared/two/blobs/" + layer.path("digest").asText());
                assertThat(blob.statusCode()).isEqualTo(200);
                assertThat(sha256(blob.body())).isEqualTo(layer.path("digest").asText());
            }
            assertThat(client.get("/v2/shared/two/blobs/" + s2.configDigest()).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void rulesExpireByAgeIdlenessAndUntaggedAndNeverEvictHolds() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.grace", "0s", "retention.gc-interval", "1h",
                "retention.untagged", "delete-after 1s",
                "retention.rules", """
                        - repositories: "age/**"
                          max-age: 1s
                        - repositories: "idle/**"
                          max-idle: 1s
                        - repositories: "keep/**"
                          evict: never
                        """))) {
            OciClient client = new OciClient(cairn);
            OciClient.Image aged = push(client, "age/app", "v1", 20, 1000);
            OciClient.Image used = push(client, "idle/used", "v1", 21, 1000);
            OciClient.Image unused = push(client, "idle/unused", "v1", 22, 1000);
            push(client, "keep/app", "v1", 23, 1000);
            OciClient.Image tagged = push(client, "plain/app", "v1", 24, 1000);
            OciClient.Image untagged = client.prepareImage("plain/app", CONFIG_TYPE, SeededBytes.of(1000, 25));
            client.pushManifest("plain/app", untagged.digest(), OCI_MANIFEST, untagged.manifest());
            Thread.sleep(1300);
            pull(client, "idle/used", "v1");
            pull(client, "age/app", "v1"); // used, but too old since its push
            pull(client, "plain/app", "v1");

            cairn.node().keeper().collect(false);
            assertThat(present(client, "age/app", "v1")).isFalse();
            assertThat(present(client, "idle/unused", "v1")).isFalse();
            assertThat(client.head("/v2/plain/app/manifests/" + untagged.digest()).statusCode()).isEqualTo(404);
            assertThat(present(client, "idle/used", "v1")).isTrue();
            assertThat(present(client, "keep/app", "v1")).as("evict: never, though old and unused").isTrue();
            assertThat(present(client, "plain/app", "v1")).isTrue();

            assertThat(auditOf(cairn, aged.digest()).path("reason").asText()).isEqualTo("max-age");
            assertThat(auditOf(cairn, unused.digest()).path("reason").asText()).isEqualTo("max-idle");
            assertThat(auditOf(cairn, untagged.digest()).path("reason").asText()).isEqualTo("untagged");
            assertThat(auditOf(cairn, aged.layerDigests().getFirst()).path("kind").asText()).isEqualTo("blob");
            assertThat(audit(cairn)).noneMatch(r -> r.path("digest").asText().equals(used.digest())
                    || r.path("digest").asText().equals(tagged.digest()));
            assertThat(audit(cairn)).allSatisfy(r -> {
                assertThat(r.path("time").asText()).isNotEmpty();
                assertThat(r.path("bytes").asLong()).isPositive();
            });
        }
    }

    @Test
    void lruOrderSurvivesARestart() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "620000", "retention.grace", "1s",
                "retention.gc-interval", "1h", "retention.untagged", "keep", "registry.last-use-flush-interval", "1h"))) {
            OciClient client = new OciClient(cairn);
            push(client, "restart/x", "v1", 30, 200_000);
            push(client, "restart/y", "v1", 31, 200_000);
            pull(client, "restart/x", "v1"); // y is now the least recently used, known only in memory
            cairn.restart();
            Thread.sleep(1600);
            push(client, "restart/z", "v1", 32, 200_000);
            cairn.node().keeper().collect(false);
            assertThat(present(client, "restart/y", "v1")).isFalse();
            assertThat(present(client, "restart/x", "v1")).isTrue();
            assertThat(present(client, "restart/z", "v1")).isTrue();
        }
    }

    @Test
    void concurrentPushesAgainstANearlyFullHardLimitNeverLeaveMoreThanTheBudget() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.hard-limit", "true",
                "retention.gc-interval", "1s", "retention.rules", "[{\"repositories\": \"**\", \"evict\": \"never\"}]"))) {
            OciClient client = new OciClient(cairn);
            client.pushBlob("hard/full", SeededBytes.of(800_000, 50));
            java.util.List<java.util.concurrent.Future<Integer>> pushes = new java.util.ArrayList<>();
            try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 16; i++) {
                    byte[] blob = SeededBytes.of(50_000, 60 + i);
                    // half of them twice at once: one copy is kept, and counted once
                    for (int copy = 0; copy < (i % 2 == 0 ? 2 : 1); copy++) {
                        pushes.add(pool.submit(() -> client.post("/v2/hard/full/blobs/uploads/?digest=" + sha256(blob), blob).statusCode()));
                    }
                }
            }
            int stored = 0;
            for (var push : pushes) {
                int status = push.get();
                assertThat(status).isIn(201, 507);
                if (status == 201) stored++;
            }
            assertThat(stored).as("pushes that found room").isPositive();
            long records = cairn.node().metadata().storedBytes();
            assertThat(records).as("stored bytes, as the records count them").isLessThanOrEqualTo(1_000_000);
            // the running count may count a push twice while a collection corrects it, never miss one
            assertThat(cairn.node().keeper().storedBytes()).isGreaterThanOrEqualTo(records);
            cairn.node().keeper().collect(false);
            assertThat(cairn.node().keeper().storedBytes()).isEqualTo(cairn.node().metadata().storedBytes());
            assertThat(OciClient.text(client.get("/metrics"))).contains("cairn_stored_bytes_drift ");
        }
    }

    @Test
    void theHardLimitRefusesWhatNothingCanMakeRoomFor() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "500000", "retention.hard-limit", "true",
                "retention.gc-interval", "1s", "retention.rules", "[{\"repositories\": \"**\", \"evict\": \"never\"}]"))) {
            OciClient client = new OciClient(cairn);
            client.pushBlob("hard/app", SeededBytes.of(300_000, 40));
            byte[] second = SeededBytes.of(300_000, 41);
            HttpResponse<byte[]> refused = client.post("/v2/hard/app/blobs/uploads/?digest=" + sha256(second), second);
            assertThat(refused.statusCode()).isEqualTo(507);
            assertThat(errorCode(refused)).isEqualTo("BUDGET_EXCEEDED");
            assertThat(client.head("/v2/hard/app/blobs/" + sha256(second)).statusCode()).isEqualTo(404);
            assertThat(cairn.node().keeper().storedBytes()).isEqualTo(300_000);
        }
    }
}
