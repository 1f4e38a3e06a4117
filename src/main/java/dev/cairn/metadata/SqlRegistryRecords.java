package dev.cairn.metadata;

import dev.cairn.metadata.MetadataStore.LinkedBlob;
import dev.cairn.metadata.MetadataStore.ManifestStored;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

import static dev.cairn.metadata.SqlAuditEvents.insertManifestAuditEvent;
import static dev.cairn.metadata.Statements.bind;
import static dev.cairn.metadata.Statements.exists;
import static dev.cairn.metadata.Statements.strings;
import static dev.cairn.metadata.Statements.update;

/**
 * The registry's records in SQL: repositories, the blobs each links, manifests with their references and
 * referrers, tags, the listings, and last-use times. Apart from retention's records because these are what
 * a request reads and writes, a few rows of one repository at a time, where retention works on the whole cache.
 */
final class SqlRegistryRecords {
    private final SqlDatabase database;

    SqlRegistryRecords(SqlDatabase database) {
        this.database = database;
    }

    // ---- blobs ----

    boolean isBlobLinked(RepositoryName repository, Digest digest) {
        return database.read(c -> exists(c, "SELECT 1 FROM repository_blobs WHERE repository = ? AND digest = ?",
                repository.value(), digest.toString()));
    }

    /** Keys of the answers {@link RememberedReads} holds, one type for each read. */
    private record LinkRead(RepositoryName repository, Digest digest) {
    }

    private record ManifestRead(RepositoryName repository, Digest digest) {
    }

    private record TagRead(RepositoryName repository, Tag tag) {
    }

    Optional<LinkedBlob> linkedBlob(RepositoryName repository, Digest digest) {
        return database.remembered.read(new LinkRead(repository, digest), () -> row("SELECT b.size, b.last_used_at FROM repository_blobs l JOIN blobs b ON b.digest = l.digest "
                + "WHERE l.repository = ? AND l.digest = ?", repository, digest,
                r -> new LinkedBlob(r.getLong(1), Instant.ofEpochMilli(r.getLong(2)))), link -> 0);
    }

