package dev.cairn.metadata;

import dev.cairn.metadata.RetentionRecords.EntryOrder;
import dev.cairn.metadata.RetentionRecords.EntryPosition;
import dev.cairn.metadata.RetentionRecords.ListedEntry;
import dev.cairn.metadata.RetentionRecords.UnitMember;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.cairn.metadata.Statements.bind;

/**
 * What the collector plans from, read a page at a time in the order it evicts in, each page by keyset on
 * an index made for that order (V9), so that a page costs the same at any store size. Plain reads, no
 * transaction: a page may be behind a concurrent push or use, and every deletion checks its entry again.
 */
final class SqlEntryListing {
    static final String MANIFEST_KIND = "manifest";

    /** A live manifest is a root if tagged, or referenced by no manifest and not the referrer of a live one. */
    private static final String IS_ROOT = "(EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest) "
            + "OR (NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = m.repository AND r.reference = m.digest) "
            + "AND NOT (m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository "
            + "AND s.digest = m.subject AND s.retired_until IS NULL))))";
    private static final String ROOT_COLUMNS = "m.repository, m.digest, m.size, m.pushed_at, m.last_used_at, "
            + "EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest), "
            + "(EXISTS (SELECT 1 FROM manifest_references r JOIN manifests c ON c.repository = r.repository AND c.digest = r.reference "
            + "WHERE r.repository = m.repository AND r.manifest = m.digest AND c.retired_until IS NULL) "
            + "OR EXISTS (SELECT 1 FROM manifests f WHERE f.repository = m.repository AND f.subject = m.digest AND f.retired_until IS NULL))";
    private static final String UNTAGGED = "NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = c.repository AND t.digest = c.digest)";

    private static final Instant LATEST = Instant.ofEpochMilli(Long.MAX_VALUE);

    private final SqlDatabase database;

    SqlEntryListing(SqlDatabase database) {
        this.database = database;
    }

