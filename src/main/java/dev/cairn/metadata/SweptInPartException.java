package dev.cairn.metadata;

import dev.cairn.values.Digest;

import java.util.Map;

/**
 * A sweep of blob records that was split into several transactions (see {@code SqlRetentionRecords.sweepBlobs}) and
 * failed after some of them committed: {@link #swept()} is what went, whose files the caller must still delete.
 */
public final class SweptInPartException extends MetadataException {
    private final transient Map<Digest, RetentionRecords.DeletedBlobRecord> swept;

    SweptInPartException(Map<Digest, RetentionRecords.DeletedBlobRecord> swept, Throwable cause) {
        super("a sweep failed after deleting " + swept.size() + " blob record(s): " + cause.getMessage(), cause);
        this.swept = Map.copyOf(swept);
    }

    public Map<Digest, RetentionRecords.DeletedBlobRecord> swept() {
        return swept;
    }
}
