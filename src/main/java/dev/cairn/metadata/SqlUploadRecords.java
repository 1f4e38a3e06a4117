package dev.cairn.metadata;

import dev.cairn.storage.UploadLedger;
import dev.cairn.values.RepositoryName;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

import static dev.cairn.metadata.Statements.bind;
import static dev.cairn.metadata.Statements.update;

/**
 * The upload sessions in SQL: who opened which session and when (the per-client limit and the expiry of
 * idle sessions read them), and the progress a blob store without appendable local files keeps there so
 * the next chunk may arrive at any node. Apart from the registry's records because a session is not yet
 * anything the registry holds: nothing links it, and retention never reads it.
 */
final class SqlUploadRecords {
    private final SqlDatabase database;

    SqlUploadRecords(SqlDatabase database) {
        this.database = database;
    }

    void createUpload(UploadSession session) {
        database.writeNotRemembered(c -> update(c, "INSERT INTO uploads (id, repository, started_at, owner) VALUES (?, ?, ?, ?)",
                session.id(), session.repository().value(), session.startedAt().toEpochMilli(), session.owner()));
    }

    int countUploadsOf(String owner) {
        return database.read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT count(*) FROM uploads WHERE owner = ?")) {
                s.setString(1, owner);
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? r.getInt(1) : 0;
                }
            }
        });
    }

    List<UploadSession> uploadsOf(String owner, int limit) {
        return uploadSessions("SELECT id, repository, started_at, owner FROM uploads WHERE owner = ? ORDER BY started_at LIMIT ?", owner, limit);
    }

    Optional<UploadSession> upload(String id) {
        return database.read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT repository, started_at, owner FROM uploads WHERE id = ?")) {
                s.setString(1, id);
                try (ResultSet r = s.executeQuery()) {
                    return r.next()
                            ? Optional.of(new UploadSession(id, RepositoryName.of(r.getString(1)), Instant.ofEpochMilli(r.getLong(2)),
                                    Optional.ofNullable(r.getString(3)).orElse("")))
                            : Optional.empty();
                }
            }
        });
    }

    Optional<UploadLedger.Entry> readProgress(String id) {
        return database.read(c -> {
            try (PreparedStatement s = c.prepareStatement("SELECT progress, revision FROM uploads WHERE id = ?")) {
                s.setString(1, id);
                try (ResultSet r = s.executeQuery()) {
                    return r.next() ? Optional.of(new UploadLedger.Entry(Objects.requireNonNullElse(r.getString(1), ""), r.getLong(2)))
                            : Optional.empty();
                }
            }
        });
    }

    boolean writeProgress(String id, long revision, String progress) {
        return database.writeNotRemembered(c -> update(c, "UPDATE uploads SET progress = ?, revision = revision + 1 WHERE id = ? AND revision = ?",
                progress, id, revision) == 1);
    }

    void deleteUpload(String id) {
        database.writeNotRemembered(c -> update(c, "DELETE FROM uploads WHERE id = ?", id));
    }

    List<UploadSession> uploadsStartedBefore(Instant cutoff) {
        return uploadSessions("SELECT id, repository, started_at, owner FROM uploads WHERE started_at < ? ORDER BY started_at", cutoff.toEpochMilli());
    }

    private List<UploadSession> uploadSessions(String sql, Object... args) {
        return database.read(c -> {
            List<UploadSession> sessions = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement(sql)) {
                bind(s, args);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        sessions.add(new UploadSession(r.getString(1), RepositoryName.of(r.getString(2)), Instant.ofEpochMilli(r.getLong(3)),
                                Optional.ofNullable(r.getString(4)).orElse("")));
                    }
                }
            }
            return sessions;
        });
    }
}
