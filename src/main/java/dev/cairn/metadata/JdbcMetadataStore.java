package dev.cairn.metadata;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;
import dev.cairn.storage.UploadLedger;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

import java.nio.file.Path;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

import static dev.cairn.metadata.Statements.exists;

/**
 * {@link MetadataStore} over JDBC. The SQL is shared by SQLite and PostgreSQL (both take
 * {@code INSERT ... ON CONFLICT}); only the connection set-up and the binary column type differ.
 * This class sets up the database (pool, migrations, cross-node locks) and answers each interface by
 * handing the call to the records of its role: {@link SqlRegistryRecords}, {@link SqlUploadRecords},
 * {@link SqlRetentionRecords}, {@link SqlEntryListing}, {@link SqlKeyedEntries} and {@link SqlAuditEvents}, all on the one {@link SqlDatabase}.
 */
public final class JdbcMetadataStore implements MetadataStore, RetentionRecords, EntryRecords, UploadLedger {
    /** PostgreSQL only: the cross-node locks, on connections of their own. */
    private final PostgresAdvisoryLocks advisoryLocks;

    private final SqlDatabase database;
    private final SqlRegistryRecords registry;
    private final SqlUploadRecords uploads;
    private final SqlAuditEvents auditEvents;
    private final SqlRetentionRecords retention;
    private final SqlEntryListing listing;
    private final SqlKeyedEntries keyedEntries;

    /** SQLite only: this process's claim on the file, held until close. */
    private final SqliteOwnerLock owner;

    private JdbcMetadataStore(SqlDatabase database, PostgresAdvisoryLocks advisoryLocks, SqliteOwnerLock owner) {
        this.database = database;
        this.advisoryLocks = advisoryLocks;
        this.owner = owner;
        this.registry = new SqlRegistryRecords(database);
        this.uploads = new SqlUploadRecords(database);
        this.auditEvents = new SqlAuditEvents(database);
        this.retention = new SqlRetentionRecords(database);
        this.listing = new SqlEntryListing(database);
        this.keyedEntries = new SqlKeyedEntries(database);
    }

    /** The embedded store: one SQLite file in WAL mode, durable at every commit. */
    public static JdbcMetadataStore sqlite(Path file) {
        SqliteOwnerLock owner = SqliteOwnerLock.acquire(file.toAbsolutePath());
        try {
            return sqlite(file, owner);
        } catch (RuntimeException e) {
            owner.close();
            throw e;
        }
    }

    private static JdbcMetadataStore sqlite(Path file, SqliteOwnerLock owner) {
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
        JdbcMetadataStore store = new JdbcMetadataStore(new SqlDatabase(new HikariDataSource(pool), Dialect.SQLITE, new ReentrantLock(true),
                RememberedReads.forSoleWriter()), null, owner);
        try {
            SchemaMigrations.apply(store.database, null);
        } catch (RuntimeException e) {
            store.database.close(); // the pool; the caller releases the file's lock
            throw e;
        }
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
        // one more than the digest locks and the collector may want at once: a replication lease keeps one for as long as it is held
        locks.setMaximumPoolSize(Math.max(2, poolSize / 2) + 1);
        locks.setMinimumIdle(0);
        // A lock held by a node that lost its network must not stall the others for ever.
        // A node that vanishes from the network (no reset reaches the database) must not keep its locks for the
        // kernel's default two hours: the server probes an idle lock session after 10 s and drops it after
        // three unanswered probes 5 s apart, so another node takes over within about 25 s.
        locks.setConnectionInitSql("SET lock_timeout = '60s'; SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
                + "SET tcp_keepalives_count = 3");
        HikariDataSource main = new HikariDataSource(pool);
        JdbcMetadataStore store = new JdbcMetadataStore(new SqlDatabase(main, Dialect.POSTGRES, null, RememberedReads.none()),
                new PostgresAdvisoryLocks(new HikariDataSource(locks)), null);
        SchemaMigrations.apply(store.database, store.advisoryLocks);
        return store;
    }

    /** The database under the records; for tests in this package. */
    SqlDatabase database() {
        return database;
    }

    // ---- registry ----

    @Override
    public boolean isBlobLinked(RepositoryName repository, Digest digest) {
        return registry.isBlobLinked(repository, digest);
    }

    @Override
    public Optional<LinkedBlob> linkedBlob(RepositoryName repository, Digest digest) {
        return registry.linkedBlob(repository, digest);
    }

    @Override
    public boolean confirmBlobUse(RepositoryName repository, Digest digest, Instant at) {
        return registry.confirmBlobUse(repository, digest, at);
    }

    @Override
    public boolean confirmManifestUse(RepositoryName repository, Digest digest, Instant at, Instant keepRetiredUntil) {
        return registry.confirmManifestUse(repository, digest, at, keepRetiredUntil);
    }

