package dev.cairn.metadata;

import dev.cairn.metadata.RetentionRecords.AuditEvent;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static dev.cairn.metadata.Statements.bind;
import static dev.cairn.metadata.Statements.placeholders;
import static dev.cairn.metadata.Statements.update;

/**
 * The audit events in SQL: one row per deletion, written in the transaction of the deletion it records,
 * until the audit log has copied it. Apart from the registry's and retention's records because both write
 * them (a manual delete of a manifest, an eviction, a swept blob), and the audit log alone reads them.
 */
final class SqlAuditEvents {
    private static final String INSERT_AUDIT_EVENT =
            "INSERT INTO audit_events (at, kind, repository, digest, tags, bytes, reason) VALUES (?, ?, ?, ?, ?, ?, ?)";

    private final SqlDatabase database;

    SqlAuditEvents(SqlDatabase database) {
        this.database = database;
    }

    /** Records the deletion of a manifest that is about to go (nothing when it is not there), with its tags and size. */
    static void insertManifestAuditEvent(Statements st, String repository, String digest, String reason) throws SQLException {
        Long size = null;
        PreparedStatement s = st.prepare("SELECT size FROM manifests WHERE repository = ? AND digest = ?");
        bind(s, repository, digest);
        try (ResultSet r = s.executeQuery()) {
            if (r.next()) size = r.getLong(1);
        }
        if (size == null) return;
        List<String> tags = SqlRetentionRecords.tagNames(st, repository, digest);
        insertAuditEvent(st, new AuditEvent(0, Instant.now(), "manifest", Optional.of(repository), digest, tags, size, reason));
    }

    static void insertManifestAuditEvent(Connection c, String repository, String digest, String reason) throws SQLException {
        try (Statements st = new Statements(c)) {
            insertManifestAuditEvent(st, repository, digest, reason);
        }
    }

    static void insertAuditEvent(Statements st, AuditEvent e) throws SQLException {
        st.update(INSERT_AUDIT_EVENT, e.at().toEpochMilli(), e.kind(), e.repository().orElse(null), e.digest(),
                String.join(",", e.tags()), e.bytes(), e.reason());
    }

    /** Audit events per statement: a sweep writes one per blob, a thousand a transaction. */
    private static final int EVENTS_PER_STATEMENT = 64;

    /** Records several events in as few statements as they allow, in their order. */
    static void insertAuditEvents(Statements st, List<AuditEvent> events) throws SQLException {
        for (int from = 0; from < events.size(); from += EVENTS_PER_STATEMENT) {
            List<AuditEvent> part = events.subList(from, Math.min(events.size(), from + EVENTS_PER_STATEMENT));
            List<Object> args = new ArrayList<>(part.size() * 7);
            for (AuditEvent e : part) {
                args.addAll(java.util.Arrays.asList(e.at().toEpochMilli(), e.kind(), e.repository().orElse(null), e.digest(),
                        String.join(",", e.tags()), e.bytes(), e.reason()));
            }
            st.update("INSERT INTO audit_events (at, kind, repository, digest, tags, bytes, reason) VALUES "
                    + String.join(", ", java.util.Collections.nCopies(part.size(), "(?, ?, ?, ?, ?, ?, ?)")), args.toArray());
        }
    }

    void addAuditEvent(AuditEvent event) {
        database.writeNotRemembered(c -> {
            try (Statements st = new Statements(c)) {
                insertAuditEvent(st, event);
            }
            return null;
        });
    }

    int readAuditEvents(int limit, java.util.function.Consumer<AuditEvent> visitor) {
        return database.read(c -> {
            int count = 0;
            // PostgreSQL's driver reads a whole result before the first row unless it may fetch in parts, which it does
            // only inside a transaction
            boolean inParts = database.dialect == Dialect.POSTGRES;
            if (inParts) c.setAutoCommit(false);
            try (PreparedStatement s = c.prepareStatement(
                    "SELECT id, at, kind, repository, digest, tags, bytes, reason FROM audit_events ORDER BY id LIMIT ?")) {
                if (inParts) s.setFetchSize(500);
                s.setInt(1, limit);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        String tags = r.getString(6);
                        visitor.accept(new AuditEvent(r.getLong(1), Instant.ofEpochMilli(r.getLong(2)), r.getString(3),
                                Optional.ofNullable(r.getString(4)), r.getString(5),
                                tags == null || tags.isEmpty() ? List.of() : List.of(tags.split(",")), r.getLong(7), r.getString(8)));
                        count++;
                    }
                }
            } finally {
                if (inParts) {
                    c.rollback(); // it only read
                    c.setAutoCommit(true);
                }
            }
            return count;
        });
    }

    void forgetAuditEvents(List<Long> ids) {
        if (ids.isEmpty()) return;
        database.writeNotRemembered(c -> {
            // exact ids, 500 a statement, all in one transaction: the ids of a chunk need not be consecutive (on PostgreSQL
            // ids go to rolled-back inserts, and two threads' events interleave), and a statement a run took seconds
            for (int from = 0; from < ids.size(); from += 500) {
                List<Long> part = ids.subList(from, Math.min(ids.size(), from + 500));
                update(c, "DELETE FROM audit_events WHERE id IN (" + placeholders(part.size()) + ")",
                        part.toArray());
            }
            return null;
        });
    }
}
