package dev.cairn.metadata;

import dev.cairn.metadata.RetentionRecords.AuditEvent;
import dev.cairn.metadata.RetentionRecords.Evicted;
import dev.cairn.metadata.RetentionRecords.UnitDeletion;
import dev.cairn.values.DeletionReason;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static dev.cairn.metadata.SqlAuditEvents.insertAuditEvents;
import static dev.cairn.metadata.Statements.bind;

/**
 * The eviction of a run of units in a few statements. The records of every unit of the run are read together
 * (their manifests, the manifests that reference each, their tags, what each references), each unit is decided
 * in order on those records as the units before it left them, and what goes is written together; only whether
 * a blob lost its last holder is asked of the database, once for the run. A batch of 250 single-manifest units
 * took some 2,500 statements one at a time, each a round trip to PostgreSQL; it takes a few dozen.
 *
 * <p>The decisions are those of one unit at a time: a unit stays whole if its root is gone, retired, pushed again
 * or listed by another manifest, or any member was used since it was read or is tagged where it had no tag; of a
 * unit that goes, the root goes first, then each member once nothing outside what went holds it.
 */
final class SqlUnitEvictions {
    /** (repository, digest) pairs asked about per statement: an OR of pairs, which both databases look up by index. */
    private static final int PAIRS_PER_STATEMENT = 100;

    /** The batched reads, each followed by an OR of (repository, digest) pairs: {@link #orOfPairs}. */
    static final String ROWS = "SELECT repository, digest, size, pushed_at, last_used_at, subject, retired_until FROM manifests WHERE ";
    static final String REFERRERS = "SELECT repository, reference, manifest FROM manifest_references WHERE ";
    static final String TAGS = "SELECT repository, digest, name FROM tags WHERE ";
    static final String REFERENCES = "SELECT repository, manifest, reference FROM manifest_references WHERE ";

    /** {@code n} pairs of the two columns, ORed. */
    static String orOfPairs(String repositoryColumn, String digestColumn, int n) {
        return String.join(" OR ", Collections.nCopies(n, "(" + repositoryColumn + " = ? AND " + digestColumn + " = ?)"));
    }

    private record Key(String repository, String digest) {
    }

    private record ManifestRow(long size, long pushedAt, long lastUsedAt, Optional<String> subject, boolean retired) {
        ManifestRow asRetired() {
            return new ManifestRow(size, pushedAt, lastUsedAt, subject, true);
        }
    }

    /** A manifest a unit takes: deleted, or retired until {@code keepUntil}, with the tags it had. */
    private record Going(Key key, long size, List<String> tags, Optional<Instant> keepUntil) {
    }

    /**
     * What one unit takes (nothing if it stays), the digests the manifests it takes referenced, and those of them
     * that live manifests referenced: a retired manifest holds nothing, so its going again releases nothing.
     */
    private record Decision(UnitDeletion unit, List<Going> going, Set<String> referenced, Set<String> released) {
        long ownBytes() {
            return going.stream().mapToLong(Going::size).sum();
        }
    }

    private final Connection connection;
    private final Statements st;
    private final ReadProtection protection;
    private final Instant now;
    private final Map<Key, ManifestRow> rows = new HashMap<>();
    /** The manifests of the key's repository that reference its digest. */
    private final Map<Key, Set<String>> referrers = new HashMap<>();
    private final Map<Key, List<String>> tags = new HashMap<>();
    /** What the key's manifest references. */
    private final Map<Key, List<String>> references = new HashMap<>();

    private SqlUnitEvictions(Connection connection, Statements st, ReadProtection protection, Instant now) {
        this.connection = connection;
        this.st = st;
        this.protection = protection;
        this.now = now;
    }

    /**
     * Evicts {@code units} in order, in the caller's transaction, until {@code bytesToFree} are freed; returns what
     * each did, for the units evicted (a prefix of the list), as {@link RetentionRecords#evict} describes.
     */
    static List<Evicted> evict(Connection c, Statements st, List<UnitDeletion> units, ReadProtection protection, Instant now,
                               long bytesToFree) throws SQLException {
        return new SqlUnitEvictions(c, st, protection, now).evict(units, bytesToFree);
    }

