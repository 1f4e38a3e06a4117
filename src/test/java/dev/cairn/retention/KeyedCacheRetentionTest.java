package dev.cairn.retention;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.values.Glob;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;

import static dev.cairn.retention.RetentionTest.audit;
import static dev.cairn.retention.RetentionTest.present;
import static dev.cairn.retention.RetentionTest.push;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Keys written through {@code /cache} are entries like images: one budget, one LRU order across both (a
 * read of a key counts as a use), an audit record for each key evicted, and invalidation by namespace.
 */
class KeyedCacheRetentionTest {

    @Test
    void keysAreEvictedBesideImagesLeastRecentlyUsedFirstAndInvalidatedByNamespace() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.high-watermark", "90%",
                "retention.low-watermark", "60%", "retention.grace", "1s", "retention.gc-interval", "1h", "retention.untagged", "keep"))) {
            OciClient client = new OciClient(cairn);
            assertThat(client.put("/cache/tools/old", SeededBytes.of(250_000, 1)).statusCode()).isEqualTo(201);
            Thread.sleep(5);
            push(client, "oci/img", "v1", 2, 150_000, 3, 150_000);
            assertThat(client.put("/cache/tools/new", SeededBytes.of(250_000, 4)).statusCode()).isEqualTo(201);
            Thread.sleep(1600); // past the grace window

            assertThat(client.get("/cache/tools/old").statusCode()).as("a use: old is now the most recently used").isEqualTo(200);
            Thread.sleep(5);
            assertThat(client.put("/cache/tools/last", SeededBytes.of(250_000, 5)).statusCode()).isEqualTo(201);
            // About 1,050,000 bytes, past the high watermark. LRU order: oci/img, new, old, last. Down to 600,000:
            // the image (300,000) and then the key 'new' (250,000) go.
            cairn.node().keeper().collect(false);

            assertThat(present(client, "oci/img", "v1")).as("least recently used").isFalse();
            assertThat(client.get("/cache/tools/new").statusCode()).as("next in LRU order").isEqualTo(404);
            assertThat(client.get("/cache/tools/old").statusCode()).as("read after it was written").isEqualTo(200);
            assertThat(client.get("/cache/tools/last").statusCode()).isEqualTo(200);
            assertThat(cairn.node().keeper().storedBytes()).isLessThanOrEqualTo(600_000);
            JsonNode evicted = audit(cairn).stream().filter(r -> r.path("digest").asText().equals("new")).findFirst()
                    .orElseThrow(() -> new AssertionError("no audit record of the evicted key"));
            assertThat(evicted.path("kind").asText()).isEqualTo("cache");
            assertThat(evicted.path("repository").asText()).isEqualTo("tools");
            assertThat(evicted.path("reason").asText()).isEqualTo("budget");

            cairn.node().keeper().invalidate(new Glob("tools"), Optional.empty(), Optional.empty(), false);
            assertThat(client.get("/cache/tools/old").statusCode()).as("invalidated with its namespace").isEqualTo(404);
            assertThat(client.get("/cache/tools/last").statusCode()).isEqualTo(404);
            assertThat(audit(cairn).stream().filter(r -> r.path("digest").asText().equals("last")).findFirst().orElseThrow()
                    .path("reason").asText()).isEqualTo("invalidated");
        }
    }

    @Test
    void aRulesMaxBytesCapsWhatItsNamespacesHoldLeastRecentlyUsedFirstAndLeavesTheRestAlone() throws Exception {
        String rules = """
                - repositories: "tools-*"
                  max-bytes: 500000
                """;
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "100000000", "retention.grace", "1s",
                "retention.gc-interval", "1h", "retention.untagged", "keep", "retention.rules", rules))) {
            OciClient client = new OciClient(cairn);
            push(client, "oci/img", "v1", 1, 300_000);
            for (int i = 0; i < 4; i++) {
                assertThat(client.put("/cache/tools-a/k" + i, SeededBytes.of(150_000, 10 + i)).statusCode()).isEqualTo(201);
                Thread.sleep(5);
            }
            assertThat(client.put("/cache/tools-b/shared", SeededBytes.of(150_000, 10)).statusCode())
                    .as("the same content as tools-a/k0: it counts for each name that holds it").isEqualTo(201);
            assertThat(client.put("/cache/other/k", SeededBytes.of(400_000, 20)).statusCode()).isEqualTo(201);
            Thread.sleep(1700); // past the grace window and the batching lag: what was written may go
            assertThat(client.get("/cache/tools-a/k0").statusCode()).as("k0 used: now the most recent of tools-*").isEqualTo(200);
            Thread.sleep(5);

            // tools-a and tools-b hold 750,000 together, over 500,000: k1 and then k2 (least recently used) go.
            var report = cairn.node().keeper().collect(true);
            assertThat(report.evictedCount()).as("a dry run plans the same").isEqualTo(2);
            cairn.node().keeper().collect(false);
            assertThat(client.get("/cache/tools-a/k1").statusCode()).isEqualTo(404);
            assertThat(client.get("/cache/tools-a/k2").statusCode()).isEqualTo(404);
            for (String kept : new String[]{"/cache/tools-a/k0", "/cache/tools-a/k3", "/cache/tools-b/shared", "/cache/other/k"}) {
                assertThat(client.get(kept).statusCode()).as(kept).isEqualTo(200);
            }
            assertThat(present(client, "oci/img", "v1")).as("not governed by the rule, and the budget is far").isTrue();
            assertThat(audit(cairn).stream().filter(r -> r.path("digest").asText().equals("k1")).findFirst().orElseThrow()
                    .path("reason").asText()).isEqualTo("cap");
        }
    }

    @Test
    void aRulesMaxIdleExpiresKeysOfTheNamespacesItGoverns() throws Exception {
        String rules = """
                - repositories: "pr-*"
                  max-idle: 1s
                """;
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.grace", "1s", "retention.gc-interval", "1h", "retention.rules", rules))) {
            OciClient client = new OciClient(cairn);
            assertThat(client.put("/cache/pr-17/k", SeededBytes.of(1000, 1)).statusCode()).isEqualTo(201);
            assertThat(client.put("/cache/main/k", SeededBytes.of(1000, 2)).statusCode()).isEqualTo(201);
            Thread.sleep(1500);
            cairn.node().keeper().collect(false);
            assertThat(client.get("/cache/pr-17/k").statusCode()).as("idle past its rule's max-idle").isEqualTo(404);
            assertThat(client.get("/cache/main/k").statusCode()).as("no rule for it").isEqualTo(200);
            assertThat(audit(cairn).stream().filter(r -> r.path("repository").asText().equals("pr-17")).findFirst().orElseThrow()
                    .path("reason").asText()).isEqualTo("max-idle");
        }
    }
}
