package dev.cairn.metadata;

import dev.cairn.metadata.RetentionRecords.AuditEvent;
import dev.cairn.metadata.RetentionRecords.LinkKey;
import dev.cairn.metadata.RetentionRecords.RepositoryFigures;
import dev.cairn.metadata.RetentionRecords.UnitDeletion;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static dev.cairn.metadata.SqlAuditEvents.insertAuditEvent;
import static dev.cairn.metadata.SqlAuditEvents.insertManifestAuditEvent;
import static dev.cairn.metadata.Statements.bind;
import static dev.cairn.metadata.Statements.strings;
import static dev.cairn.metadata.Statements.update;

/**
 * Retention's records in SQL: the snapshot the planner works on, the deletion of eviction units (or their
 * retirement while a read may still be within its grace window), retired manifests, links no manifest
 * references, blobs no repository links, settings and per-repository figures. Apart from the registry's
 * records because retention reads the whole cache at once and deletes in batches, checking each deletion
 * against the records again, where the registry reads and writes a few records of one repository a request.
 */
final class SqlRetentionRecords {
    private final SqlDatabase database;

    SqlRetentionRecords(SqlDatabase database) {
        this.database = database;
    }

    CacheSnapshot snapshot() {
        return database.read(c -> {
            List<CacheSnapshot.ManifestRow> manifests = new ArrayList<>();
            List<CacheSnapshot.TagRow> tags = new ArrayList<>();
            List<CacheSnapshot.ReferenceRow> references = new ArrayList<>();
            java.util.Map<String, Long> sizes = new java.util.HashMap<>();
            // One String per distinct name or digest: the same ones come back in every row that mentions them
            // (a blob digest in each reference to it and in the blob sizes), and 100,000 blobs made ~480,000
            // copies, most of the collector's heap.
            java.util.Map<String, String> distinct = new java.util.HashMap<>();
            java.util.function.UnaryOperator<String> one = text -> text == null ? null : distinct.computeIfAbsent(text, k -> k);
            // Plain reads, no transaction: in SQLite's IMMEDIATE mode a transaction would hold the write lock
            // and stall every push. The lists may disagree by a concurrent push; retention checks each
            // deletion against the database again, and the model ignores references to unknown manifests.
            try (Statement s = c.createStatement()) {
                try (ResultSet r = s.executeQuery("SELECT repository, digest, size, pushed_at, last_used_at, subject FROM manifests "
                        + "WHERE retired_until IS NULL")) {
                    while (r.next()) {
                        manifests.add(new CacheSnapshot.ManifestRow(one.apply(r.getString(1)), one.apply(r.getString(2)), r.getLong(3),
                                Instant.ofEpochMilli(r.getLong(4)), Instant.ofEpochMilli(r.getLong(5)), Optional.ofNullable(one.apply(r.getString(6)))));
                    }
                }
                try (ResultSet r = s.executeQuery("SELECT repository, name, digest FROM tags")) {
                    while (r.next()) tags.add(new CacheSnapshot.TagRow(one.apply(r.getString(1)), r.getString(2), one.apply(r.getString(3))));
                }
                try (ResultSet r = s.executeQuery("SELECT repository, manifest, reference FROM manifest_references")) {
                    while (r.next()) {
                        references.add(new CacheSnapshot.ReferenceRow(one.apply(r.getString(1)), one.apply(r.getString(2)), one.apply(r.getString(3))));
                    }
                }
                try (ResultSet r = s.executeQuery("SELECT digest, size FROM blobs")) {
                    while (r.next()) sizes.put(one.apply(r.getString(1)), r.getLong(2));
                }
            }
            return new CacheSnapshot(manifests, tags, references, sizes, SqlKeyedEntries.rows(c, one));
        });
    }

    long storedBytes() {
        return database.read(c -> {
            try (Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("SELECT (SELECT COALESCE(SUM(size), 0) FROM blobs) + (SELECT COALESCE(SUM(size), 0) FROM manifests) "
                         + "+ (SELECT COALESCE(SUM(size), 0) FROM keyed_entries)")) {
                return r.next() ? r.getLong(1) : 0L;
            }
        });
    }