    @Override
    public boolean linkBlob(RepositoryName repository, Digest digest, long size) {
        return registry.linkBlob(repository, digest, size);
    }

    @Override
    public boolean unlinkBlob(RepositoryName repository, Digest digest) {
        return registry.unlinkBlob(repository, digest);
    }

    /** Both interfaces declare it: the registry asks before it admits a blob's bytes to the budget, retention before it deletes a blob file. */
    @Override
    public boolean blobRecordExists(Digest digest) {
        return registry.blobRecordExists(digest);
    }

    @Override
    public Optional<StoredManifest> manifest(RepositoryName repository, Digest digest) {
        return registry.manifest(repository, digest);
    }

    @Override
    public boolean manifestExists(RepositoryName repository, Digest digest) {
        return registry.manifestExists(repository, digest);
    }

    @Override
    public Optional<Digest> resolveTag(RepositoryName repository, Tag tag) {
        return registry.resolveTag(repository, tag);
    }

    @Override
    public ManifestStored storeManifest(NewManifest m, Optional<Tag> tag) {
        return registry.storeManifest(m, tag, false);
    }

    @Override
    public ManifestStored storeMirroredManifest(NewManifest m, Optional<Tag> tag) {
        return registry.storeManifest(m, tag, true);
    }

    @Override
    public boolean deleteManifest(RepositoryName repository, Digest digest) {
        return registry.deleteManifest(repository, digest);
    }

    @Override
    public boolean deleteTag(RepositoryName repository, Tag tag) {
        return registry.deleteTag(repository, tag);
    }

    @Override
    public List<String> tags(RepositoryName repository, Optional<String> after, int limit) {
        return registry.tags(repository, after, limit);
    }

    @Override
    public List<ManifestTimes> manifestTimes(RepositoryName repository, Optional<Digest> after, int limit) {
        return registry.manifestTimes(repository, after, limit);
    }

    @Override
    public boolean backdateManifest(RepositoryName repository, Digest digest, Instant pushedAt, Instant lastUsed, Instant pushedSince) {
        return registry.backdateManifest(repository, digest, pushedAt, lastUsed, pushedSince);
    }

    @Override
    public boolean repositoryExists(RepositoryName repository) {
        return registry.repositoryExists(repository);
    }

    @Override
    public Optional<Boolean> repositoryMirrored(RepositoryName repository) {
        return registry.repositoryMirrored(repository);
    }

    @Override
    public boolean claimForMirror(RepositoryName repository) {
        return registry.claimForMirror(repository);
    }

    @Override
    public List<String> repositories(Optional<String> after, int limit) {
        return registry.repositories(after, limit);
    }

    @Override
    public List<StoredManifest> referrers(RepositoryName repository, Digest subject) {
        return registry.referrers(repository, subject);
    }

    @Override
    public void recordLastUse(Collection<LastUse> uses) {
        registry.recordLastUse(uses);
    }