    boolean confirmBlobUse(RepositoryName repository, Digest digest, Instant at) {
        return database.write(c -> {
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

    boolean confirmManifestUse(RepositoryName repository, Digest digest, Instant at, Instant keepRetiredUntil) {
        long when = at.toEpochMilli();
        long keep = keepRetiredUntil.toEpochMilli();
        String repo = repository.value();
        // Found or not in one statement, and times only move forward, so a confirmation never shortens what
        // another read was promised. A retired manifest is found while it is within its stay (a read served
        // before, its own or a parent's, was promised it) or while its limit still leaves this read a whole
        // window; its stay, and that of every retired manifest below it, grows to this read's window, never
        // past a limit.
        String extended = "(CASE WHEN retired_limit < ? THEN retired_limit ELSE ? END)";
        return database.write(c -> {
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

    boolean linkBlob(RepositoryName repository, Digest digest, long size) {
        long now = System.currentTimeMillis();
        return database.write(c -> {
            ensureRepository(c, repository, now, false);
            int added = update(c, "INSERT INTO blobs (digest, size, created_at, last_used_at) VALUES (?, ?, ?, ?) "
                    + "ON CONFLICT (digest) DO NOTHING", digest.toString(), size, now, now);
            // A re-link renews linked_at: the push it belongs to is in flight again, so GC's grace starts over.
            update(c, "INSERT INTO repository_blobs (repository, digest, linked_at) VALUES (?, ?, ?) "
                    + "ON CONFLICT (repository, digest) DO UPDATE SET linked_at = excluded.linked_at",
                    repository.value(), digest.toString(), now);
            // For the collector's next look, which marks it for the sweep if no manifest came for it (an abandoned push).
            update(c, "INSERT INTO new_links (repository, digest) VALUES (?, ?)", repository.value(), digest.toString());
            return added > 0;
        });
    }

    boolean unlinkBlob(RepositoryName repository, Digest digest) {
        return database.write(c -> {
            if (update(c, "DELETE FROM repository_blobs WHERE repository = ? AND digest = ?", repository.value(), digest.toString()) == 0) {
                return false;
            }
            try (Statements st = new Statements(c)) {
                SqlRetentionRecords.markForSweep(st, List.of(digest.toString()), DeletionReason.UNREFERENCED); // it may have been its last link
            }
            return true;
        });
    }

    boolean blobRecordExists(Digest digest) {
        return database.read(c -> exists(c, "SELECT 1 FROM blobs WHERE digest = ?", digest.toString()));
    }

    // ---- manifests and tags ----

    Optional<StoredManifest> manifest(RepositoryName repository, Digest digest) {
        return database.remembered.read(new ManifestRead(repository, digest), () -> row("SELECT media_type, content, subject, "
                + "artifact_type, pushed_at, last_used_at, retired_until FROM manifests WHERE repository = ? AND digest = ?", repository, digest,
                r -> storedManifest(repository, digest, r)), manifest -> manifest.content().length);
    }

    private static StoredManifest storedManifest(RepositoryName repository, Digest digest, ResultSet r) throws SQLException {
        return new StoredManifest(repository, digest, r.getString("media_type"), r.getBytes("content"),
                Optional.ofNullable(r.getString("subject")).map(Digest::parse),
                Optional.ofNullable(r.getString("artifact_type")),
                Instant.ofEpochMilli(r.getLong("pushed_at")), Instant.ofEpochMilli(r.getLong("last_used_at")),
                Optional.ofNullable((Number) r.getObject("retired_until")).map(n -> Instant.ofEpochMilli(n.longValue())));
    }

    boolean manifestExists(RepositoryName repository, Digest digest) {
        return database.read(c -> exists(c, "SELECT 1 FROM manifests WHERE repository = ? AND digest = ?", repository.value(), digest.toString()));
    }

    Optional<Digest> resolveTag(RepositoryName repository, Tag tag) {
        return database.remembered.read(new TagRead(repository, tag), () -> database.read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT digest FROM tags WHERE repository = ? AND name = ?")) {
                s.setString(1, repository.value());
                s.setString(2, tag.value());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(Digest.parse(r.getString(1))) : Optional.empty();
                }
            }
        }), digest -> 0);
    }

    /** With {@code referencesMayFollow} (a mirror's manifest), references to what is not here yet are stored all the same. */
    ManifestStored storeManifest(NewManifest m, Optional<Tag> tag, boolean referencesMayFollow) {
        String repo = m.repository().value();
        String digest = m.digest().toString();
        long now = m.pushedAt().toEpochMilli();
        return database.write(c -> {
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
            if (!missing.isEmpty() && !referencesMayFollow) {
                return new ManifestStored(missing, false);
            }
            reviveRetired(c, repo, retired);
            ensureRepository(c, m.repository(), now, referencesMayFollow);
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

    boolean deleteManifest(RepositoryName repository, Digest digest) {
        return database.write(c -> {
            insertManifestAuditEvent(c, repository.value(), digest.toString(), DeletionReason.MANUAL.wireName());
            int deleted = update(c, "DELETE FROM manifests WHERE repository = ? AND digest = ?", repository.value(), digest.toString());
            try (Statements st = new Statements(c)) {
                SqlRetentionRecords.markReferencesForSweep(st, repository.value(), digest.toString()); // the sweep looks at what it referenced
            }
            update(c, "DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", repository.value(), digest.toString());
            update(c, "DELETE FROM tags WHERE repository = ? AND digest = ?", repository.value(), digest.toString());
            return deleted > 0;
        });
    }

    boolean deleteTag(RepositoryName repository, Tag tag) {
        return database.write(c -> update(c, "DELETE FROM tags WHERE repository = ? AND name = ?", repository.value(), tag.value()) > 0);
    }

    List<String> tags(RepositoryName repository, Optional<String> after, int limit) {
        return database.read(c -> strings(c, "SELECT name FROM tags WHERE repository = ? AND name > ? ORDER BY name LIMIT ?",
                repository.value(), after.orElse(""), limit));
    }

    List<ManifestTimes> manifestTimes(RepositoryName repository, Optional<Digest> after, int limit) {
        return database.read(c -> {
            List<ManifestTimes> page = new ArrayList<>();
            List<String[]> rows = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("SELECT digest, media_type, size, pushed_at, last_used_at FROM manifests "
                    + "WHERE repository = ? AND digest > ? AND retired_until IS NULL ORDER BY digest LIMIT ?")) {
                bind(s, repository.value(), after.map(Digest::toString).orElse(""), limit);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        rows.add(new String[]{r.getString(1), r.getString(2), Long.toString(r.getLong(3)),
                                Long.toString(r.getLong(4)), Long.toString(r.getLong(5))});
                    }
                }
            }
            if (rows.isEmpty()) return page;
            // the page's tags in one range read of the (repository, digest) index, at most MAX_LISTED_TAGS of them: a
            // manifest may carry a million tags, and the listing is for times (the tag list pages the tags themselves)
            java.util.Map<String, List<String>> tags = new java.util.HashMap<>();
            try (PreparedStatement s = c.prepareStatement("SELECT digest, name FROM tags WHERE repository = ? AND digest >= ? AND digest <= ? LIMIT ?")) {
                bind(s, repository.value(), rows.get(0)[0], rows.get(rows.size() - 1)[0], MAX_LISTED_TAGS);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) tags.computeIfAbsent(r.getString(1), d -> new ArrayList<>()).add(r.getString(2));
                }
            }
            for (String[] row : rows) {
                List<String> names = new ArrayList<>(tags.getOrDefault(row[0], List.of()));
                java.util.Collections.sort(names);
                page.add(new ManifestTimes(Digest.parse(row[0]), row[1], Long.parseLong(row[2]), names,
                        Instant.ofEpochMilli(Long.parseLong(row[3])), Instant.ofEpochMilli(Long.parseLong(row[4]))));
            }
            return page;
        });
    }

