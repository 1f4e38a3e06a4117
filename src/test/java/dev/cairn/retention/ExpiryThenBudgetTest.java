package dev.cairn.retention;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A collection that first expires entries and then evicts for the budget reaches the low watermark in one run,
 * as its dry run said: the blobs the expiry freed are counted once (they are still stored, and unheld), not
 * subtracted twice, which left the store above its high watermark until the next run.
 */
class ExpiryThenBudgetTest {
    @Test
    void expiryAndBudgetInOneCollectionReachTheLowWatermark() throws Exception {
        // pushed under a large budget (no push-triggered run), then restarted with a small one
        try (RunningCairn cairn = RunningCairn.start(new java.util.LinkedHashMap<>(Map.of("retention.max-bytes", "100000000",
                "retention.grace", "1s", "retention.gc-interval", "1h", "retention.untagged", "keep",
                "retention.rules", "[{\"repositories\": \"old/**\", \"max-age\": \"5s\"}]")))) {
            OciClient client = new OciClient(cairn);
            RetentionTest.push(client, "old/x", "v1", 100, 300_000);
            Thread.sleep(5500);
            for (int i = 0; i < 5; i++) RetentionTest.push(client, "lru/" + i, "v1", 101 + i, 200_000);
            Thread.sleep(1700); // past grace + half
            cairn.restartWith(Map.of("retention.max-bytes", "1000000")); // high 950,000, low 850,000
            CollectionReport dry = cairn.node().keeper().collect(true);
            CollectionReport real = cairn.node().keeper().collect(false);
            assertThat(real.evicted()).extracting(u -> u.repository() + " " + u.reason()).containsExactly("old/x max-age", "lru/0 budget");
            assertThat(real.evictedCount()).as("the dry run's plan").isEqualTo(dry.evictedCount());
            assertThat(real.storedBytesAfter()).as("at or below the low watermark").isLessThanOrEqualTo(850_000);
        }
    }
}
