package dev.cairn.metadata;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;
import dev.cairn.storage.UploadLedger;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

import static dev.cairn.metadata.SqlAuditEvents.insertManifestAuditEvent;
import static dev.cairn.metadata.Statements.exists;
import static dev.cairn.metadata.Statements.strings;
import static dev.cairn.metadata.Statements.update;

/**
 * {@link MetadataStore} over JDBC. The SQL is shared by SQLite and PostgreSQL (both take
 * {@code INSERT ... ON CONFLICT}); only the connection set-up and the binary column type differ.
 */
public final class JdbcMetadataStore implements MetadataStore, RetentionRecords, UploadLedger {
    /** Migrations in order; each runs once, recorded in schema_version. */
    /** PostgreSQL only: the cross-node locks, on connections of their own. */
    private final PostgresAdvisoryLocks advisoryLocks;

    private final SqlDatabase database;
    private final SqlUploadRecords uploads;
    private final SqlAuditEvents auditEvents;
    private final SqlRetentionRecords retention;

    private JdbcMetadataStore(SqlDatabase database, PostgresAdvisoryLocks advisoryLocks) {
        this.database = database;
        this.advisoryLocks = advisoryLocks;
        this.uploads = new SqlUploadRecords(database);
        this.auditEvents = new SqlAuditEvents(database);
        this.retention = new SqlRetentionRecords(database);
    }

    /** The embedded store: one SQLite file in WAL mode, durable at every commit. */
    public static JdbcMetadataStore sqlite(Path file) {
        SqliteNativeLibrary.useCopyUnder(file.toAbsolutePath().getParent().resolve("native"));
        SQLiteConfig config = new SQLiteConfig();
        config.setJournalMode(SQLiteConfig.JournalMode.WAL);
        config.setSynchronous(SQLiteConfig.SynchronousMode.FULL);
        config.setBusyTimeout(30_000);
        config.setTransactionMode(SQLiteConfig.TransactionMode.IMMEDIATE);
        config.enforceForeignKeys(false);
        SQLiteDataSource sqlite = new SQLiteDataSource(config);
        sqlite.setUrl("jdbc:sqlite:" + file.toAbsolutePath());
        HikariConfig pool = new HikariConfig();
        pool.setDataSource(sqlite);
        pool.setPoolName("cairn-sqlite");
        pool.setMaximumPoolSize(8);
        pool.setMinimumIdle(1);
        JdbcMetadataStore store = new JdbcMetadataStore(new SqlDatabase(new HikariDataSource(pool), Dialect.SQLITE, new ReentrantLock(true)), null);
        SchemaMigrations.apply(store.database, null);
        return store;
    }

    /** The shared store: a PostgreSQL database, through a connection pool of {@code poolSize}. */
    public static JdbcMetadataStore postgres(String jdbcUrl, String user, String password, int poolSize) {
        HikariConfig pool = new HikariConfig();
        pool.setJdbcUrl(jdbcUrl);
        pool.setUsername(user);
        pool.setPassword(password);
        pool.setPoolName("cairn-postgres");
        pool.setMaximumPoolSize(poolSize);
        pool.setMinimumIdle(1);
        pool.setConnectionTimeout(10_000);
        pool.setInitializationFailTimeout(30_000);
        HikariConfig locks = new HikariConfig();
        pool.copyStateTo(locks);
        locks.setPoolName("cairn-postgres-locks");
        locks.setMaximumPoolSize(Math.max(2, poolSize / 2));
        locks.setMinimumIdle(0);
        // A lock held by a node that lost its network must not stall the others for ever.
        // A node that vanishes from the network (no reset reaches the database) must not keep its locks for the
        // kernel's default two hours: the server probes an idle lock session after 10 s and drops it after
        // three unanswered probes 5 s apart, so another node takes over within about 25 s.
        locks.setConnectionInitSql("SET lock_timeout = '60s'; SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
                + "SET tcp_keepalives_count = 3");
        HikariDataSource main = new HikariDataSource(pool);
        JdbcMetadataStore store = new JdbcMetadataStore(new SqlDatabase(main, Dialect.POSTGRES, null),
                new PostgresAdvisoryLocks(new HikariDataSource(locks)));
        SchemaMigrations.apply(store.database, store.advisoryLocks);
        return store;
    }

    // ---- blobs ----

    @Override
    public boolean isBlobLinked(RepositoryName repository, Digest digest) {
        return read(c -> exists(c, "SELECT 1 FROM repository_blobs WHERE repository = ? AND digest = ?",
                repository.value(), digest.toString()));
    }