    boolean backdateManifest(RepositoryName repository, Digest digest, Instant pushedAt, Instant lastUsed, Instant pushedSince) {
        long pushed = pushedAt.toEpochMilli();
        long used = lastUsed.toEpochMilli();
        // only a manifest pushed since pushedSince and not read since its push (a push records its time as its last
        // use): an import's own entry, never one a build has read, whose last use read protection relies on
        return database.write(c -> update(c, "UPDATE manifests SET pushed_at = CASE WHEN pushed_at > ? THEN ? ELSE pushed_at END, "
                + "last_used_at = CASE WHEN last_used_at > ? THEN ? ELSE last_used_at END WHERE repository = ? AND digest = ? "
                + "AND retired_until IS NULL AND last_used_at <= pushed_at AND pushed_at >= ?",
                pushed, pushed, used, used, repository.value(), digest.toString(), pushedSince.toEpochMilli()) > 0);
    }

    /** The most tags one page of entries lists, over all its manifests. */
    static final int MAX_LISTED_TAGS = 10_000;

    boolean repositoryExists(RepositoryName repository) {
        return database.read(c -> exists(c, "SELECT 1 FROM repositories WHERE name = ?", repository.value()));
    }

    List<String> repositories(Optional<String> after, int limit) {
        return database.read(c -> strings(c, "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", after.orElse(""), limit));
    }

    List<StoredManifest> referrers(RepositoryName repository, Digest subject) {
        return database.read(c -> {
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

    // ---- last use ----

    void recordLastUse(Collection<LastUse> uses) {
        if (uses.isEmpty()) return;
        database.write(c -> {
            try (PreparedStatement manifests = c.prepareStatement(
                    "UPDATE manifests SET last_used_at = ? WHERE repository = ? AND digest = ? AND last_used_at < ?");
                 PreparedStatement blobs = c.prepareStatement(
                         "UPDATE blobs SET last_used_at = ? WHERE digest = ? AND last_used_at < ?");
                 PreparedStatement entries = c.prepareStatement(
                         "UPDATE keyed_entries SET last_used_at = ? WHERE kind = ? AND namespace = ? AND entry_key = ? AND last_used_at < ?")) {
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
                        case LastUse.OfEntry e -> {
                            entries.setLong(1, at);
                            entries.setString(2, e.kind());
                            entries.setString(3, e.namespace().value());
                            entries.setString(4, e.key());
                            entries.setLong(5, at);
                            entries.addBatch();
                        }
                    }
                }
                manifests.executeBatch();
                blobs.executeBatch();
                entries.executeBatch();
            }
            return null;
        });
    }

    /** The last-use time recorded for a manifest, for tests and retention. */
    Optional<Instant> manifestLastUse(RepositoryName repository, Digest digest) {
        return row("SELECT last_used_at FROM manifests WHERE repository = ? AND digest = ?", repository, digest,
                r -> Instant.ofEpochMilli(r.getLong(1)));
    }

    /** Reads one row of {@code sql}, which takes a repository and a digest, or empty when there is none. */
    private <T> Optional<T> row(String sql, RepositoryName repository, Digest digest, RowReader<T> reader) {
        return database.read(c -> {
            try (PreparedStatement s = c.prepareStatement(sql)) {
                s.setString(1, repository.value());
                s.setString(2, digest.toString());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(reader.read(r)) : Optional.empty();
                }
            }
        });
    }

    @FunctionalInterface
    private interface RowReader<T> {
        T read(ResultSet row) throws SQLException;
    }

    /** The repository's row, made by its first write: {@code mirrored} says whose it is from then on (see V17). */
    private static void ensureRepository(Connection c, RepositoryName repository, long now, boolean mirrored) throws SQLException {
        update(c, "INSERT INTO repositories (name, created_at, mirrored) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                repository.value(), now, mirrored ? 1 : 0);
    }

    Optional<Boolean> repositoryMirrored(RepositoryName repository) {
        return database.read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT mirrored FROM repositories WHERE name = ?")) {
                s.setString(1, repository.value());
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(r.getInt(1) == 1) : Optional.<Boolean>empty();
                }
            }
        });
    }

    boolean claimForMirror(RepositoryName repository) {
        long now = System.currentTimeMillis();
        database.write(c -> {
            ensureRepository(c, repository, now, true);
            return null;
        });
        return repositoryMirrored(repository).orElse(false);
    }
}
