package dev.cairn.metadata;

import dev.cairn.metadata.RetentionRecords.AuditEvent;
import dev.cairn.metadata.RetentionRecords.EntryDeletion;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;

import static dev.cairn.metadata.SqlAuditEvents.insertAuditEvent;

/**
 * Keyed entries in SQL: one row per entry and one per blob it holds. Apart from the registry's records
 * because no repository, manifest or tag is involved: a kind of entry that is not an OCI image stores
 * here, and retention reads and deletes it beside the images without knowing its kind.
 */
final class SqlKeyedEntries {
    private final SqlDatabase database;

    SqlKeyedEntries(SqlDatabase database) {
        this.database = database;
    }

    /** Lower-case words joined by '-': no space (rows are keyed by kind, namespace and key joined by spaces). */
    private static final java.util.regex.Pattern KIND = java.util.regex.Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");
    /** The audit log's words for OCI manifests and blobs: a keyed kind named so would read as one of them. */
    private static final java.util.Set<String> RESERVED_KINDS = java.util.Set.of("manifest", "blob");

    List<Digest> putEntry(String kind, RepositoryName namespace, String key, long size, Collection<Digest> blobs, Instant now) {
        checkEntry(kind, key, size);
        List<Digest> held = List.copyOf(new LinkedHashSet<>(blobs));
        return database.write(c -> {
            try (Statements st = new Statements(c)) {
                List<Digest> missing = new ArrayList<>();
                for (Digest blob : held) {
                    if (!st.exists("SELECT 1 FROM blobs WHERE digest = ?", blob.toString())) missing.add(blob);
                }
                if (!missing.isEmpty()) return missing;
                replaceEntry(st, kind, namespace.value(), key, size, null, held, now);
                return List.of();
            }
        });
    }

