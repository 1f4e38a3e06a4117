package dev.cairn.retention;

import java.util.List;

/** What a collection (or an invalidation) deleted, or would delete in a dry run, and why. */
public record CollectionReport(boolean dryRun, List<EvictedUnit> evicted, List<DeletedBlob> blobs,
                               long storedBytesBefore, long storedBytesAfter, long tookMillis) {
    public CollectionReport {
        evicted = List.copyOf(evicted);
        blobs = List.copyOf(blobs);
    }

    /**
     * An entry evicted whole. For an OCI unit ({@code kind} "manifest"): its repository, root digest, tags and every
     * manifest digest; for a keyed entry: its namespace and key (as root and only record). Then the reason and
     * the bytes it frees.
     */
    public record EvictedUnit(String repository, String root, List<String> tags, List<String> manifests, String reason, long bytes,
                              String kind) {
        public EvictedUnit {
            tags = List.copyOf(tags);
            manifests = List.copyOf(manifests);
        }
    }

    public record DeletedBlob(String digest, long bytes, String reason) {
    }
}
