package dev.cairn.metadata;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A database that an earlier build of this branch migrated, where a column of a later migration already
 * came with an earlier one (retired_limit with V5, upload owners as V6), opens with today's migrations.
 */
class MigrationReorderTest {
    @Test
    void aColumnAnEarlierMigrationAlreadyAddedIsNotAddedAgain(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("cairn.db");
        try (JdbcMetadataStore fresh = JdbcMetadataStore.sqlite(file)) {
            fresh.ping();
        }
        // put it back to "version 6 of the earlier build": retired_limit and owner exist, V7 not yet recorded
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file); Statement s = c.createStatement()) {
            s.executeUpdate("DELETE FROM schema_version WHERE version >= 7");
            s.executeUpdate("DROP INDEX uploads_by_owner");
            s.executeUpdate("DROP TABLE keyed_entries"); // V8, which came after
            s.executeUpdate("DROP TABLE keyed_entry_blobs");
        }
        try (JdbcMetadataStore reopened = JdbcMetadataStore.sqlite(file)) {
            assertThat(reopened.countUploadsOf("user ci-1")).isZero();
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file); Statement s = c.createStatement();
             var r = s.executeQuery("SELECT MAX(version) FROM schema_version")) {
            assertThat(r.next()).isTrue();
            assertThat(r.getInt(1)).as("every migration ran, to the latest").isEqualTo(SchemaMigrations.MIGRATIONS.size());
        }
    }
}
