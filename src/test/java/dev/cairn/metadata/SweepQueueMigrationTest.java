package dev.cairn.metadata;

import dev.cairn.testing.Postgres;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A store written before the sweep's marks and the new links had tables of their own (schema version 14) opens with
 * today's: its marks keep their reasons, the links its last look may not have seen are looked at, nothing else is,
 * every record is kept, and on SQLite the tables a collection deletes from most are rebuilt in key order.
 */
class SweepQueueMigrationTest {
    private static final String REPO = "migrated/app";
    private static final long NOW = System.currentTimeMillis();
    /** Where the last look before the upgrade started. */
    private static final long LOOKED_AT = NOW - 600_000;

    private final Digest referenced = Digest.sha256("held by a manifest".getBytes());
    private final Digest evicted = Digest.sha256("freed by an eviction, not swept yet".getBytes());
    private final Digest seen = Digest.sha256("abandoned upload the last look saw".getBytes());
    private final Digest unseen = Digest.sha256("upload made after the last look".getBytes());
    private final Digest waited = Digest.sha256("upload whose transaction waited across the look".getBytes());
    private final Digest manifest = Digest.sha256("the manifest".getBytes());

    @Test
    void aSqliteStoreOfVersion14Upgrades(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("cairn.db");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file)) {
            writeVersion14Store(c, Dialect.SQLITE);
        }
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(file)) {
            assertUpgraded(store);
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file); Statement s = c.createStatement()) {
            for (String table : List.of("blobs", "repository_blobs", "manifest_references")) {
                try (ResultSet r = s.executeQuery("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '" + table + "'")) {
                    assertThat(r.next()).isTrue();
                    assertThat(r.getString(1)).as(table).contains("WITHOUT ROWID");
                }
            }
            try (ResultSet r = s.executeQuery("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
                    + "('blobs', 'repository_blobs', 'manifest_references') AND sql IS NOT NULL ORDER BY name")) {
                List<String> indexes = new java.util.ArrayList<>();
                while (r.next()) indexes.add(r.getString(1));
                assertThat(indexes).containsExactly("manifest_references_by_reference_repository", "repository_blobs_by_digest");
            }
        }
    }

    @Test
    void aPostgresStoreOfVersion14Upgrades() throws Exception {
        Postgres pg = Postgres.shared();
        String url = pg.newDatabase();
        try {
            try (Connection c = pg.connect(url)) {
                writeVersion14Store(c, Dialect.POSTGRES);
            }
            try (JdbcMetadataStore store = JdbcMetadataStore.postgres(url, pg.user(), pg.password(), 4)) {
                assertUpgraded(store);
            }
        } finally {
            pg.dropDatabase(url);
        }
    }

    /**
     * A last look recorded a day ahead (a collecting node whose clock ran ahead): the links written after it carried at
     * most ten minutes past their node's clock (the old pushes' bound), so the upgrade queues from there, not from a day
     * ahead; a start that is not a time after the epoch queues every link.
     */
    @Test
    void anUpgradeQueuesTheLinksOfALookFarAheadOrOfNoSensibleTime(@TempDir Path dir) throws Exception {
        Digest clamped = Digest.sha256("abandoned after a look a day ahead; its link moved ten minutes ahead".getBytes());
        Path ahead = dir.resolve("ahead.db");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + ahead); Statement s = c.createStatement()) {
            writeVersion14Store(c, Dialect.SQLITE);
            s.executeUpdate("UPDATE settings SET value = '" + (NOW + 86_400_000L) + "' WHERE name = 'sweep.links-looked-at'");
            blob(s, clamped, 600, NOW + 600_000, null);
        }
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(ahead)) {
            assertThat(store.markNewLinks(100)).isEqualTo(1);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactlyInAnyOrder(evicted, clamped);
        }
        Path odd = dir.resolve("odd.db");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + odd); Statement s = c.createStatement()) {
            writeVersion14Store(c, Dialect.SQLITE);
            s.executeUpdate("UPDATE settings SET value = '" + Long.MIN_VALUE + "' WHERE name = 'sweep.links-looked-at'");
        }
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(odd)) {
            assertThat(store.markNewLinks(100)).as("every link no manifest references and nothing marked yet").isEqualTo(3);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactlyInAnyOrder(evicted, seen, unseen, waited);
        }
    }

    private void assertUpgraded(JdbcMetadataStore store) {
        Map<Digest, String> reasons = new HashMap<>();
        for (RetentionRecords.SweepableBlob blob : store.sweepable(java.time.Instant.ofEpochMilli(NOW + 1), 100)) {
            reasons.put(blob.digest(), blob.reason().wireName());
        }
        assertThat(reasons).as("the marks, with their reasons").containsExactlyInAnyOrderEntriesOf(Map.of(evicted, "budget"));
        assertThat(store.heldBytes()).as("every record but the marked blob nothing holds").isEqualTo(100 + 300 + 400 + 500 + 2);
        assertThat(store.markNewLinks(100)).as("the links the last look may not have seen, that no manifest references").isEqualTo(2);
        assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactlyInAnyOrder(evicted, unseen, waited);
        RepositoryName repo = RepositoryName.of(REPO);
        for (Digest digest : List.of(referenced, evicted, seen, unseen, waited)) {
            assertThat(store.linkedBlob(repo, digest)).as("kept: %s", digest).isPresent();
        }
        assertThat(store.manifest(repo, manifest)).isPresent();
        assertThat(store.heldBytes()).as("less the uploads no manifest came for").isEqualTo(100 + 300 + 2);
    }

    /** The schema as migrations 1 to 14 left it, in {@code dialect}, holding one of each kind of record. */
    private void writeVersion14Store(Connection c, Dialect dialect) throws Exception {
        try (Statement s = c.createStatement()) {
            s.executeUpdate("CREATE TABLE schema_version (version INTEGER NOT NULL)");
            for (int version = 1; version <= 14; version++) {
                String name = SchemaMigrations.MIGRATIONS.get(version - 1);
                try (InputStream in = SchemaMigrations.class.getResourceAsStream(name)) {
                    String sql = new String(in.readAllBytes(), StandardCharsets.UTF_8).replaceAll("(?m)--.*$", "")
                            .replace("${text}", dialect.text).replace("${blob}", dialect.blob).replace("${serial}", dialect.serial);
                    for (String statement : sql.split(";")) {
                        if (!statement.isBlank()) s.executeUpdate(statement);
                    }
                }
                s.executeUpdate("INSERT INTO schema_version (version) VALUES (" + version + ")");
            }
            s.executeUpdate("INSERT INTO repositories (name, created_at) VALUES ('" + REPO + "', 0)");
            s.executeUpdate("INSERT INTO settings (name, value) VALUES ('sweep.links-looked-at', '" + LOOKED_AT + "')");
            blob(s, referenced, 100, LOOKED_AT - 60_000, null);
            blob(s, evicted, 200, LOOKED_AT - 60_000, "budget");
            blob(s, seen, 300, LOOKED_AT - 120_000, null);
            blob(s, unseen, 400, LOOKED_AT + 1_000, null);
            blob(s, waited, 500, LOOKED_AT - 30_000, null); // inside the minute a look reads back
            s.executeUpdate("INSERT INTO manifests (repository, digest, media_type, content, size, pushed_at, last_used_at) VALUES ('" + REPO + "', '"
                    + manifest + "', 'application/vnd.oci.image.manifest.v1+json', " + (dialect == Dialect.SQLITE ? "X'7b7d'" : "'\\x7b7d'")
                    + ", 2, 0, 0)");
            s.executeUpdate("INSERT INTO manifest_references (repository, manifest, reference) VALUES ('" + REPO + "', '" + manifest + "', '" + referenced + "')");
        }
    }

    private static void blob(Statement s, Digest digest, long size, long linkedAt, String freedReason) throws Exception {
        s.executeUpdate("INSERT INTO blobs (digest, size, created_at, last_used_at, freed_reason) VALUES ('" + digest + "', " + size + ", 0, 0, "
                + (freedReason == null ? "NULL" : "'" + freedReason + "'") + ")");
        s.executeUpdate("INSERT INTO repository_blobs (repository, digest, linked_at) VALUES ('" + REPO + "', '" + digest + "', " + linkedAt + ")");
    }
}
