package dev.cairn.metadata;

import dev.cairn.metadata.RetentionRecords.AuditEvent;
import dev.cairn.metadata.RetentionRecords.LinkKey;
import dev.cairn.metadata.RetentionRecords.RepositoryFigures;
import dev.cairn.metadata.RetentionRecords.DeletedBlobRecord;
import dev.cairn.metadata.RetentionRecords.Deletion;
import dev.cairn.metadata.RetentionRecords.Evicted;
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
import java.util.Map;
import java.util.Optional;

import static dev.cairn.metadata.Statements.bind;
import static dev.cairn.metadata.Statements.placeholders;
import static dev.cairn.metadata.Statements.strings;
import static dev.cairn.metadata.Statements.update;

/**
 * Retention's records in SQL: the deletion of evicted entries (units, or their
 * retirement while a read may still be within its grace window), retired manifests, links no manifest
 * references, blobs no repository links, settings and per-repository figures. Apart from the registry's
 * records because retention deletes in batches, checking each deletion
 * against the records again, where the registry reads and writes a few records of one repository a request.
 */
final class SqlRetentionRecords {
    private final SqlDatabase database;

    SqlRetentionRecords(SqlDatabase database) {
        this.database = database;
    }

    /** Every blob once, every manifest document and every keyed entry's own size. */
    static final String STORED_BYTES = "SELECT (SELECT COALESCE(SUM(size), 0) FROM blobs) + (SELECT COALESCE(SUM(size), 0) FROM manifests) "
            + "+ (SELECT COALESCE(SUM(size), 0) FROM keyed_entries)";

    long storedBytes() {
        return database.read(c -> {
            try (Statement s = c.createStatement();
                 ResultSet r = s.executeQuery(STORED_BYTES)) {
                return r.next() ? r.getLong(1) : 0L;
            }
        });
    }