    private List<Evicted> evict(List<UnitDeletion> units, long bytesToFree) throws SQLException {
        read(units);
        List<Decision> decisions = new ArrayList<>(units.size());
        for (UnitDeletion unit : units) decisions.add(decide(unit));
        // What frees enough is known only once the blobs that lost their last holder are: with a limit the run may
        // reach, everything is written, asked about, and undone past the unit that reached it (the budget's last
        // batch). The savepoint is taken only then: SQLite copies every page a transaction changes after one.
        Savepoint beforeWrites = mayReach(decisions, bytesToFree) ? connection.setSavepoint() : null;
        write(decisions);
        Map<String, Long> unheld = SqlRetentionRecords.unheld(st, referencedByAny(decisions));
        // A blob goes with the last unit in the run whose live manifests held it: before that one went, it still held
        // it. One that only retired manifests of the run referenced was unheld before the run: it is no unit's to
        // count (it was marked when it lost its last live holder, and is marked again below in case).
        Map<String, Integer> goesWith = new HashMap<>();
        for (int i = 0; i < decisions.size(); i++) {
            for (String digest : decisions.get(i).released()) goesWith.put(digest, i);
        }
        List<List<String>> freedBlobs = new ArrayList<>(decisions.size());
        for (int i = 0; i < decisions.size(); i++) freedBlobs.add(new ArrayList<>());
        List<String> unheldBefore = new ArrayList<>();
        for (String digest : unheld.keySet()) {
            Integer unit = goesWith.get(digest);
            if (unit == null) unheldBefore.add(digest);
            else freedBlobs.get(unit).add(digest);
        }
        int evicted = decisions.size();
        long freed = 0;
        for (int i = 0; i < decisions.size(); i++) {
            if (freed >= bytesToFree) {
                evicted = i;
                break;
            }
            freed += decisions.get(i).ownBytes() + freedBlobs.get(i).stream().mapToLong(unheld::get).sum();
        }
        if (beforeWrites != null) {
            if (evicted < decisions.size()) {
                connection.rollback(beforeWrites);
                write(decisions.subList(0, evicted));
            } else {
                connection.releaseSavepoint(beforeWrites);
            }
        }
        List<Evicted> results = new ArrayList<>(evicted);
        Map<DeletionReason, List<String>> marks = new LinkedHashMap<>();
        for (int i = 0; i < evicted; i++) {
            Decision decision = decisions.get(i);
            if (decision.going().isEmpty()) {
                results.add(Evicted.NOTHING);
                continue;
            }
            List<String> blobs = freedBlobs.get(i);
            marks.computeIfAbsent(decision.unit().reason(), r -> new ArrayList<>()).addAll(blobs);
            long ownBytes = decision.ownBytes();
            results.add(new Evicted(decision.going().stream().map(g -> g.key().digest()).toList(), ownBytes,
                    ownBytes + blobs.stream().mapToLong(unheld::get).sum(), List.copyOf(blobs)));
        }
        for (Map.Entry<DeletionReason, List<String>> mark : marks.entrySet()) SqlRetentionRecords.mark(st, mark.getValue(), mark.getKey());
        SqlRetentionRecords.markForSweep(st, unheldBefore, DeletionReason.UNREFERENCED);
        return results;
    }

    /** Whether the decisions may free {@code bytesToFree}: their own bytes and those of every blob they release. */
    private boolean mayReach(List<Decision> decisions, long bytesToFree) throws SQLException {
        if (bytesToFree == Long.MAX_VALUE) return false;
        long most = 0;
        Set<String> released = new LinkedHashSet<>();
        for (Decision decision : decisions) {
            most += decision.ownBytes();
            released.addAll(decision.released());
        }
        if (most >= bytesToFree) return true;
        for (long size : SqlRetentionRecords.blobSizes(st, released).values()) most += size;
        return most >= bytesToFree;
    }

    private static Set<String> referencedByAny(List<Decision> decisions) {
        Set<String> all = new LinkedHashSet<>();
        for (Decision decision : decisions) all.addAll(decision.referenced());
        return all;
    }

