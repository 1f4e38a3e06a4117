package dev.cairn.metadata;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The lookups the collector makes per entry or per blob find their rows by every column they are given, on the schema
 * as migrated. SQLite's planner has more than once answered one of them from an index on the repository alone, reading
 * every row of the repository per call: invisible in small tests, days at scale.
 */
class QueryPlanTest {
    /** A lookup, and the index and columns its plan must search by. */
    private static final Map<String, String> LOOKUPS = Map.ofEntries(
            // a manifest's references (the deletion of retired manifests)
            Map.entry("SELECT reference FROM manifest_references WHERE repository = ? AND manifest = ?", "PRIMARY KEY (repository=? AND manifest=?)"),
            // does a live manifest anywhere hold the blob (the eviction and the sweep, per blob)
            Map.entry("SELECT 1 FROM manifest_references r WHERE r.reference = ?", "manifest_references_by_reference_repository (reference=?)"),
            // the sweep: a blob's links, and whether a repository still links it
            Map.entry("SELECT 1 FROM repository_blobs l WHERE l.digest = ?", "repository_blobs_by_digest (digest=?)"),
            // what the marked blobs nothing holds weigh (the budget's plan, once a collection): driven by the marks
            Map.entry(SqlEntryListing.UNHELD_BLOB_BYTES, "sqlite_autoindex_sweep_marks_1 FOR IN-OPERATOR"),
            // the look at new links: is the link's blob referenced in its repository
            Map.entry("SELECT 1 FROM manifest_references r WHERE r.repository = ? AND r.reference = ?", "manifest_references_by_reference_repository (reference=? AND repository=?)"),
            // a run of units' records, read together (the eviction, 100 members a statement): their rows, the
            // manifests that list each, what each lists, their tags
            Map.entry(SqlUnitEvictions.ROWS + SqlUnitEvictions.orOfPairs("repository", "digest", 2),
                    "sqlite_autoindex_manifests_1 (repository=? AND digest=?)"),
            Map.entry(SqlUnitEvictions.REFERRERS + SqlUnitEvictions.orOfPairs("repository", "reference", 2),
                    "manifest_references_by_reference_repository (reference=? AND repository=?)"),
            Map.entry(SqlUnitEvictions.REFERENCES + SqlUnitEvictions.orOfPairs("repository", "manifest", 2),
                    "PRIMARY KEY (repository=? AND manifest=?)"),
            Map.entry(SqlUnitEvictions.TAGS + SqlUnitEvictions.orOfPairs("repository", "digest", 2),
                    "tags_by_digest (repository=? AND digest=?)"));

    @Test
    void theCollectorsLookupsSearchByEveryColumnTheyAreGiven(@TempDir Path dir) throws Exception {
        Path db = dir.resolve("cairn.db");
        JdbcMetadataStore.sqlite(db).close(); // the schema, migrated
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db); Statement s = c.createStatement()) {
            for (Map.Entry<String, String> lookup : LOOKUPS.entrySet()) {
                List<String> plan = new ArrayList<>();
                try (ResultSet r = s.executeQuery("EXPLAIN QUERY PLAN " + lookup.getKey().replace("?", "'x'"))) {
                    while (r.next()) plan.add(r.getString(4));
                }
                assertThat(plan).as(lookup.getKey()).anySatisfy(step -> assertThat(step).endsWith(lookup.getValue()));
                assertThat(plan).as("%s reads no table whole", lookup.getKey()).noneMatch(step -> step.startsWith("SCAN "));
            }
        }
    }
}