    /** The last-use time recorded for a manifest, for tests and retention. */
    public Optional<Instant> manifestLastUse(RepositoryName repository, Digest digest) {
        return registry.manifestLastUse(repository, digest);
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

    // ---- retention ----

    @Override
    public List<Digest> putEntry(String kind, RepositoryName namespace, String key, long size, Collection<Digest> blobs, Instant now) {
        return keyedEntries.putEntry(kind, namespace, key, size, blobs, now);
    }

    @Override
    public Optional<KeyedEntry> entry(String kind, RepositoryName namespace, String key) {
        return keyedEntries.entry(kind, namespace, key);
    }

    @Override
    public boolean entryUsed(String kind, RepositoryName namespace, String key, Instant at) {
        return keyedEntries.entryUsed(kind, namespace, key, at);
    }

    @Override
    public ContentStored putContent(String kind, RepositoryName namespace, String key, Digest content, long contentSize,
                                    Collection<Digest> alsoHolds, ContentNotes notes, Instant now) {
        return keyedEntries.putContent(kind, namespace, key, content, contentSize, alsoHolds, notes, now);
    }

    @Override
    public Optional<StoredContent> heldContent(String kind, RepositoryName namespace, Digest digest) {
        return keyedEntries.heldContent(kind, namespace, digest);
    }

    @Override
    public Optional<StoredContent> content(String kind, RepositoryName namespace, String key) {
        return keyedEntries.content(kind, namespace, key);
    }

    @Override
    public Optional<StoredContent> peekContent(String kind, RepositoryName namespace, String key) {
        return keyedEntries.storedContent(kind, namespace, key);
    }

    @Override
    public boolean deleteEntry(String kind, RepositoryName namespace, String key, Instant now) {
        return keyedEntries.deleteEntry(kind, namespace, key, now);
    }

    @Override
    public List<StoredKey> keys(String kind, RepositoryName namespace, String from, String to, int limit) {
        return keyedEntries.keys(kind, namespace, from, to, limit);
    }

    /** {@link #contents} with a page cut after {@code maxHolds} holds, for tests of the cut. */
    List<ListedContent> contents(String kind, RepositoryName namespace, String after, int limit, int maxHolds) {
        return keyedEntries.contents(kind, namespace, after, limit, maxHolds);
    }

    @Override
    public List<KeyedNamespace> keyedNamespaces() {
        return keyedEntries.keyedNamespaces();
    }

    @Override
    public List<ListedContent> contents(String kind, RepositoryName namespace, String after, int limit) {
        return keyedEntries.contents(kind, namespace, after, limit);
    }

    @Override
    public List<String> backdateEntries(String kind, RepositoryName namespace, List<KeyTimes> times, Instant pushedSince) {
        return keyedEntries.backdateEntries(kind, namespace, times, pushedSince);
    }

    @Override
    public List<ListedEntry> rootManifests(EntryOrder order, EntryPosition after, Instant before, int limit) {
        return listing.rootManifests(order, after, before, limit);
    }

    @Override
    public List<ListedEntry> keyedEntries(EntryOrder order, EntryPosition after, Instant before, int limit) {
        return listing.keyedEntries(order, after, before, limit);
    }

    @Override
    public List<UnitMember> unitMembers(String repository, String root) {
        return listing.unitMembers(repository, root);
    }

    @Override
    public List<String> tagsOf(String repository, String digest) {
        return listing.tagsOf(repository, digest);
    }

    @Override
    public long unheldBlobBytes() {
        return listing.unheldBlobBytes();
    }

    @Override
    public long heldBytes() {
        return listing.heldBytes();
    }

    @Override
    public java.util.Map<String, Long> blobsHeldBy(String kind, String name, List<String> records) {
        return listing.blobsHeldBy(kind, name, records);
    }

    @Override
    public List<String> blobHolders(String digest, int limit) {
        return listing.blobHolders(digest, limit);
    }

    @Override
    public long blobCount() {
        return retention.blobCount();
    }

    @Override
    public long storedBytes() {
        return retention.storedBytes();
    }

    @Override
    public List<Evicted> evict(List<? extends Deletion> deletions, ReadProtection protection, Instant now, long bytesToFree) {
        return retention.evict(deletions, protection, now, bytesToFree);
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
    public int markNewLinks(int pageSize) {
        return retention.markNewLinks(pageSize);
    }

    @Override
    public boolean markNextSlice(Instant cutoff, int size) {
        return retention.markNextSlice(cutoff, size);
    }

    @Override
    public Optional<LinkKey> markUnreferencedLinks(Instant cutoff, Optional<LinkKey> after, int pageSize) {
        return retention.markUnreferencedLinks(cutoff, after, pageSize);
    }

    @Override
    public Optional<Digest> markUnheldBlobs(Instant cutoff, Optional<Digest> after, int pageSize) {
        return retention.markUnheldBlobs(cutoff, after, pageSize);
    }

    @Override
    public List<Digest> sweepCandidates(Optional<Digest> after, int limit) {
        return retention.sweepCandidates(after, limit);
    }

    @Override
    public java.util.Map<Digest, DeletedBlobRecord> sweepBlobs(List<Digest> digests, Instant cutoff) {
        return retention.sweepBlobs(digests, cutoff);
    }

    @Override
    public List<SweepableBlob> sweepable(Instant cutoff, int limit) {
        return retention.sweepable(cutoff, limit);
    }

    @Override
    public java.util.Set<Digest> blobRecordsAmong(java.util.Collection<Digest> digests) {
        return retention.blobRecordsAmong(digests);
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
    public List<NamespaceFigures> namespaceFigures() {
        return retention.namespaceFigures();
    }

    @Override
    public List<String> entryNames(String after, int limit) {
        return retention.entryNames(after, limit);
    }

    @Override
    public long bytesUnder(String name) {
        return retention.bytesUnder(name);
    }

    @Override
    public void addAuditEvent(AuditEvent event) {
        auditEvents.addAuditEvent(event);
    }

    @Override
    public int readAuditEvents(int limit, java.util.function.Consumer<AuditEvent> visitor) {
        return auditEvents.readAuditEvents(limit, visitor);
    }

    @Override
    public void forgetAuditEvents(List<Long> ids) {
        auditEvents.forgetAuditEvents(ids);
    }

    @Override
    public void ping() {
        database.read(c -> exists(c, "SELECT 1"));
    }

    /** How the nodes that share this database coordinate (nothing to coordinate for SQLite). */
    @Override
    public boolean isShared() {
        return locks().isShared();
    }

    public ClusterLocks locks() {
        return advisoryLocks == null ? ClusterLocks.singleNode() : advisoryLocks;
    }

    @Override
    public void close() {
        database.close();
        if (advisoryLocks != null) advisoryLocks.close();
        if (owner != null) owner.close();
    }


}