    @Override
    public Optional<LinkedBlob> linkedBlob(RepositoryName repository, Digest digest) {
        return read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT b.size, b.last_used_at FROM repository_blobs l JOIN blobs b ON b.digest = l.digest "
                    + "WHERE l.repository = ? AND l.digest = ?")) {
                s.setString(1, repository.value());
                s.setString(2, digest.toString());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(new LinkedBlob(r.getLong(1), Instant.ofEpochMilli(r.getLong(2)))) : Optional.empty();
                }
            }
        });
    }

    @Override
    public boolean confirmBlobUse(RepositoryName repository, Digest digest, Instant at) {
        return write(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT 1 FROM repository_blobs WHERE repository = ? AND digest = ?")) {
                s.setString(1, repository.value());
                s.setString(2, digest.toString());
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) return false;
                }
            }
            long when = at.toEpochMilli();
            update(c, "UPDATE blobs SET last_used_at = ? WHERE digest = ? AND last_used_at < ?", when, digest.toString(), when);
            return true;
        });
    }

    @Override
    public boolean confirmManifestUse(RepositoryName repository, Digest digest, Instant at, Instant keepRetiredUntil) {
        long when = at.toEpochMilli();
        long keep = keepRetiredUntil.toEpochMilli();
        String repo = repository.value();
        // Found or not in one statement, and times only move forward, so a confirmation never shortens what
        // another read was promised. A retired manifest is found while it is within its stay (a read served
        // before, its own or a parent's, was promised it) or while its limit still leaves this read a whole
        // window; its stay, and that of every retired manifest below it, grows to this read's window, never
        // past a limit.
        String extended = "(CASE WHEN retired_limit < ? THEN retired_limit ELSE ? END)";
        return write(c -> {
            boolean found = update(c, "UPDATE manifests SET last_used_at = CASE WHEN last_used_at < ? THEN ? ELSE last_used_at END, "
                    + "retired_until = CASE WHEN retired_until IS NULL THEN NULL WHEN retired_until < " + extended + " THEN " + extended
                    + " ELSE retired_until END WHERE repository = ? AND digest = ? "
                    + "AND (retired_until IS NULL OR retired_until >= ? OR retired_limit >= ?)",
                    when, when, keep, keep, keep, keep, repo, digest.toString(), when, keep) > 0;
            if (found && exists(c, "SELECT 1 FROM manifests WHERE repository = ? AND digest = ? AND retired_until IS NOT NULL",
                    repo, digest.toString())) {
                update(c, "WITH RECURSIVE below (digest) AS (SELECT reference FROM manifest_references WHERE repository = ? AND manifest = ? "
                        + "UNION SELECT r.reference FROM manifest_references r JOIN below b ON r.manifest = b.digest WHERE r.repository = ?) "
                        + "UPDATE manifests SET retired_until = " + extended + " WHERE repository = ? AND retired_until IS NOT NULL "
                        + "AND retired_until < " + extended + " AND digest IN (SELECT digest FROM below)",
                        repo, digest.toString(), repo, keep, keep, repo, keep, keep);
            }
            return found;
        });
    }

    @Override
    public boolean linkBlob(RepositoryName repository, Digest digest, long size) {
        long now = System.currentTimeMillis();
        return write(c -> {
            ensureRepository(c, repository, now);
            int added = update(c, "INSERT INTO blobs (digest, size, created_at, last_used_at) VALUES (?, ?, ?, ?) "
                    + "ON CONFLICT (digest) DO NOTHING", digest.toString(), size, now, now);
            // A re-link renews linked_at: the push it belongs to is in flight again, so GC's grace starts over.
            update(c, "INSERT INTO repository_blobs (repository, digest, linked_at) VALUES (?, ?, ?) "
                    + "ON CONFLICT (repository, digest) DO UPDATE SET linked_at = excluded.linked_at",
                    repository.value(), digest.toString(), now);
            return added > 0;
        });
    }

    @Override
    public boolean unlinkBlob(RepositoryName repository, Digest digest) {
        return write(c -> update(c, "DELETE FROM repository_blobs WHERE repository = ? AND digest = ?",
                repository.value(), digest.toString()) > 0);
    }

    // ---- manifests and tags ----

    @Override
    public Optional<StoredManifest> manifest(RepositoryName repository, Digest digest) {
        return read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT media_type, content, subject, artifact_type, pushed_at, "
                    + "last_used_at, retired_until FROM manifests WHERE repository = ? AND digest = ?")) {
                s.setString(1, repository.value());
                s.setString(2, digest.toString());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(storedManifest(repository, digest, r)) : Optional.empty();
                }
            }
        });
    }

    private static StoredManifest storedManifest(RepositoryName repository, Digest digest, ResultSet r) throws SQLException {
        return new StoredManifest(repository, digest, r.getString("media_type"), r.getBytes("content"),
                Optional.ofNullable(r.getString("subject")).map(Digest::parse),
                Optional.ofNullable(r.getString("artifact_type")),
                Instant.ofEpochMilli(r.getLong("pushed_at")), Instant.ofEpochMilli(r.getLong("last_used_at")),
                Optional.ofNullable((Number) r.getObject("retired_until")).map(n -> Instant.ofEpochMilli(n.longValue())));
    }

    @Override
    public boolean manifestExists(RepositoryName repository, Digest digest) {
        return read(c -> exists(c, "SELECT 1 FROM manifests WHERE repository = ? AND digest = ?", repository.value(), digest.toString()));
    }

    @Override
    public Optional<Digest> resolveTag(RepositoryName repository, Tag tag) {
        return read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT digest FROM tags WHERE repository = ? AND name = ?")) {
                s.setString(1, repository.value());
                s.setString(2, tag.value());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(Digest.parse(r.getString(1))) : Optional.empty();
                }
            }
        });
    }

    @Override
    public ManifestStored storeManifest(NewManifest m, Optional<Tag> tag) {
        String repo = m.repository().value();
        String digest = m.digest().toString();
        long now = m.pushedAt().toEpochMilli();
        return write(c -> {
            List<Digest> missing = new ArrayList<>();
            List<Digest> retired = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement(
                    "SELECT 0 FROM repository_blobs WHERE repository = ? AND digest = ? "
                            + "UNION ALL SELECT CASE WHEN retired_until IS NULL THEN 0 ELSE 1 END FROM manifests WHERE repository = ? AND digest = ?")) {
                for (Digest reference : m.sortedReferences()) {
                    s.setString(1, repo);
                    s.setString(2, reference.toString());
                    s.setString(3, repo);
                    s.setString(4, reference.toString());
                    try (ResultSet r = s.executeQuery()) {
                        if (!r.next()) {
                            missing.add(reference);
                        } else {
                            do {
                                if (r.getInt(1) == 1) retired.add(reference);
                            } while (r.next());
                        }
                    }
                }
            }
            if (!missing.isEmpty()) {
                return new ManifestStored(missing, false);
            }
            reviveRetired(c, repo, retired);
            ensureRepository(c, m.repository(), now);
            boolean created = !exists(c, "SELECT 1 FROM manifests WHERE repository = ? AND digest = ?", repo, digest);
            try (PreparedStatement s = c.prepareStatement("INSERT INTO manifests (repository, digest, media_type, content, size, "
                    + "subject, artifact_type, pushed_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    + "ON CONFLICT (repository, digest) DO UPDATE SET pushed_at = excluded.pushed_at, "
                    + "last_used_at = excluded.last_used_at, retired_until = NULL, retired_limit = NULL")) {
                s.setString(1, repo);
                s.setString(2, digest);
                s.setString(3, m.mediaType());
                s.setBytes(4, m.content());
                s.setLong(5, m.content().length);
                s.setString(6, m.subject().map(Digest::toString).orElse(null));
                s.setString(7, m.artifactType().orElse(null));
                s.setLong(8, now);
                s.setLong(9, now);
                s.executeUpdate();
            }
            try (PreparedStatement s = c.prepareStatement("INSERT INTO manifest_references (repository, manifest, reference) "
                    + "VALUES (?, ?, ?) ON CONFLICT DO NOTHING")) {
                for (Digest reference : m.sortedReferences()) {
                    s.setString(1, repo);
                    s.setString(2, digest);
                    s.setString(3, reference.toString());
                    s.addBatch();
                }
                s.executeBatch();
            }
            if (tag.isPresent()) {
                update(c, "INSERT INTO tags (repository, name, digest, updated_at) VALUES (?, ?, ?, ?) "
                        + "ON CONFLICT (repository, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                        repo, tag.get().value(), digest, now);
            }
            return new ManifestStored(List.of(), created);
        });
    }

    /**
     * A manifest pushed with references to retired ones takes them back, and every retired manifest below
     * them: they must outlive their retirement now, whole, or the new manifest would point at nothing.
     */
    private static void reviveRetired(Connection c, String repo, List<Digest> retired) throws SQLException {
        java.util.Deque<String> queue = new java.util.ArrayDeque<>();
        retired.forEach(d -> queue.add(d.toString()));
        java.util.Set<String> seen = new java.util.HashSet<>();
        while (!queue.isEmpty()) {
            String digest = queue.poll();
            if (!seen.add(digest)) continue;
            update(c, "UPDATE manifests SET retired_until = NULL, retired_limit = NULL WHERE repository = ? AND digest = ?", repo, digest);
            queue.addAll(strings(c, "SELECT r.reference FROM manifest_references r JOIN manifests m "
                    + "ON m.repository = r.repository AND m.digest = r.reference "
                    + "WHERE r.repository = ? AND r.manifest = ? AND m.retired_until IS NOT NULL", repo, digest));
        }
    }

    @Override
    public boolean deleteManifest(RepositoryName repository, Digest digest) {
        return write(c -> {
            insertManifestAuditEvent(c, repository.value(), digest.toString(), "manual");
            int deleted = update(c, "DELETE FROM manifests WHERE repository = ? AND digest = ?", repository.value(), digest.toString());
            update(c, "DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", repository.value(), digest.toString());
            update(c, "DELETE FROM tags WHERE repository = ? AND digest = ?", repository.value(), digest.toString());
            return deleted > 0;
        });
    }

    @Override
    public boolean deleteTag(RepositoryName repository, Tag tag) {
        return write(c -> update(c, "DELETE FROM tags WHERE repository = ? AND name = ?", repository.value(), tag.value()) > 0);
    }

    @Override
    public List<String> tags(RepositoryName repository, Optional<String> after, int limit) {
        return read(c -> strings(c, "SELECT name FROM tags WHERE repository = ? AND name > ? ORDER BY name LIMIT ?",
                repository.value(), after.orElse(""), limit));
    }

    @Override
    public boolean repositoryExists(RepositoryName repository) {
        return read(c -> exists(c, "SELECT 1 FROM repositories WHERE name = ?", repository.value()));
    }

    @Override
    public List<String> repositories(Optional<String> after, int limit) {
        return read(c -> strings(c, "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", after.orElse(""), limit));
    }

    @Override
    public List<StoredManifest> referrers(RepositoryName repository, Digest subject) {
        return read(c -> {
            List<StoredManifest> found = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("SELECT digest, media_type, content, subject, artifact_type, pushed_at, "
                    + "last_used_at, retired_until FROM manifests WHERE repository = ? AND subject = ? ORDER BY digest")) {
                s.setString(1, repository.value());
                s.setString(2, subject.toString());
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        found.add(storedManifest(repository, Digest.parse(r.getString("digest")), r));
                    }
                }
            }
            return found;
        });
    }

    // ---- uploads ----

    @Override
    public void createUpload(UploadSession session) {
        uploads.createUpload(session);
    }

    @Override
    public int countUploadsOf(String owner) {
        return uploads.countUploadsOf(owner);
    }

    @Override
    public List<UploadSession> uploadsOf(String owner, int limit) {
        return uploads.uploadsOf(owner, limit);
    }

    @Override
    public Optional<UploadSession> upload(String id) {
        return uploads.upload(id);
    }

    @Override
    public Optional<UploadLedger.Entry> readProgress(String id) {
        return uploads.readProgress(id);
    }

    @Override
    public boolean writeProgress(String id, long revision, String progress) {
        return uploads.writeProgress(id, revision, progress);
    }

    @Override
    public void deleteUpload(String id) {
        uploads.deleteUpload(id);
    }

    @Override
    public List<UploadSession> uploadsStartedBefore(Instant cutoff) {
        return uploads.uploadsStartedBefore(cutoff);
    }

    // ---- last use ----

    @Override
    public void recordLastUse(Collection<LastUse> uses) {
        if (uses.isEmpty()) return;
        write(c -> {
            try (PreparedStatement manifests = c.prepareStatement(
                    "UPDATE manifests SET last_used_at = ? WHERE repository = ? AND digest = ? AND last_used_at < ?");
                 PreparedStatement blobs = c.prepareStatement(
                         "UPDATE blobs SET last_used_at = ? WHERE digest = ? AND last_used_at < ?")) {
                for (LastUse use : uses) {
                    long at = use.at().toEpochMilli();
                    switch (use) {
                        case LastUse.OfManifest m -> {
                            manifests.setLong(1, at);
                            manifests.setString(2, m.repository().value());
                            manifests.setString(3, m.digest().toString());
                            manifests.setLong(4, at);
                            manifests.addBatch();
                        }
                        case LastUse.OfBlob b -> {
                            blobs.setLong(1, at);
                            blobs.setString(2, b.digest().toString());
                            blobs.setLong(3, at);
                            blobs.addBatch();
                        }
                    }
                }
                manifests.executeBatch();
                blobs.executeBatch();
            }
            return null;
        });
    }

    // ---- retention ----

    @Override
    public CacheSnapshot snapshot() {
        return retention.snapshot();
    }

    @Override
    public long storedBytes() {
        return retention.storedBytes();
    }

    @Override
    public List<List<String>> deleteUnits(List<UnitDeletion> units, ReadProtection protection, Instant now) {
        return retention.deleteUnits(units, protection, now);
    }

    @Override
    public int deleteRetiredManifests(Instant now, int limit) {
        return retention.deleteRetiredManifests(now, limit);
    }

    @Override
    public int deleteRetiredManifests(java.util.function.Predicate<String> repositories, Optional<Instant> pushedBefore) {
        return retention.deleteRetiredManifests(repositories, pushedBefore);
    }

    @Override
    public int deleteUnreferencedLinks(Instant cutoff, int limit) {
        return retention.deleteUnreferencedLinks(cutoff, limit);
    }

    @Override
    public Optional<LinkKey> deleteUnreferencedLinks(Instant cutoff, Optional<LinkKey> after, int pageSize) {
        return retention.deleteUnreferencedLinks(cutoff, after, pageSize);
    }

    @Override
    public List<Digest> unlinkedBlobs(Instant cutoff, Optional<Digest> after, int limit) {
        return retention.unlinkedBlobs(cutoff, after, limit);
    }

    @Override
    public java.util.Set<Digest> blobRecordsAmong(java.util.Collection<Digest> digests) {
        return retention.blobRecordsAmong(digests);
    }

    @Override
    public java.util.Map<Digest, Long> deleteBlobsIfUnlinked(java.util.Map<Digest, String> reasons) {
        return retention.deleteBlobsIfUnlinked(reasons);
    }

    @Override
    public Optional<String> setting(String name) {
        return retention.setting(name);
    }

    @Override
    public void putSetting(String name, String value) {
        retention.putSetting(name, value);
    }

    @Override
    public List<RepositoryFigures> repositoryFigures() {
        return retention.repositoryFigures();
    }

    @Override
    public void addAuditEvent(AuditEvent event) {
        auditEvents.addAuditEvent(event);
    }

    @Override
    public List<AuditEvent> auditEvents(int limit) {
        return auditEvents.auditEvents(limit);
    }

    @Override
    public void forgetAuditEvents(long id) {
        auditEvents.forgetAuditEvents(id);
    }

    @Override
    public boolean blobRecordExists(Digest digest) {
        return read(c -> exists(c, "SELECT 1 FROM blobs WHERE digest = ?", digest.toString()));
    }

    /** The last-use time recorded for a manifest, for tests and retention. */
    public Optional<Instant> manifestLastUse(RepositoryName repository, Digest digest) {
        return read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT last_used_at FROM manifests WHERE repository = ? AND digest = ?")) {
                s.setString(1, repository.value());
                s.setString(2, digest.toString());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(Instant.ofEpochMilli(r.getLong(1))) : Optional.empty();
                }
            }
        });
    }

    @Override
    public void ping() {
        read(c -> exists(c, "SELECT 1"));
    }

    /** How the nodes that share this database coordinate (nothing to coordinate for SQLite). */
    public ClusterLocks locks() {
        return advisoryLocks == null ? ClusterLocks.singleNode() : advisoryLocks;
    }

    @Override
    public void close() {
        database.close();
        if (advisoryLocks != null) advisoryLocks.close();
    }

    // ---- plumbing ----

    private <T> T read(SqlDatabase.Work<T> work) {
        return database.read(work);
    }

    private <T> T write(SqlDatabase.Work<T> work) {
        return database.write(work);
    }

    private static void ensureRepository(Connection c, RepositoryName repository, long now) throws SQLException {
        update(c, "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", repository.value(), now);
    }

}
