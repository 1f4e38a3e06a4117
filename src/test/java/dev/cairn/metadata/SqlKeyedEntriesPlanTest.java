package dev.cairn.metadata;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * SQLite's plan for a blob an entry of a namespace holds (every key an export reads, every Bazel CAS read that falls
 * back to an action result's outputs): through the digest's index, never a walk of the namespace by the primary key,
 * which made an export of 150,000 keys quadratic (found by a reviewer at that scale). Read from EXPLAIN QUERY PLAN
 * over a namespace of many keys, as the query runs.
 */
class SqlKeyedEntriesPlanTest {
    @Test
    void aHeldBlobIsFoundThroughItsDigestsIndex(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("plan.db"))) {
            RepositoryName ns = RepositoryName.of("big");
            Instant now = Instant.now();
            for (int i = 0; i < 2_000; i++) {
                Digest content = Digest.sha256(("key " + i).getBytes());
                store.putContent("cache", ns, String.format("k/%05d", i), content, 10, List.of(), EntryRecords.ContentNotes.NONE, now);
            }
            List<String> plan = store.database().read(c -> {
                List<String> lines = new ArrayList<>();
                try (PreparedStatement s = c.prepareStatement("EXPLAIN QUERY PLAN " + SqlKeyedEntries.HELD_CONTENT)) {
                    s.setString(1, Digest.sha256("key 1999".getBytes()).toString());
                    s.setString(2, "cache");
                    s.setString(3, "big");
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) lines.add(r.getString("detail"));
                    }
                }
                return lines;
            });
            assertThat(plan).as(String.join("\n", plan)).anyMatch(l -> l.contains("SEARCH k USING INDEX keyed_entry_blobs_by_digest"));
            assertThat(store.heldContent("cache", ns, Digest.sha256("key 1999".getBytes()))).isPresent();
        }
    }
}