    List<List<String>> deleteUnits(List<UnitDeletion> units, ReadProtection protection, Instant now) {
        return database.write(c -> {
            try (Statements st = new Statements(c)) {
                List<List<String>> results = new ArrayList<>();
                for (UnitDeletion unit : units) results.add(deleteUnitIfUnchanged(st, unit, protection, now));
                return results;
            }
        });
    }

    private static List<String> deleteUnitIfUnchanged(Statements st, UnitDeletion unit, ReadProtection protection, Instant now)
            throws SQLException {
        String repo = unit.repository().value();
        String root = unit.digests().getFirst();
        PreparedStatement pushed = st.prepare("SELECT pushed_at FROM manifests WHERE repository = ? AND digest = ?");
        bind(pushed, repo, root);
        try (ResultSet r = pushed.executeQuery()) {
            if (!r.next() || r.getLong(1) != unit.rootPushedAt().toEpochMilli()) return List.of();
        }
        java.util.Set<String> members = new java.util.HashSet<>(unit.digests());
        for (String digest : unit.digests()) {
            boolean isRoot = digest.equals(root);
            if (unit.usedNoLaterThan().isPresent() && st.exists("SELECT 1 FROM manifests WHERE repository = ? AND digest = ? AND last_used_at > ?",
                    repo, digest, unit.usedNoLaterThan().get().toEpochMilli())) {
                return List.of();
            }
            if ((!isRoot || unit.rootMustBeUntagged()) && st.exists("SELECT 1 FROM tags WHERE repository = ? AND digest = ?", repo, digest)) {
                return List.of();
            }
            // A manifest pushed since the plan (an index listing this one, say) keeps the whole unit alive.
            for (String referrer : st.strings("SELECT manifest FROM manifest_references WHERE repository = ? AND reference = ?", repo, digest)) {
                if (!members.contains(referrer)) return List.of();
            }
        }
        // Read in this transaction: a confirmation that committed before it counts, one that comes after finds
        // the unit retired (and extends its stay) or gone (and answers 404).
        Optional<Instant> keepUntil = lastRecordedUse(st, repo, unit.digests()).flatMap(used -> protection.keepEvictedUntil(used, now));
        List<String> deleted = new ArrayList<>();
        for (String digest : unit.digests()) {
            insertManifestAuditEvent(st, repo, digest, unit.reason().wireName());
            st.update("DELETE FROM tags WHERE repository = ? AND digest = ?", repo, digest);
            if (keepUntil.isPresent()) {
                if (st.update("UPDATE manifests SET retired_until = ?, retired_limit = ? WHERE repository = ? AND digest = ?",
                        keepUntil.get().toEpochMilli(), keepUntil.get().plus(protection.grace()).toEpochMilli(), repo, digest) > 0) {
                    deleted.add(digest);
                }
                continue;
            }
            if (st.update("DELETE FROM manifests WHERE repository = ? AND digest = ?", repo, digest) > 0) deleted.add(digest);
            st.update("DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", repo, digest);
        }
        return deleted;
    }

    private static Optional<Instant> lastRecordedUse(Statements st, String repo, List<String> digests) throws SQLException {
        Optional<Instant> last = Optional.empty();
        PreparedStatement used = st.prepare("SELECT last_used_at FROM manifests WHERE repository = ? AND digest = ?");
        for (String digest : digests) {
            bind(used, repo, digest);
            try (ResultSet r = used.executeQuery()) {
                if (r.next()) {
                    Instant at = Instant.ofEpochMilli(r.getLong(1));
                    if (last.isEmpty() || at.isAfter(last.get())) last = Optional.of(at);
                }
            }
        }
        return last;
    }