    /**
     * Reads the records of every unit's members, and the rows of the subjects they name. Read in the deleting
     * transaction: a confirmation of a use that committed before it counts, one that comes after finds the unit
     * retired (and extends its stay) or gone (and answers 404).
     */
    private void read(List<UnitDeletion> units) throws SQLException {
        Set<Key> keys = new LinkedHashSet<>();
        for (UnitDeletion unit : units) {
            for (String digest : unit.digests()) keys.add(new Key(unit.repository().value(), digest));
        }
        readRows(keys);
        List<Key> members = keys.stream().filter(rows::containsKey).toList();
        Set<Key> subjects = new LinkedHashSet<>();
        for (Key member : members) {
            rows.get(member).subject().ifPresent(s -> subjects.add(new Key(member.repository(), s)));
        }
        subjects.removeAll(keys);
        readRows(subjects);
        for (Key member : members) {
            referrers.put(member, new HashSet<>());
            tags.put(member, new ArrayList<>());
            references.put(member, new ArrayList<>());
        }
        select(REFERRERS, "repository", "reference", members,
                r -> referrers.get(new Key(r.getString(1), r.getString(2))).add(r.getString(3)));
        select(TAGS, "repository", "digest", members,
                r -> tags.get(new Key(r.getString(1), r.getString(2))).add(r.getString(3)));
        select(REFERENCES, "repository", "manifest", members,
                r -> references.get(new Key(r.getString(1), r.getString(2))).add(r.getString(3)));
    }

    private void readRows(Set<Key> keys) throws SQLException {
        select(ROWS, "repository", "digest", List.copyOf(keys), r -> {
                    r.getLong(7);
                    boolean retired = !r.wasNull();
                    rows.put(new Key(r.getString(1), r.getString(2)),
                            new ManifestRow(r.getLong(3), r.getLong(4), r.getLong(5), Optional.ofNullable(r.getString(6)), retired));
                });
    }

    private interface RowVisitor {
        void visit(ResultSet row) throws SQLException;
    }