    EntryRecords.ContentStored putContent(String kind, RepositoryName namespace, String key, Digest content, long contentSize,
                                          Collection<Digest> alsoHolds, EntryRecords.ContentNotes notes, Instant now) {
        checkEntry(kind, key, contentSize);
        LinkedHashSet<Digest> held = new LinkedHashSet<>(List.of(content));
        held.addAll(alsoHolds);
        return database.write(c -> {
            try (Statements st = new Statements(c)) {
                List<Digest> missing = new ArrayList<>();
                for (Digest blob : alsoHolds) {
                    if (!blob.equals(content) && !st.exists("SELECT 1 FROM blobs WHERE digest = ?", blob.toString())) missing.add(blob);
                }
                if (!missing.isEmpty()) return new EntryRecords.ContentStored(false, missing);
                boolean added = st.update("INSERT INTO blobs (digest, size, created_at, last_used_at) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                        content.toString(), contentSize, now.toEpochMilli(), now.toEpochMilli()) > 0;
                replaceEntry(st, kind, namespace.value(), key, 0, content.toString(), List.copyOf(held), now);
                st.update("UPDATE keyed_entries SET cost_ms = ?, signature = ? WHERE kind = ? AND namespace = ? AND entry_key = ?",
                        notes.costMillis().isPresent() ? notes.costMillis().getAsLong() : null, notes.signature().orElse(null),
                        kind, namespace.value(), key);
                return new EntryRecords.ContentStored(added, List.of());
            }
        });
    }

    /** Keys of the answers {@link RememberedReads} holds: an entry's content by key, and a blob entries hold. */
    private record ContentRead(String kind, RepositoryName namespace, String key) {
    }

    private record HeldRead(String kind, RepositoryName namespace, Digest digest) {
    }

    /**
     * A blob that an entry of a kind and namespace holds, with the first such entry's times. "|| ''" keeps SQLite off
     * the primary key's (kind, namespace) prefix, which it otherwise prefers and walks the whole namespace with (18 ms
     * a read at 150,000 keys, so an export of a namespace was quadratic): the digest's index finds the few rows
     * holding this blob. SqlKeyedEntriesPlanTest holds the plan to it.
     */
    static final String HELD_CONTENT = "SELECT b.size, e.pushed_at, e.last_used_at FROM keyed_entry_blobs k "
            + "JOIN keyed_entries e ON e.kind = k.kind AND e.namespace = k.namespace AND e.entry_key = k.entry_key "
            + "JOIN blobs b ON b.digest = k.digest WHERE k.digest = ? AND k.kind || '' = ? AND k.namespace || '' = ? LIMIT 1";

    Optional<EntryRecords.StoredContent> heldContent(String kind, RepositoryName namespace, Digest digest) {
        return database.remembered.read(new HeldRead(kind, namespace, digest), () -> database.read(c -> {
            try (Statements st = new Statements(c)) {
                PreparedStatement s = st.prepare(HELD_CONTENT);
                Statements.bind(s, digest.toString(), kind, namespace.value());
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) return Optional.empty();
                    return Optional.of(new EntryRecords.StoredContent(digest, r.getLong(1), Instant.ofEpochMilli(r.getLong(2)),
                            Instant.ofEpochMilli(r.getLong(3)), EntryRecords.ContentNotes.NONE));
                }
            }
        }), held -> 0);
    }

    private static void checkEntry(String kind, String key, long size) {
        if (kind.length() > 64 || !KIND.matcher(kind).matches() || RESERVED_KINDS.contains(kind)) {
            throw new IllegalArgumentException("an entry kind is a lower-case word such as 'ccache' (not 'manifest' or 'blob'): " + kind);
        }
        if (key.isEmpty() || size < 0) throw new IllegalArgumentException("an entry needs a key and a size of at least 0");
    }

    private static void replaceEntry(Statements st, String kind, String ns, String key, long size, String content, List<Digest> held, Instant now)
            throws SQLException {
        // An entry written again may hold other blobs than before: the sweep looks at those it held.
        SqlRetentionRecords.markForSweep(st, st.strings("SELECT digest FROM keyed_entry_blobs WHERE kind = ? AND namespace = ? AND entry_key = ?",
                kind, ns, key), DeletionReason.UNREFERENCED);
        st.update("DELETE FROM keyed_entry_blobs WHERE kind = ? AND namespace = ? AND entry_key = ?", kind, ns, key);
        st.update("INSERT INTO keyed_entries (kind, namespace, entry_key, size, pushed_at, last_used_at, content) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        + "ON CONFLICT (kind, namespace, entry_key) DO UPDATE SET size = excluded.size, pushed_at = excluded.pushed_at, "
                        + "last_used_at = excluded.last_used_at, content = excluded.content",
                kind, ns, key, size, now.toEpochMilli(), now.toEpochMilli(), content);
        for (Digest blob : held) {
            st.update("INSERT INTO keyed_entry_blobs (kind, namespace, entry_key, digest) VALUES (?, ?, ?, ?)", kind, ns, key, blob.toString());
        }
    }

    Optional<EntryRecords.StoredContent> content(String kind, RepositoryName namespace, String key) {
        return database.remembered.read(new ContentRead(kind, namespace, key), () -> storedContent(kind, namespace, key),
                stored -> stored.notes().signature().map(String::length).orElse(0));
    }

    Optional<EntryRecords.StoredContent> storedContent(String kind, RepositoryName namespace, String key) {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                PreparedStatement s = st.prepare("SELECT b.digest, b.size, e.pushed_at, e.last_used_at, e.cost_ms, e.signature FROM keyed_entries e "
                        + "JOIN blobs b ON b.digest = e.content WHERE e.kind = ? AND e.namespace = ? AND e.entry_key = ?");
                Statements.bind(s, kind, namespace.value(), key);
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) return Optional.empty();
                    long cost = r.getLong(5);
                    java.util.OptionalLong costMillis = r.wasNull() ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(cost);
                    return Optional.of(new EntryRecords.StoredContent(Digest.parse(r.getString(1)), r.getLong(2),
                            Instant.ofEpochMilli(r.getLong(3)), Instant.ofEpochMilli(r.getLong(4)),
                            new EntryRecords.ContentNotes(costMillis, Optional.ofNullable(r.getString(6)))));
                }
            }
        });
    }

    boolean deleteEntry(String kind, RepositoryName namespace, String key, Instant now) {
        return database.write(c -> {
            try (Statements st = new Statements(c)) {
                String ns = namespace.value();
                PreparedStatement s = st.prepare("DELETE FROM keyed_entries WHERE kind = ? AND namespace = ? AND entry_key = ? "
                        + "RETURNING size + COALESCE((SELECT b.size FROM blobs b WHERE b.digest = content), 0)");
                Statements.bind(s, kind, ns, key);
                long size;
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) return false;
                    size = r.getLong(1);
                }
                List<String> held = st.strings("SELECT digest FROM keyed_entry_blobs WHERE kind = ? AND namespace = ? AND entry_key = ?", kind, ns, key);
                st.update("DELETE FROM keyed_entry_blobs WHERE kind = ? AND namespace = ? AND entry_key = ?", kind, ns, key);
                SqlRetentionRecords.markForSweep(st, held, DeletionReason.MANUAL);
                insertAuditEvent(st, new AuditEvent(0, now, kind, Optional.of(ns), key, List.of(), size, DeletionReason.MANUAL.wireName()));
                return true;
            }
        });
    }

    List<EntryRecords.StoredKey> keys(String kind, RepositoryName namespace, String from, String to, int limit) {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                // The content's size where the entry is content under its key, else its own.
                PreparedStatement s = st.prepare("SELECT e.entry_key, COALESCE((SELECT b.size FROM blobs b WHERE b.digest = e.content), e.size), "
                        + "e.pushed_at FROM keyed_entries e WHERE e.kind = ? AND e.namespace = ? AND e.entry_key >= ? AND e.entry_key < ? "
                        + "ORDER BY e.entry_key LIMIT ?");
                Statements.bind(s, kind, namespace.value(), from, to, limit);
                List<EntryRecords.StoredKey> keys = new ArrayList<>();
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) keys.add(new EntryRecords.StoredKey(r.getString(1), r.getLong(2), Instant.ofEpochMilli(r.getLong(3))));
                }
                return keys;
            }
        });
    }

    List<EntryRecords.KeyedNamespace> keyedNamespaces() {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                PreparedStatement s = st.prepare("SELECT kind, namespace, count(*) FROM keyed_entries WHERE content IS NOT NULL "
                        + "GROUP BY kind, namespace ORDER BY kind, namespace");
                List<EntryRecords.KeyedNamespace> found = new ArrayList<>();
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) found.add(new EntryRecords.KeyedNamespace(r.getString(1), RepositoryName.of(r.getString(2)), r.getLong(3)));
                }
                return found;
            }
        });
    }

    List<EntryRecords.ListedContent> contents(String kind, RepositoryName namespace, String after, int limit) {
        return contents(kind, namespace, after, limit, EntryRecords.MAX_LISTED_HOLDS);
    }

    /** {@link #contents(String, RepositoryName, String, int)} with the page cut after {@code maxHolds} holds (a test's smaller bound). */
    List<EntryRecords.ListedContent> contents(String kind, RepositoryName namespace, String after, int limit, int maxHolds) {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                PreparedStatement s = st.prepare("SELECT e.entry_key, b.digest, b.size, e.pushed_at, e.last_used_at, e.cost_ms, e.signature "
                        + "FROM keyed_entries e JOIN blobs b ON b.digest = e.content WHERE e.kind = ? AND e.namespace = ? AND e.entry_key > ? "
                        + "ORDER BY e.entry_key LIMIT ?");
                Statements.bind(s, kind, namespace.value(), after, limit);
                List<String> keys = new ArrayList<>();
                List<EntryRecords.StoredContent> stored = new ArrayList<>();
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        keys.add(r.getString(1));
                        long cost = r.getLong(6);
                        java.util.OptionalLong costMillis = r.wasNull() ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(cost);
                        stored.add(new EntryRecords.StoredContent(Digest.parse(r.getString(2)), r.getLong(3), Instant.ofEpochMilli(r.getLong(4)),
                                Instant.ofEpochMilli(r.getLong(5)), new EntryRecords.ContentNotes(costMillis, Optional.ofNullable(r.getString(7)))));
                    }
                }
                if (keys.isEmpty()) return List.of();
                // the other blobs the page's keys hold, in one query over the page's range of keys, bounded
                PreparedStatement h = st.prepare("SELECT k.entry_key, k.digest, b.size FROM keyed_entry_blobs k JOIN blobs b ON b.digest = k.digest "
                        + "JOIN keyed_entries e ON e.kind = k.kind AND e.namespace = k.namespace AND e.entry_key = k.entry_key "
                        + "WHERE k.kind = ? AND k.namespace = ? AND k.entry_key >= ? AND k.entry_key <= ? AND k.digest <> e.content "
                        + "ORDER BY k.entry_key, k.digest LIMIT ?");
                Statements.bind(h, kind, namespace.value(), keys.getFirst(), keys.getLast(), maxHolds + 1);
                Map<String, List<EntryRecords.HeldBlob>> holds = new HashMap<>();
                int rows = 0;
                String cut = null;
                try (ResultSet r = h.executeQuery()) {
                    while (r.next()) {
                        if (++rows > maxHolds) {
                            cut = r.getString(1); // this key's holds are not all here: the page ends before it
                            break;
                        }
                        holds.computeIfAbsent(r.getString(1), k -> new ArrayList<>()).add(new EntryRecords.HeldBlob(Digest.parse(r.getString(2)), r.getLong(3)));
                    }
                }
                List<EntryRecords.ListedContent> page = new ArrayList<>();
                for (int i = 0; i < keys.size(); i++) {
                    if (keys.get(i).equals(cut)) break;
                    page.add(new EntryRecords.ListedContent(keys.get(i), stored.get(i), holds.getOrDefault(keys.get(i), List.of())));
                }
                return page;
            }
        });
    }

    List<String> backdateEntries(String kind, RepositoryName namespace, List<EntryRecords.KeyTimes> times, Instant pushedSince) {
        // as a manifest's (see SqlRegistryRecords.backdateManifest): only an entry stored since pushedSince and not read
        // since (a write records its time as its last use), never one a build has read
        return database.write(c -> {
            try (Statements st = new Statements(c)) {
                List<String> refused = new ArrayList<>();
                for (EntryRecords.KeyTimes t : times) {
                    long pushed = t.pushedAt().toEpochMilli();
                    long used = t.lastUsed().toEpochMilli();
                    if (st.update("UPDATE keyed_entries SET pushed_at = CASE WHEN pushed_at > ? THEN ? ELSE pushed_at END, "
                            + "last_used_at = CASE WHEN last_used_at > ? THEN ? ELSE last_used_at END WHERE kind = ? AND namespace = ? "
                            + "AND entry_key = ? AND content IS NOT NULL AND last_used_at <= pushed_at AND pushed_at >= ?",
                            pushed, pushed, used, used, kind, namespace.value(), t.key(), pushedSince.toEpochMilli()) == 0) {
                        refused.add(t.key());
                    }
                }
                return refused;
            }
        });
    }

    Optional<EntryRecords.KeyedEntry> entry(String kind, RepositoryName namespace, String key) {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                PreparedStatement s = st.prepare("SELECT size, pushed_at, last_used_at FROM keyed_entries WHERE kind = ? AND namespace = ? AND entry_key = ?");
                Statements.bind(s, kind, namespace.value(), key);
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) return Optional.empty();
                    List<Digest> blobs = st.strings("SELECT digest FROM keyed_entry_blobs WHERE kind = ? AND namespace = ? AND entry_key = ? "
                            + "ORDER BY digest", kind, namespace.value(), key).stream().map(Digest::parse).toList();
                    return Optional.of(new EntryRecords.KeyedEntry(kind, namespace, key, r.getLong(1), Instant.ofEpochMilli(r.getLong(2)),
                            Instant.ofEpochMilli(r.getLong(3)), blobs));
                }
            }
        });
    }

    boolean entryUsed(String kind, RepositoryName namespace, String key, Instant at) {
        return database.write(c -> {
            try (Statements st = new Statements(c)) {
                if (!st.exists("SELECT 1 FROM keyed_entries WHERE kind = ? AND namespace = ? AND entry_key = ?", kind, namespace.value(), key)) {
                    return false;
                }
                st.update("UPDATE keyed_entries SET last_used_at = ? WHERE kind = ? AND namespace = ? AND entry_key = ? AND last_used_at < ?",
                        at.toEpochMilli(), kind, namespace.value(), key, at.toEpochMilli());
                return true;
            }
        });
    }

    /** Deletes a keyed entry still as retention saw it, with its hold on its blobs (see {@link RetentionRecords#evict}). */
    static RetentionRecords.Evicted deleteIfUnchanged(Statements st, EntryDeletion d, ReadProtection protection, Instant now) throws SQLException {
        // The audit record names the bytes the key stood for (its content's too); what the eviction frees is counted apart.
        PreparedStatement s = st.prepare("SELECT size, size + COALESCE((SELECT b.size FROM blobs b WHERE b.digest = content), 0), last_used_at "
                + "FROM keyed_entries WHERE kind = ? AND namespace = ? AND entry_key = ?");
        Statements.bind(s, d.kind(), d.namespace(), d.key());
        long size;
        long keyBytes;
        try (ResultSet r = s.executeQuery()) {
            if (!r.next()) return RetentionRecords.Evicted.NOTHING;
            size = r.getLong(1);
            keyBytes = r.getLong(2);
            // Read within the grace window (its use may lag the records by the batching lag): a client may still be
            // fetching what it named (Bazel reads an action result, then its outputs). It stays; a later collection
            // takes it once the window has passed. Invalidations pass no protection: their entries go at once.
            if (protection.keepEvictedUntil(Instant.ofEpochMilli(r.getLong(3)), now).isPresent()) return RetentionRecords.Evicted.NOTHING;
        }
        // The conditions sit in the deleting statement itself, so that a push or a use committed since the
        // read above (on another node, under PostgreSQL's read committed) keeps the entry.
        long usedNoLaterThan = d.usedNoLaterThan().map(Instant::toEpochMilli).orElse(Long.MAX_VALUE);
        if (st.update("DELETE FROM keyed_entries WHERE kind = ? AND namespace = ? AND entry_key = ? AND pushed_at = ? AND last_used_at <= ?",
                d.kind(), d.namespace(), d.key(), d.pushedAt().toEpochMilli(), usedNoLaterThan) == 0) {
            return RetentionRecords.Evicted.NOTHING;
        }
        List<String> held = st.strings("SELECT digest FROM keyed_entry_blobs WHERE kind = ? AND namespace = ? AND entry_key = ?",
                d.kind(), d.namespace(), d.key());
        st.update("DELETE FROM keyed_entry_blobs WHERE kind = ? AND namespace = ? AND entry_key = ?", d.kind(), d.namespace(), d.key());
        insertAuditEvent(st, new AuditEvent(0, now, d.kind(), Optional.of(d.namespace()), d.key(), List.of(), keyBytes, d.reason().wireName()));
        List<String> freed = new java.util.ArrayList<>();
        return new RetentionRecords.Evicted(List.of(d.key()), size, size + SqlRetentionRecords.freeUnheld(st, held, d.reason(), freed), freed);
    }
}
