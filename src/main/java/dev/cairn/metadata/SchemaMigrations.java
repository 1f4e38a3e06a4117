package dev.cairn.metadata;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import static dev.cairn.metadata.Statements.update;

/**
 * The schema, as numbered migrations run at start (V1__registry.sql ...), each in the dialect of its
 * database; on PostgreSQL one node migrates while the others wait.
 */
final class SchemaMigrations {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SchemaMigrations.class);
    static final List<String> MIGRATIONS = List.of("V1__registry.sql", "V2__retention.sql", "V3__audit.sql", "V4__shared_uploads.sql", "V5__retired_manifests.sql",
            "V6__retirement_limit.sql", "V7__upload_owners.sql", "V8__keyed_entries.sql", "V9__collection_order.sql",
            "V10__sweep_marks.sql", "V11__link_time_order.sql", "V12__one_reference_index.sql", "V13__keyed_content.sql", "V14__keyed_entries_by_namespace.sql",
            "V15__sweep_queues.sql", "V16__clustered_tables.sql", "V17__repository_origin.sql");

    private final SqlDatabase database;
    private final PostgresAdvisoryLocks advisoryLocks;

    private SchemaMigrations(SqlDatabase database, PostgresAdvisoryLocks advisoryLocks) {
        this.database = database;
        this.advisoryLocks = advisoryLocks;
    }

    /** Brings the schema up to date; {@code advisoryLocks} is null for SQLite. */
    static void apply(SqlDatabase database, PostgresAdvisoryLocks advisoryLocks) {
        new SchemaMigrations(database, advisoryLocks).migrate();
    }

    private void migrate() {
        if (database.dialect != Dialect.POSTGRES) {
            migrateHoldingLock();
            return;
        }
        // Nodes starting together: one migrates, the others wait and then find nothing to do.
        advisoryLocks.whileMigrating(this::migrateHoldingLock);
    }

    private void migrateHoldingLock() {
        database.write(c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
            }
            int current = 0;
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT MAX(version) FROM schema_version")) {
                if (r.next()) current = r.getInt(1);
            }
            if (current > 0 && current < MIGRATIONS.size()) {
                log.info("upgrading the schema from version {} to {}; some upgrades rewrite tables, minutes on a store of millions of blobs",
                        current, MIGRATIONS.size());
            }
            for (int version = current + 1; version <= MIGRATIONS.size(); version++) {
                long started = System.nanoTime();
                for (String statement : migrationStatements(c, MIGRATIONS.get(version - 1))) {
                    if (addsColumnThatExists(c, statement)) continue;
                    try (Statement s = c.createStatement()) {
                        s.executeUpdate(statement);
                    }
                }
                update(c, "INSERT INTO schema_version (version) VALUES (?)", version);
                // An upgrade that rewrites tables takes minutes on a store of millions of blobs, before the node answers:
                // say what it did. (A new store runs every migration on empty tables in milliseconds.)
                long tookMillis = (System.nanoTime() - started) / 1_000_000;
                if (current > 0 || tookMillis >= 1_000) log.info("schema migrated to version {} ({}) in {} ms", version, MIGRATIONS.get(version - 1), tookMillis);
            }
            return null;
        });
    }

    private static final java.util.regex.Pattern ADD_COLUMN =
            java.util.regex.Pattern.compile("(?is)ALTER\\s+TABLE\\s+(\\w+)\\s+ADD\\s+COLUMN\\s+(\\w+)\\b.*");

    /**
     * Whether {@code statement} adds a column the table already has. Columns added are never dropped, so a
     * database an earlier build of a migration already gave the column (during development, a migration's
     * content moved to a later one) takes the later one without failing; SQLite has no ADD COLUMN IF NOT EXISTS.
     */
    private static boolean addsColumnThatExists(Connection c, String statement) throws SQLException {
        java.util.regex.Matcher m = ADD_COLUMN.matcher(statement);
        if (!m.matches()) return false;
        try (ResultSet columns = c.getMetaData().getColumns(null, null, m.group(1), null)) {
            while (columns.next()) {
                if (columns.getString("COLUMN_NAME").equalsIgnoreCase(m.group(2))) return true;
            }
        }
        return false;
    }

    /**
     * The statements of migration {@code name}, in this database's dialect: from {@code V<n>__<name>.postgres.sql} where
     * PostgreSQL needs other statements than SQLite (a file with none makes the migration a no-op there).
     */
    private List<String> migrationStatements(Connection c, String name) throws SQLException {
        String own = name.replaceFirst("\\.sql$", "." + database.dialect.name().toLowerCase(java.util.Locale.ROOT) + ".sql");
        InputStream found = SchemaMigrations.class.getResourceAsStream(own);
        try (InputStream in = found != null ? found : SchemaMigrations.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("missing migration " + name);
            String sql = new String(in.readAllBytes(), StandardCharsets.UTF_8)
                    .replaceAll("(?m)--.*$", "")
                    .replace("${text}", database.dialect.text)
                    .replace("${blob}", database.dialect.blob)
                    .replace("${serial}", database.dialect.serial);
            if (sql.contains(LAST_LINK_LOOK)) sql = sql.replace(LAST_LINK_LOOK, Long.toString(lastLinkLook(c)));
            List<String> statements = new ArrayList<>();
            for (String statement : sql.split(";")) {
                if (!statement.isBlank()) statements.add(statement.strip());
            }
            return statements;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read migration " + name, e);
        }
    }

    /** Where V15 takes the links the last look may not have seen from: read here, as the setting may hold anything. */
    private static final String LAST_LINK_LOOK = "${last_link_look}";

    /**
     * Where the last look at new links (before V15 made them a table) started, less a minute for pushes whose
     * transactions waited across it (as those looks did themselves); 0, so every link, when there was none or the
     * setting is not a time. A start more than ten minutes ahead of this node's clock counts as ten minutes ahead:
     * the links written meanwhile carried at most that (the old linkBlob's bound), and must be looked at.
     */
    private static long lastLinkLook(Connection c) throws SQLException {
        List<String> value = Statements.strings(c, "SELECT value FROM settings WHERE name = 'sweep.links-looked-at'");
        long lookedAt;
        try {
            lookedAt = value.isEmpty() ? 0 : Long.parseLong(value.getFirst());
        } catch (NumberFormatException e) {
            return 0;
        }
        if (lookedAt <= 0) return 0;
        long mostAhead = System.currentTimeMillis() + java.time.Duration.ofMinutes(10).toMillis();
        return Math.max(0, Math.min(lookedAt, mostAhead) - java.time.Duration.ofMinutes(1).toMillis());
    }
}