    List<ListedEntry> rootManifests(EntryOrder order, EntryPosition after, Instant before, int limit) {
        String sql = switch (order) {
            case LAST_USE -> "SELECT " + ROOT_COLUMNS + " FROM manifests m WHERE m.retired_until IS NULL "
                    + "AND (m.last_used_at, m.pushed_at, m.repository, m.digest) > (?, ?, ?, ?) AND m.last_used_at < ? AND " + IS_ROOT
                    + " ORDER BY m.last_used_at, m.pushed_at, m.repository, m.digest LIMIT ?";
            case PUSH_TIME -> "SELECT " + ROOT_COLUMNS + " FROM manifests m WHERE m.retired_until IS NULL "
                    + "AND (m.pushed_at, m.repository, m.digest) > (?, ?, ?) AND m.pushed_at < ? AND " + IS_ROOT
                    + " ORDER BY m.pushed_at, m.repository, m.digest LIMIT ?";
        };
        return database.read(c -> {
            List<ListedEntry> page = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement(sql)) {
                bindPosition(s, order, after, before, limit, false);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        Instant pushed = Instant.ofEpochMilli(r.getLong(4));
                        Instant used = Instant.ofEpochMilli(r.getLong(5));
                        page.add(new ListedEntry(MANIFEST_KIND, r.getString(1), r.getString(2), r.getLong(3), pushed, used, r.getBoolean(6),
                                r.getBoolean(7), position(order, r.getString(1), r.getString(2), MANIFEST_KIND, pushed, used)));
                    }
                }
            }
            return page;
        });
    }

    List<ListedEntry> keyedEntries(EntryOrder order, EntryPosition after, Instant before, int limit) {
        String columns = "SELECT kind, namespace, entry_key, size, pushed_at, last_used_at FROM keyed_entries ";
        String sql = switch (order) {
            case LAST_USE -> columns + "WHERE (last_used_at, pushed_at, namespace, entry_key, kind) > (?, ?, ?, ?, ?) AND last_used_at < ? "
                    + "ORDER BY last_used_at, pushed_at, namespace, entry_key, kind LIMIT ?";
            case PUSH_TIME -> columns + "WHERE (pushed_at, namespace, entry_key, kind) > (?, ?, ?, ?) AND pushed_at < ? "
                    + "ORDER BY pushed_at, namespace, entry_key, kind LIMIT ?";
        };
        return database.read(c -> {
            List<ListedEntry> page = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement(sql)) {
                bindPosition(s, order, after, before, limit, true);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        Instant pushed = Instant.ofEpochMilli(r.getLong(5));
                        Instant used = Instant.ofEpochMilli(r.getLong(6));
                        page.add(new ListedEntry(r.getString(1), r.getString(2), r.getString(3), r.getLong(4), pushed, used, false, false,
                                position(order, r.getString(2), r.getString(3), r.getString(1), pushed, used)));
                    }
                }
            }
            return page;
        });
    }

    private static EntryPosition position(EntryOrder order, String name, String key, String kind, Instant pushed, Instant used) {
        return order == EntryOrder.LAST_USE
                ? new EntryPosition(used.toEpochMilli(), pushed.toEpochMilli(), name, key, kind)
                : new EntryPosition(pushed.toEpochMilli(), 0, name, key, kind);
    }

    private static void bindPosition(PreparedStatement s, EntryOrder order, EntryPosition after, Instant before, int limit, boolean withKind)
            throws SQLException {
        List<Object> args = new ArrayList<>();
        args.add(after.time());
        if (order == EntryOrder.LAST_USE) args.add(after.pushedAt());
        args.add(after.name());
        args.add(after.key());
        if (withKind) args.add(after.kind());
        args.add(before.isAfter(LATEST) ? Long.MAX_VALUE : before.toEpochMilli()); // "no limit" may come as Instant.MAX
        args.add(limit);
        bind(s, args.toArray());
    }

    List<UnitMember> unitMembers(String repository, String root) {
        return database.read(c -> {
            Map<String, UnitMember> members = new LinkedHashMap<>();
            try (PreparedStatement self = c.prepareStatement("SELECT digest, size, pushed_at, last_used_at FROM manifests c "
                    + "WHERE repository = ? AND digest = ? AND retired_until IS NULL");
                 PreparedStatement children = c.prepareStatement("SELECT c.digest, c.size, c.pushed_at, c.last_used_at "
                         + "FROM manifest_references r JOIN manifests c ON c.repository = r.repository AND c.digest = r.reference "
                         + "WHERE r.repository = ? AND r.manifest = ? AND c.retired_until IS NULL AND " + UNTAGGED);
                 PreparedStatement referrers = c.prepareStatement("SELECT c.digest, c.size, c.pushed_at, c.last_used_at FROM manifests c "
                         + "WHERE c.repository = ? AND c.subject = ? AND c.retired_until IS NULL AND " + UNTAGGED)) {
                bind(self, repository, root);
                addMembers(self, members, null);
                if (members.isEmpty()) return List.of();
                Deque<String> queue = new ArrayDeque<>(List.of(root));
                while (!queue.isEmpty()) {
                    String digest = queue.poll();
                    for (PreparedStatement next : List.of(children, referrers)) {
                        bind(next, repository, digest);
                        addMembers(next, members, queue);
                    }
                }
            }
            return List.copyOf(members.values());
        });
    }

    /**
     * Adds the rows a statement finds, in digest order for a reproducible unit. Sorted here: with ORDER BY in the
     * query, SQLite walks every manifest of the repository in key order instead of using the references' key.
     */
    private static void addMembers(PreparedStatement s, Map<String, UnitMember> members, Deque<String> queue) throws SQLException {
        java.util.TreeMap<String, UnitMember> found = new java.util.TreeMap<>();
        try (ResultSet r = s.executeQuery()) {
            while (r.next()) {
                found.put(r.getString(1), new UnitMember(r.getString(1), r.getLong(2), Instant.ofEpochMilli(r.getLong(3)), Instant.ofEpochMilli(r.getLong(4))));
            }
        }
        for (UnitMember member : found.values()) {
            if (members.containsKey(member.digest())) continue;
            members.put(member.digest(), member);
            if (queue != null) queue.add(member.digest());
        }
    }

    List<String> tagsOf(String repository, String digest) {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                return SqlRetentionRecords.tagNames(st, repository, digest);
            }
        });
    }

    /**
     * Marked blobs nothing holds. Written as "digest IN (the marks)" so that SQLite reads the marks and looks each blob
     * up: as a join it scanned every blob and asked, for each, whether something holds it (88 s at 5,000,000 blobs).
     */
    static final String UNHELD_BLOB_BYTES = "SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN (SELECT digest FROM sweep_marks) AND NOT EXISTS ("
            + SqlRetentionRecords.LIVE_REFERENCE + ") AND NOT EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = b.digest)";

    long unheldBlobBytes() {
        return database.read(c -> {
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(UNHELD_BLOB_BYTES)) {
                return r.next() ? r.getLong(1) : 0L;
            }
        });
    }

    long heldBytes() {
        // One statement, so one snapshot, on both databases.
        return database.read(c -> {
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT (" + SqlRetentionRecords.STORED_BYTES + ") - ("
                    + UNHELD_BLOB_BYTES + ")")) {
                return r.next() ? r.getLong(1) : 0L;
            }
        });
    }

    Map<String, Long> blobsHeldBy(String kind, String name, List<String> records) {
        return database.read(c -> {
            Map<String, Long> blobs = new LinkedHashMap<>();
            boolean manifests = kind.equals(MANIFEST_KIND);
            String sql = manifests
                    ? "SELECT b.digest, b.size FROM manifest_references r JOIN blobs b ON b.digest = r.reference WHERE r.repository = ? AND r.manifest = ?"
                    : "SELECT b.digest, b.size FROM keyed_entry_blobs e JOIN blobs b ON b.digest = e.digest "
                    + "WHERE e.namespace = ? AND e.entry_key = ? AND e.kind = ?";
            try (PreparedStatement s = c.prepareStatement(sql)) {
                for (String record : records) {
                    if (manifests) bind(s, name, record);
                    else bind(s, name, record, kind);
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) blobs.put(r.getString(1), r.getLong(2));
                    }
                }
            }
            return blobs;
        });
    }

    List<String> blobHolders(String digest, int limit) {
        return database.read(c -> {
            List<String> holders = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("SELECT r.repository || '@' || r.manifest FROM manifest_references r "
                    + "JOIN manifests m ON m.repository = r.repository AND m.digest = r.manifest "
                    + "WHERE r.reference = ? AND m.retired_until IS NULL LIMIT ?")) {
                bind(s, digest, limit);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) holders.add(r.getString(1));
                }
            }
            if (holders.size() < limit) {
                try (PreparedStatement s = c.prepareStatement("SELECT kind || ':' || namespace || '@' || entry_key FROM keyed_entry_blobs "
                        + "WHERE digest = ? LIMIT ?")) {
                    bind(s, digest, limit - holders.size());
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) holders.add(r.getString(1));
                    }
                }
            }
            return holders;
        });
    }
}