    int deleteRetiredManifests(Instant now, int limit) {
        return database.write(c -> {
            List<String[]> due = new ArrayList<>();
            // Only what no other manifest references: an index goes before its children, so a child stays as
            // long as an index whose stay a read extended.
            try (PreparedStatement s = c.prepareStatement("SELECT m.repository, m.digest FROM manifests m "
                    + "WHERE m.retired_until IS NOT NULL AND m.retired_until < ? AND NOT EXISTS (SELECT 1 FROM manifest_references r "
                    + "WHERE r.repository = m.repository AND r.reference = m.digest) ORDER BY m.retired_until LIMIT ?")) {
                s.setLong(1, now.toEpochMilli());
                s.setInt(2, limit);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) due.add(new String[]{r.getString(1), r.getString(2)});
                }
            }
            int deleted = 0;
            try (Statements st = new Statements(c)) {
                for (String[] m : due) {
                    // Checked again in the statement: a push may have taken it back since the select.
                    if (st.update("DELETE FROM manifests WHERE repository = ? AND digest = ? AND retired_until IS NOT NULL "
                            + "AND retired_until < ? AND NOT EXISTS (SELECT 1 FROM manifest_references r "
                            + "WHERE r.repository = manifests.repository AND r.reference = manifests.digest)",
                            m[0], m[1], now.toEpochMilli()) > 0) {
                        st.update("DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", m[0], m[1]);
                        deleted++;
                    }
                }
            }
            return deleted;
        });
    }

    int deleteRetiredManifests(java.util.function.Predicate<String> repositories, Optional<Instant> pushedBefore) {
        int total = 0;
        int deleted;
        do { // indexes first, then, on the next pass, the children they held
            deleted = database.write(c -> {
                List<String[]> due = new ArrayList<>();
                try (PreparedStatement s = c.prepareStatement("SELECT m.repository, m.digest, m.pushed_at FROM manifests m "
                        + "WHERE m.retired_until IS NOT NULL AND NOT EXISTS (SELECT 1 FROM manifest_references r "
                        + "WHERE r.repository = m.repository AND r.reference = m.digest)");
                     ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        if (!repositories.test(r.getString(1))) continue;
                        if (pushedBefore.isPresent() && !Instant.ofEpochMilli(r.getLong(3)).isBefore(pushedBefore.get())) continue;
                        due.add(new String[]{r.getString(1), r.getString(2)});
                    }
                }
                int count = 0;
                try (Statements st = new Statements(c)) {
                    for (String[] m : due) {
                        if (st.update("DELETE FROM manifests WHERE repository = ? AND digest = ? AND retired_until IS NOT NULL", m[0], m[1]) > 0) {
                            st.update("DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", m[0], m[1]);
                            count++;
                        }
                    }
                }
                return count;
            });
            total += deleted;
        } while (deleted > 0);
        return total;
    }

    int deleteUnreferencedLinks(Instant cutoff, int limit) {
        return database.write(c -> update(c, "DELETE FROM repository_blobs WHERE (repository, digest) IN ("
                + "SELECT l.repository, l.digest FROM repository_blobs l JOIN blobs b ON b.digest = l.digest "
                + "WHERE l.linked_at < ? AND b.last_used_at < ? AND NOT EXISTS (SELECT 1 FROM manifest_references r "
                + "WHERE r.repository = l.repository AND r.reference = l.digest) LIMIT ?)",
                cutoff.toEpochMilli(), cutoff.toEpochMilli(), limit));
    }

    Optional<LinkKey> deleteUnreferencedLinks(Instant cutoff, Optional<LinkKey> after, int pageSize) {
        return database.write(c -> {
            String fromRepository = after.map(LinkKey::repository).orElse("");
            String fromDigest = after.map(LinkKey::digest).orElse("");
            Optional<LinkKey> end = Optional.empty();
            try (PreparedStatement s = c.prepareStatement("SELECT repository, digest FROM repository_blobs "
                    + "WHERE (repository, digest) > (?, ?) ORDER BY repository, digest LIMIT 1 OFFSET ?")) {
                bind(s, fromRepository, fromDigest, pageSize - 1);
                try (ResultSet r = s.executeQuery()) {
                    if (r.next()) end = Optional.of(new LinkKey(r.getString(1), r.getString(2)));
                }
            }
            // The same conditions as deleteUnreferencedLinks, checked row by row inside the page.
            String sql = "DELETE FROM repository_blobs WHERE (repository, digest) > (?, ?)"
                    + (end.isPresent() ? " AND (repository, digest) <= (?, ?)" : "")
                    + " AND linked_at < ? AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = repository_blobs.digest AND b.last_used_at < ?)"
                    + " AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = repository_blobs.repository"
                    + " AND r.reference = repository_blobs.digest)";
            long at = cutoff.toEpochMilli();
            if (end.isPresent()) {
                update(c, sql, fromRepository, fromDigest, end.get().repository(), end.get().digest(), at, at);
            } else {
                update(c, sql, fromRepository, fromDigest, at, at);
            }
            return end;
        });
    }

    List<Digest> unlinkedBlobs(Instant cutoff, Optional<Digest> after, int limit) {
        return database.read(c -> {
            List<Digest> blobs = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("SELECT b.digest FROM blobs b WHERE b.digest > ? AND b.created_at < ? "
                    + "AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest) "
                    + "AND NOT EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = b.digest) ORDER BY b.digest LIMIT ?")) {
                s.setString(1, after.map(Digest::toString).orElse(""));
                s.setLong(2, cutoff.toEpochMilli());
                s.setInt(3, limit);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) blobs.add(Digest.parse(r.getString(1)));
                }
            }
            return blobs;
        });
    }

    java.util.Set<Digest> blobRecordsAmong(java.util.Collection<Digest> digests) {
        java.util.Set<Digest> found = new java.util.HashSet<>();
        List<Digest> all = List.copyOf(digests);
        for (int from = 0; from < all.size(); from += 500) {
            List<Digest> part = all.subList(from, Math.min(all.size(), from + 500));
            database.read(c -> {
                try (PreparedStatement s = c.prepareStatement("SELECT digest FROM blobs WHERE digest IN ("
                        + String.join(", ", java.util.Collections.nCopies(part.size(), "?")) + ")")) {
                    for (int i = 0; i < part.size(); i++) s.setString(i + 1, part.get(i).toString());
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) found.add(Digest.parse(r.getString(1)));
                    }
                }
                return null;
            });
        }
        return found;
    }

    java.util.Map<Digest, Long> deleteBlobsIfUnlinked(java.util.Map<Digest, DeletionReason> reasons) {
        return database.write(c -> {
            java.util.Map<Digest, Long> deleted = new java.util.LinkedHashMap<>();
            try (Statements st = new Statements(c)) {
                for (Digest digest : reasons.keySet()) {
                    Long size = null;
                    PreparedStatement s = st.prepare("SELECT size FROM blobs WHERE digest = ?");
                    s.setString(1, digest.toString());
                    try (ResultSet r = s.executeQuery()) {
                        if (r.next()) size = r.getLong(1);
                    }
                    if (size != null && st.update("DELETE FROM blobs WHERE digest = ? "
                            + "AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = ?) "
                            + "AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.reference = ?) "
                            + "AND NOT EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = ?)",
                            digest.toString(), digest.toString(), digest.toString(), digest.toString()) > 0) {
                        deleted.put(digest, size);
                        insertAuditEvent(st, new AuditEvent(0, Instant.now(), "blob", Optional.empty(), digest.toString(), List.of(), size,
                                reasons.get(digest).wireName()));
                    }
                }
            }
            return deleted;
        });
    }

    Optional<String> setting(String name) {
        return database.read(c -> {
            List<String> values = strings(c, "SELECT value FROM settings WHERE name = ?", name);
            return values.isEmpty() ? Optional.<String>empty() : Optional.of(values.getFirst());
        });
    }

    void putSetting(String name, String value) {
        database.write(c -> update(c, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                name, value));
    }

    List<RepositoryFigures> repositoryFigures() {
        return database.read(c -> {
            List<RepositoryFigures> figures = new ArrayList<>();
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT p.name, "
                    + "(SELECT COUNT(*) FROM manifests m WHERE m.repository = p.name), "
                    + "(SELECT COUNT(*) FROM tags t WHERE t.repository = p.name), "
                    + "(SELECT COALESCE(SUM(b.size), 0) FROM repository_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repository = p.name) "
                    + " + (SELECT COALESCE(SUM(m.size), 0) FROM manifests m WHERE m.repository = p.name), "
                    + "(SELECT MAX(m.last_used_at) FROM manifests m WHERE m.repository = p.name) "
                    + "FROM repositories p ORDER BY p.name")) {
                while (r.next()) {
                    long lastUsed = r.getLong(5);
                    figures.add(new RepositoryFigures(r.getString(1), r.getLong(2), r.getLong(3), r.getLong(4),
                            r.wasNull() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(lastUsed))));
                }
            }
            return figures;
        });
    }
}
