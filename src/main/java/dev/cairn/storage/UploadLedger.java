package dev.cairn.storage;

import java.util.Optional;

/**
 * Where a blob store without appendable local files keeps the progress of its upload sessions: a row
 * every node reads, so the chunks of one upload may arrive at different nodes. Each change names the
 * revision it read; a change based on a stale revision is refused, so two requests racing on one
 * session cannot both advance it.
 */
public interface UploadLedger {

    /** A session's recorded progress (empty text before the first chunk) and its revision. */
    record Entry(String progress, long revision) {
    }

    /** The session's progress, or empty when there is no such session. */
    Optional<Entry> readProgress(String id);

    /** Replaces the progress if the session is still at {@code revision}; false when it moved on or is gone. */
    boolean writeProgress(String id, long revision, String progress);
}