    long blobCount() {
        return database.read(c -> {
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT COUNT(*) FROM blobs")) {
                return r.next() ? r.getLong(1) : 0L;
            }
        });
    }

    /** A live manifest references blob {@code b.digest}: what holds a blob for the planner (retired ones hold it only for their stay). */
    static final String LIVE_REFERENCE = "SELECT 1 FROM manifest_references r JOIN manifests m ON m.repository = r.repository "
            + "AND m.digest = r.manifest WHERE r.reference = b.digest AND m.retired_until IS NULL";

    /**
     * Tries of a collector's batch transaction before it is split in halves. A batch reads much (each unit's rows and
     * whatever else holds its blobs); on PostgreSQL, where many predicate locks on a table become one on all of it,
     * such a transaction keeps losing races to concurrent pushes that a smaller one wins (a 300,000-blob collection
     * under 8 pushers failed every batch of 250 units 20 times over).
     */
    private static final int BATCH_TRIES = 3;

    /** A batch of {@code items} gets {@link #BATCH_TRIES} before it is split; a single item the usual number. */
    private static int triesFor(int items) {
        return items > 1 ? BATCH_TRIES : SqlDatabase.SERIALIZATION_RETRIES;
    }

    List<Evicted> evict(List<? extends Deletion> deletions, ReadProtection protection, Instant now, long bytesToFree) {
        try {
            return evictTogether(deletions, protection, now, bytesToFree);
        } catch (WriteConflictException e) {
            if (deletions.size() < 2) throw e;
            int half = deletions.size() / 2;
            List<Evicted> results = new ArrayList<>(evict(deletions.subList(0, half), protection, now, bytesToFree));
            long freed = results.stream().mapToLong(Evicted::freedBytes).sum();
            if (results.size() < half || freed >= bytesToFree) return results; // stopped once enough was freed
            results.addAll(evict(deletions.subList(half, deletions.size()), protection, now, bytesToFree - freed));
            return results;
        }
    }

    private List<Evicted> evictTogether(List<? extends Deletion> deletions, ReadProtection protection, Instant now, long bytesToFree) {
        return database.write(c -> {
            try (Statements st = new Statements(c)) {
                List<Evicted> results = new ArrayList<>();
                long freed = 0;
                int next = 0;
                while (next < deletions.size() && freed < bytesToFree) {
                    if (deletions.get(next) instanceof RetentionRecords.EntryDeletion entry) {
                        Evicted result = SqlKeyedEntries.deleteIfUnchanged(st, entry, protection, now);
                        results.add(result);
                        freed += result.freedBytes();
                        next++;
                        continue;
                    }
                    // a run of units, evicted together
                    List<UnitDeletion> units = new ArrayList<>();
                    while (next < deletions.size() && deletions.get(next) instanceof UnitDeletion unit) {
                        units.add(unit);
                        next++;
                    }
                    List<Evicted> evicted = SqlUnitEvictions.evict(c, st, units, protection, now, bytesToFree - freed);
                    results.addAll(evicted);
                    freed += evicted.stream().mapToLong(Evicted::freedBytes).sum();
                    if (evicted.size() < units.size()) break;
                }
                return results;
            }
        }, triesFor(deletions.size()));
    }

    /**
     * The names of the tags pointing at a manifest, sorted here: with ORDER BY in the query, SQLite walks every tag
     * of the repository in name order instead of looking the manifest's up (thousands of rows a call in a
     * repository of thousands of tags).
     */
    static List<String> tagNames(Statements st, String repository, String digest) throws SQLException {
        List<String> names = new ArrayList<>(st.strings("SELECT name FROM tags WHERE repository = ? AND digest = ?", repository, digest));
        java.util.Collections.sort(names);
        return names;
    }

    /** Digests asked about per statement: a few statements per entry instead of two per blob it referenced. */
    private static final int DIGESTS_PER_STATEMENT = 64;

    /**
     * Of the {@code candidates} (digests an evicted entry referenced), the stored blobs nothing holds any more: no
     * live manifest references them, no keyed entry names them. Marks each with the reason, for the sweep's audit
     * event, adds its digest to {@code freed} and returns their bytes.
     */
    static long freeUnheld(Statements st, java.util.Collection<String> candidates, DeletionReason reason, List<String> freed) throws SQLException {
        Map<String, Long> unheld = unheld(st, candidates);
        mark(st, List.copyOf(unheld.keySet()), reason);
        freed.addAll(unheld.keySet());
        return unheld.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Of the {@code candidates}, the stored blobs nothing holds any more, with their sizes, in the candidates' order. */
    static Map<String, Long> unheld(Statements st, java.util.Collection<String> candidates) throws SQLException {
        return blobSizes(st, candidates, " AND NOT EXISTS (" + LIVE_REFERENCE + ") AND NOT EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = b.digest)");
    }

    /** The sizes of those of {@code digests} that are stored blobs. */
    static Map<String, Long> blobSizes(Statements st, java.util.Collection<String> digests) throws SQLException {
        return blobSizes(st, digests, "");
    }

    private static Map<String, Long> blobSizes(Statements st, java.util.Collection<String> digests, String condition) throws SQLException {
        Map<String, Long> sizes = new java.util.LinkedHashMap<>();
        List<String> all = List.copyOf(new java.util.LinkedHashSet<>(digests));
        for (int from = 0; from < all.size(); from += DIGESTS_PER_STATEMENT) {
            List<String> part = all.subList(from, Math.min(all.size(), from + DIGESTS_PER_STATEMENT));
            PreparedStatement s = st.prepare("SELECT b.digest, b.size FROM blobs b WHERE b.digest IN (" + placeholders(part.size()) + ")" + condition);
            bind(s, part.toArray());
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) sizes.put(r.getString(1), r.getLong(2));
            }
        }
        return sizes;
    }

    /** Marks {@code digests} for the sweep with an eviction's {@code reason}, which replaces a mark's "unreferenced": it says why the blob went. */
    static void mark(Statements st, List<String> digests, DeletionReason reason) throws SQLException {
        for (int from = 0; from < digests.size(); from += DIGESTS_PER_STATEMENT) {
            List<String> part = digests.subList(from, Math.min(digests.size(), from + DIGESTS_PER_STATEMENT));
            List<Object> rows = new ArrayList<>(part.size() * 2);
            for (String digest : part) {
                rows.add(digest);
                rows.add(reason.wireName());
            }
            st.update("INSERT INTO sweep_marks (digest, reason) VALUES " + String.join(", ", java.util.Collections.nCopies(part.size(), "(?, ?)"))
                    + " ON CONFLICT (digest) DO UPDATE SET reason = excluded.reason", rows.toArray());
        }
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
                        markReferencesForSweep(st, m[0], m[1]);
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
                            markReferencesForSweep(st, m[0], m[1]);
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

    /** A link no manifest of its repository references: {@code l} is the link. */
    private static final String LINK_UNREFERENCED = "NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = l.repository "
            + "AND r.reference = l.digest)";

    /**
     * Marks {@code digests} for the sweep with {@code reason}, keeping a reason a blob already has (an eviction's says
     * more than "unreferenced"). A mark only makes the sweep look at a blob: what it deletes, it checks again.
     */
    static int markForSweep(Statements st, java.util.Collection<String> digests, DeletionReason reason) throws SQLException {
        int marked = 0;
        List<String> all = List.copyOf(new java.util.LinkedHashSet<>(digests));
        for (int from = 0; from < all.size(); from += DIGESTS_PER_STATEMENT) {
            List<String> part = all.subList(from, Math.min(all.size(), from + DIGESTS_PER_STATEMENT));
            List<Object> args = new ArrayList<>(List.of(reason.wireName()));
            args.addAll(part);
            marked += st.update("INSERT INTO sweep_marks (digest, reason) SELECT digest, ? FROM blobs WHERE digest IN ("
                    + placeholders(part.size()) + ") ON CONFLICT (digest) DO NOTHING", args.toArray());
        }
        return marked;
    }

    /** Marks, as unreferenced, the blobs a manifest references, before its references go with it. */
    static void markReferencesForSweep(Statements st, String repository, String manifest) throws SQLException {
        markForSweep(st, st.strings("SELECT reference FROM manifest_references WHERE repository = ? AND manifest = ?", repository, manifest),
                DeletionReason.UNREFERENCED);
    }

    private void markForSweep(List<String> digests) {
        if (digests.isEmpty()) return;
        database.write(c -> {
            try (Statements st = new Statements(c)) {
                markForSweep(st, digests, DeletionReason.UNREFERENCED);
            }
            return null;
        });
    }

    int markNewLinks(int pageSize) {
        int marked = 0;
        int smaller = 0; // the page size after a page lost its races, until pages win again
        int wins = 0;
        while (true) {
            int page = smaller > 0 ? smaller : pageSize;
            // One transaction a page: what it read is marked and taken off together, so a look that stops half-way
            // leaves the rest for the next. Taken off by id, not by range: on PostgreSQL a link with a lower id may
            // commit after this read, and it stays for the next look.
            int[] seen = {0};
            try {
                marked += markNewLinksPage(page, seen);
            } catch (WriteConflictException e) {
                if (page < 2) throw e;
                smaller = page / 2; // see BATCH_TRIES
                wins = 0;
                continue;
            }
            // back to full size by doubling, after a few pages won at each size (a conflict that lasts costs little then)
            if (smaller > 0 && ++wins % 8 == 0) smaller = smaller * 2 < pageSize ? smaller * 2 : 0;
            if (seen[0] < page) return marked;
        }
    }

    private int markNewLinksPage(int pageSize, int[] seen) {
        return database.write(c -> {
            List<Object> ids = new ArrayList<>();
            List<String> digests = new ArrayList<>();
            try (Statements st = new Statements(c)) {
                PreparedStatement s = st.prepare("SELECT n.id, n.digest, CASE WHEN NOT EXISTS (SELECT 1 FROM manifest_references r "
                        + "WHERE r.repository = n.repository AND r.reference = n.digest) THEN 1 ELSE 0 END FROM new_links n ORDER BY n.id LIMIT ?");
                bind(s, pageSize);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        ids.add(r.getLong(1));
                        if (r.getInt(3) == 1) digests.add(r.getString(2));
                    }
                }
                seen[0] = ids.size();
                // (marks only blobs still stored and not marked yet, and counts those)
                int markedHere = markForSweep(st, digests, DeletionReason.UNREFERENCED);
                for (int from = 0; from < ids.size(); from += DIGESTS_PER_STATEMENT) {
                    List<Object> part = ids.subList(from, Math.min(ids.size(), from + DIGESTS_PER_STATEMENT));
                    st.update("DELETE FROM new_links WHERE id IN (" + placeholders(part.size()) + ")",
                            part.toArray());
                }
                return markedHere;
            }
        }, triesFor(pageSize));
    }

    private static final String SLICE_OF_LINKS = "sweep.link-slice-after";
    private static final String SLICE_OF_BLOBS = "sweep.blob-slice-after";

    boolean markNextSlice(Instant cutoff, int size) {
        // Where the slices stand is shared, so that restarts and the nodes that take turns collecting go on round the
        // store instead of starting over.
        Optional<LinkKey> linksAfter = setting(SLICE_OF_LINKS).map(v -> v.split("\n", 2)).filter(v -> v.length == 2)
                .map(v -> new LinkKey(v[0], v[1]));
        Optional<Digest> blobsAfter = setting(SLICE_OF_BLOBS).flatMap(v -> {
            try {
                return Optional.of(Digest.parse(v));
            } catch (RuntimeException e) {
                return Optional.empty(); // at the end last time: start over
            }
        });
        Optional<LinkKey> linksEnd = markUnreferencedLinks(cutoff, linksAfter, size);
        Optional<Digest> blobsEnd = markUnheldBlobs(cutoff, blobsAfter, size);
        putSetting(SLICE_OF_LINKS, linksEnd.map(k -> k.repository() + "\n" + k.digest()).orElse(""));
        putSetting(SLICE_OF_BLOBS, blobsEnd.map(Digest::toString).orElse(""));
        return linksEnd.isEmpty() && blobsEnd.isEmpty();
    }

    Optional<LinkKey> markUnreferencedLinks(Instant cutoff, Optional<LinkKey> after, int pageSize) {
        List<String> digests = new ArrayList<>();
        Optional<LinkKey> end = database.read(c -> {
            LinkKey lastSeen = null;
            int seen = 0;
            try (PreparedStatement s = c.prepareStatement("SELECT l.repository, l.digest, CASE WHEN l.linked_at < ? AND " + LINK_UNREFERENCED
                    + " THEN 1 ELSE 0 END FROM repository_blobs l WHERE (l.repository, l.digest) > (?, ?) ORDER BY l.repository, l.digest LIMIT ?")) {
                bind(s, cutoff.toEpochMilli(), after.map(LinkKey::repository).orElse(""), after.map(LinkKey::digest).orElse(""), pageSize);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        seen++;
                        lastSeen = new LinkKey(r.getString(1), r.getString(2));
                        if (r.getInt(3) == 1) digests.add(r.getString(2));
                    }
                }
            }
            return seen == pageSize ? Optional.of(lastSeen) : Optional.<LinkKey>empty();
        });
        markForSweep(digests);
        return end;
    }

    Optional<Digest> markUnheldBlobs(Instant cutoff, Optional<Digest> after, int pageSize) {
        List<String> digests = new ArrayList<>();
        Optional<Digest> end = database.read(c -> {
            String lastSeen = null;
            int seen = 0;
            try (PreparedStatement s = c.prepareStatement("SELECT b.digest, CASE WHEN NOT EXISTS (SELECT 1 FROM sweep_marks k WHERE k.digest = b.digest) AND b.created_at < ? "
                    + "AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest) "
                    + "AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.reference = b.digest) "
                    + "AND NOT EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = b.digest) THEN 1 ELSE 0 END "
                    + "FROM blobs b WHERE b.digest > ? ORDER BY b.digest LIMIT ?")) {
                bind(s, cutoff.toEpochMilli(), after.map(Digest::toString).orElse(""), pageSize);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        seen++;
                        lastSeen = r.getString(1);
                        if (r.getInt(2) == 1) digests.add(lastSeen);
                    }
                }
            }
            return seen == pageSize ? Optional.of(Digest.parse(lastSeen)) : Optional.<Digest>empty();
        });
        markForSweep(digests);
        return end;
    }

    List<Digest> sweepCandidates(Optional<Digest> after, int limit) {
        return database.read(c -> {
            List<Digest> blobs = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("SELECT digest FROM sweep_marks WHERE digest > ? "
                    + "ORDER BY digest LIMIT ?")) {
                bind(s, after.map(Digest::toString).orElse(""), limit);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) blobs.add(Digest.parse(r.getString(1)));
                }
            }
            return blobs;
        });
    }

    List<RetentionRecords.SweepableBlob> sweepable(Instant cutoff, int limit) {
        return database.read(c -> {
            List<RetentionRecords.SweepableBlob> blobs = new ArrayList<>();
            long at = cutoff.toEpochMilli();
            try (PreparedStatement s = c.prepareStatement("SELECT b.digest, b.size, k.reason FROM sweep_marks k JOIN blobs b ON b.digest = k.digest "
                    + "WHERE b.created_at < ? AND b.last_used_at < ? "
                    + "AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.reference = b.digest) "
                    + "AND NOT EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = b.digest) "
                    + "AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest AND l.linked_at >= ?) ORDER BY k.digest LIMIT ?")) {
                bind(s, at, at, at, limit);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        blobs.add(new RetentionRecords.SweepableBlob(Digest.parse(r.getString(1)), r.getLong(2), DeletionReason.fromWireName(r.getString(3))));
                    }
                }
            }
            return blobs;
        });
    }

    java.util.Map<Digest, DeletedBlobRecord> sweepBlobs(List<Digest> digests, Instant cutoff) {
        try {
            return sweepBlobsTogether(digests, cutoff);
        } catch (WriteConflictException e) {
            if (digests.size() < 2) throw e; // see BATCH_TRIES
            // Each half commits on its own: if the second fails, the caller must still learn what the first deleted (its files go too).
            java.util.Map<Digest, DeletedBlobRecord> deleted = new java.util.LinkedHashMap<>(sweepBlobs(digests.subList(0, digests.size() / 2), cutoff));
            try {
                deleted.putAll(sweepBlobs(digests.subList(digests.size() / 2, digests.size()), cutoff));
            } catch (SweptInPartException failed) {
                deleted.putAll(failed.swept());
                throw new SweptInPartException(deleted, failed.getCause());
            } catch (RuntimeException failed) {
                throw new SweptInPartException(deleted, failed);
            }
            return deleted;
        }
    }

    private java.util.Map<Digest, DeletedBlobRecord> sweepBlobsTogether(List<Digest> digests, Instant cutoff) {
        long at = cutoff.toEpochMilli();
        return database.write(c -> {
            java.util.Map<Digest, DeletedBlobRecord> deleted = new java.util.LinkedHashMap<>();
            try (Statements st = new Statements(c)) {
                for (int from = 0; from < digests.size(); from += DIGESTS_PER_STATEMENT) {
                    List<Digest> part = digests.subList(from, Math.min(digests.size(), from + DIGESTS_PER_STATEMENT));
                    String in = "(" + placeholders(part.size()) + ")";
                    Object[] names = part.stream().map(Digest::toString).toArray();
                    // Links first: those no manifest of their repository references, made before the cutoff, to a blob not
                    // used since (a HEAD that let a client skip an upload keeps the link its manifest will need).
                    List<Object> args = new ArrayList<>(List.of(names));
                    args.add(at);
                    args.add(at);
                    st.update("DELETE FROM repository_blobs WHERE digest IN " + in + " AND linked_at < ? "
                            + "AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = repository_blobs.digest AND b.last_used_at < ?) "
                            + "AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = repository_blobs.repository "
                            + "AND r.reference = repository_blobs.digest)", args.toArray());
                    // Then the blobs nothing links, references or holds any more, written before the cutoff. The conditions sit
                    // in the deleting statement, which says what went: a blob linked or referenced again meanwhile (on
                    // another node, say) stays.
                    java.util.Map<String, String> reasons = new java.util.HashMap<>();
                    PreparedStatement marks = st.prepare("SELECT digest, reason FROM sweep_marks WHERE digest IN " + in);
                    bind(marks, names);
                    try (ResultSet r = marks.executeQuery()) {
                        while (r.next()) reasons.put(r.getString(1), r.getString(2));
                    }
                    args = new ArrayList<>(List.of(names));
                    args.add(at);
                    PreparedStatement s = st.prepare("DELETE FROM blobs WHERE digest IN " + in + " AND created_at < ? "
                            + "AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = blobs.digest) "
                            + "AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.reference = blobs.digest) "
                            + "AND NOT EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = blobs.digest) "
                            + "RETURNING digest, size");
                    bind(s, args.toArray());
                    java.util.Map<Digest, DeletedBlobRecord> went = new java.util.HashMap<>();
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            went.put(Digest.parse(r.getString(1)), new DeletedBlobRecord(r.getLong(2), Optional.ofNullable(reasons.get(r.getString(1)))
                                    .map(DeletionReason::fromWireName).orElse(DeletionReason.UNREFERENCED)));
                        }
                    }
                    List<AuditEvent> events = new ArrayList<>(went.size());
                    Instant deletedAt = Instant.now();
                    for (Digest digest : part) { // in the order asked, for the audit log
                        DeletedBlobRecord record = went.get(digest);
                        if (record == null) continue;
                        deleted.put(digest, record);
                        events.add(new AuditEvent(0, deletedAt, "blob", Optional.empty(), digest.toString(), List.of(), record.size(), record.reason().wireName()));
                    }
                    SqlAuditEvents.insertAuditEvents(st, events);
                    // The marks of blobs that went, and of those a live entry holds again (they need no more looks); one still
                    // waiting (a young link, a retired manifest still referencing it) keeps its mark for the next sweep.
                    st.update("DELETE FROM sweep_marks WHERE digest IN " + in + " AND (NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = sweep_marks.digest) "
                            + "OR EXISTS (" + LIVE_REFERENCE.replace("b.digest", "sweep_marks.digest")
                            + ") OR EXISTS (SELECT 1 FROM keyed_entry_blobs e WHERE e.digest = sweep_marks.digest))", names);
                }
            }
            return deleted;
        }, triesFor(digests.size()));
    }

    java.util.Set<Digest> blobRecordsAmong(java.util.Collection<Digest> digests) {
        java.util.Set<Digest> found = new java.util.HashSet<>();
        List<Digest> all = List.copyOf(digests);
        for (int from = 0; from < all.size(); from += 500) {
            List<Digest> part = all.subList(from, Math.min(all.size(), from + 500));
            database.read(c -> {
                try (PreparedStatement s = c.prepareStatement("SELECT digest FROM blobs WHERE digest IN ("
                        + placeholders(part.size()) + ")")) {
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

    Optional<String> setting(String name) {
        return database.read(c -> {
            List<String> values = strings(c, "SELECT value FROM settings WHERE name = ?", name);
            return values.isEmpty() ? Optional.<String>empty() : Optional.of(values.getFirst());
        });
    }

    void putSetting(String name, String value) {
        database.write(c -> {
            putSetting(c, name, value);
            return null;
        });
    }

    private static void putSetting(java.sql.Connection c, String name, String value) throws SQLException {
        update(c, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value);
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

    List<RetentionRecords.NamespaceFigures> namespaceFigures() {
        return database.read(c -> {
            List<RetentionRecords.NamespaceFigures> figures = new ArrayList<>();
            // One pass over the entries, each joined to its content's record (not to every blob it holds).
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT e.kind, e.namespace, COUNT(*), "
                    + "SUM(e.size + COALESCE(b.size, 0)), MAX(e.last_used_at) "
                    + "FROM keyed_entries e LEFT JOIN blobs b ON b.digest = e.content GROUP BY e.kind, e.namespace ORDER BY e.kind, e.namespace")) {
                while (r.next()) {
                    figures.add(new RetentionRecords.NamespaceFigures(r.getString(1), r.getString(2), r.getLong(3), r.getLong(4),
                            Optional.of(Instant.ofEpochMilli(r.getLong(5)))));
                }
            }
            return figures;
        });
    }

    List<String> entryNames(String after, int limit) {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                return st.strings("SELECT name FROM (SELECT name FROM repositories WHERE name > ? "
                        + "UNION SELECT DISTINCT namespace FROM keyed_entries WHERE namespace > ?) n ORDER BY name LIMIT ?", after, after, limit);
            }
        });
    }

    long bytesUnder(String name) {
        return database.read(c -> {
            try (Statements st = new Statements(c)) {
                PreparedStatement s = st.prepare("SELECT "
                        + "(SELECT COALESCE(SUM(b.size), 0) FROM repository_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repository = ?) "
                        + "+ (SELECT COALESCE(SUM(m.size), 0) FROM manifests m WHERE m.repository = ?) "
                        + "+ (SELECT COALESCE(SUM(e.size), 0) FROM keyed_entries e WHERE e.namespace = ?) "
                        // every blob an entry of the namespace holds, once (a Bazel result holds its outputs besides its content)
                        + "+ (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN (SELECT k.digest FROM keyed_entries e "
                        + "JOIN keyed_entry_blobs k ON k.kind = e.kind AND k.namespace = e.namespace AND k.entry_key = e.entry_key WHERE e.namespace = ?))");
                bind(s, name, name, name, name);
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? r.getLong(1) : 0L;
                }
            }
        });
    }
}
