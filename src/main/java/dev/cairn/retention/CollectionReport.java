package dev.cairn.retention;

import java.util.List;

/** What a collection (or an invalidation) deleted, or would delete in a dry run, and why. */
public record CollectionReport(boolean dryRun, List<EvictedUnit> evicted, List<DeletedBlob> blobs,
                               long storedBytesBefore, long storedBytesAfter, long tookMillis) {
    public CollectionReport {
        evicted = List.copyOf(evicted);
        blobs = List.copyOf(blobs);
    }

    /** A unit of manifests evicted together: its root, tags, every manifest digest, the reason, the bytes it frees. */
    public record EvictedUnit(String repository, String root, List<String> tags, List<String> manifests, String reason, long bytes) {
        public EvictedUnit {
            tags = List.copyOf(tags);
            manifests = List.copyOf(manifests);
        }
    }

    public record DeletedBlob(String digest, long bytes, String reason) {
    }
}