    /** Runs {@code select} ("... WHERE ") for the {@code keys}, {@link #PAIRS_PER_STATEMENT} at a time. */
    private void select(String select, String repositoryColumn, String digestColumn, List<Key> keys, RowVisitor visitor) throws SQLException {
        for (int from = 0; from < keys.size(); from += PAIRS_PER_STATEMENT) {
            List<Key> part = keys.subList(from, Math.min(keys.size(), from + PAIRS_PER_STATEMENT));
            PreparedStatement s = st.prepare(select + orOfPairs(repositoryColumn, digestColumn, part.size()));
            Object[] args = new Object[part.size() * 2];
            for (int i = 0; i < part.size(); i++) {
                args[2 * i] = part.get(i).repository();
                args[2 * i + 1] = part.get(i).digest();
            }
            bind(s, args);
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) visitor.visit(r);
            }
        }
    }

    /** Decides what {@code unit} takes, and leaves the records read as its going leaves them. */
    private Decision decide(UnitDeletion unit) {
        String repo = unit.repository().value();
        Key root = new Key(repo, unit.digests().getFirst());
        Decision stays = new Decision(unit, List.of(), Set.of(), Set.of());
        ManifestRow rootRow = rows.get(root);
        if (rootRow == null || rootRow.retired() || rootRow.pushedAt() != unit.rootPushedAt().toEpochMilli()) return stays;
        // A manifest pushed since the unit was read (an index listing the root, say) makes it no root: it stays.
        if (!referrers.get(root).isEmpty()) return stays;
        long lastUse = Long.MIN_VALUE;
        for (String digest : unit.digests()) {
            Key key = new Key(repo, digest);
            ManifestRow row = rows.get(key);
            if (row == null) continue;
            if (unit.usedNoLaterThan().isPresent() && row.lastUsedAt() > unit.usedNoLaterThan().get().toEpochMilli()) return stays;
            boolean isRoot = key.equals(root);
            if ((!isRoot || unit.rootMustBeUntagged()) && !tags.get(key).isEmpty()) return stays;
            lastUse = Math.max(lastUse, row.lastUsedAt());
        }
        Optional<Instant> keepUntil = protection.keepEvictedUntil(Instant.ofEpochMilli(lastUse), now);
        Set<String> gone = new HashSet<>();
        List<Going> going = new ArrayList<>();
        Set<String> referenced = new LinkedHashSet<>();
        Set<String> released = new HashSet<>();
        // The root first, then each member once nothing outside what went holds it (no manifest left references it,
        // its subject, if any, went or is dead), passing over the rest until none more goes: a member two members
        // of the unit list goes once both went, whatever their order. A member held from outside stays with what
        // holds it, and so does what it holds.
        List<String> pending = new ArrayList<>(unit.digests());
        boolean progress = true;
        while (progress) {
            progress = false;
            for (Iterator<String> it = pending.iterator(); it.hasNext(); ) {
                String digest = it.next();
                Key key = new Key(repo, digest);
                ManifestRow row = rows.get(key);
                if (row == null || gone.contains(digest)) {
                    it.remove();
                    continue;
                }
                if (!key.equals(root) && (!gone.contains(root.digest()) || !releasedWith(key, row.subject(), gone))) continue;
                it.remove();
                progress = true;
                referenced.addAll(references.get(key));
                if (!row.retired()) released.addAll(references.get(key));
                List<String> names = new ArrayList<>(tags.get(key));
                Collections.sort(names);
                going.add(new Going(key, row.size(), names, keepUntil));
                gone.add(digest);
                leave(key, row, keepUntil.isPresent());
            }
        }
        return new Decision(unit, going, referenced, released);
    }

    /** Whether a member goes with the manifests {@code gone}: nothing else references it, and its subject, if any, is gone or dead. */
    private boolean releasedWith(Key member, Optional<String> subject, Set<String> gone) {
        if (!gone.containsAll(referrers.get(member))) return false;
        if (subject.isEmpty() || gone.contains(subject.get())) return true;
        ManifestRow subjectRow = rows.get(new Key(member.repository(), subject.get()));
        return subjectRow == null || subjectRow.retired();
    }

    /** The records as a manifest's going leaves them: untagged, and retired (its references kept) or gone with its references. */
    private void leave(Key key, ManifestRow row, boolean retired) {
        tags.get(key).clear();
        if (retired) {
            rows.put(key, row.asRetired());
            return;
        }
        rows.remove(key);
        for (String reference : references.get(key)) {
            Set<String> of = referrers.get(new Key(key.repository(), reference));
            if (of != null) of.remove(key.digest());
        }
    }

    /** Writes what the decisions take: the audit events, then the tags, manifests and references, each kind in one batch. */
    private void write(List<Decision> decisions) throws SQLException {
        Instant at = Instant.now();
        List<AuditEvent> events = new ArrayList<>();
        PreparedStatement untag = st.prepare("DELETE FROM tags WHERE repository = ? AND digest = ?");
        PreparedStatement retire = st.prepare("UPDATE manifests SET retired_until = ?, retired_limit = ? WHERE repository = ? AND digest = ?");
        PreparedStatement delete = st.prepare("DELETE FROM manifests WHERE repository = ? AND digest = ?");
        PreparedStatement unreference = st.prepare("DELETE FROM manifest_references WHERE repository = ? AND manifest = ?");
        int untagged = 0;
        int retired = 0;
        int deleted = 0;
        for (Decision decision : decisions) {
            for (Going g : decision.going()) {
                String repo = g.key().repository();
                String digest = g.key().digest();
                events.add(new AuditEvent(0, at, "manifest", Optional.of(repo), digest, g.tags(), g.size(), decision.unit().reason().wireName()));
                if (!g.tags().isEmpty()) {
                    bind(untag, repo, digest);
                    untag.addBatch();
                    untagged++;
                }
                if (g.keepUntil().isPresent()) {
                    Instant until = g.keepUntil().get();
                    bind(retire, until.toEpochMilli(), until.plus(protection.grace()).toEpochMilli(), repo, digest);
                    retire.addBatch();
                    retired++;
                } else {
                    bind(delete, repo, digest);
                    delete.addBatch();
                    bind(unreference, repo, digest);
                    unreference.addBatch();
                    deleted++;
                }
            }
        }
        insertAuditEvents(st, events);
        if (untagged > 0) untag.executeBatch();
        if (retired > 0) requireEveryRow(retire.executeBatch());
        if (deleted > 0) {
            requireEveryRow(delete.executeBatch());
            unreference.executeBatch();
        }
    }

    /**
     * Each manifest written was read in this transaction, which no other writer can change under it (SQLite's
     * writers take turns; PostgreSQL's serializable transactions fail instead): a statement that found no row
     * means the records are not what the decisions were made on, and nothing of it may commit.
     */
    private static void requireEveryRow(int[] counts) {
        for (int count : counts) {
            if (count == 0) throw new MetadataException("a manifest the collector had just read was gone before it wrote", null);
            if (count < 0 && count != Statement.SUCCESS_NO_INFO) throw new MetadataException("a batched write of the collector failed", null);
        }
    }
}
