package dev.cairn.retention;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.values.DeletionReason;

import java.util.List;

/**
 * What a collection (or an invalidation) deleted, or would delete in a dry run, and why: the first
 * {@value Tally#LISTED} entries evicted and blobs deleted, and how many of each there were in all.
 */
public record CollectionReport(boolean dryRun, List<EvictedUnit> evicted, long evictedCount, List<DeletedBlob> blobs, long blobCount,
                               long storedBytesBefore, long storedBytesAfter, long tookMillis) {
    public CollectionReport {
        evicted = List.copyOf(evicted);
        blobs = List.copyOf(blobs);
    }

    CollectionReport(boolean dryRun, Tally<EvictedUnit> evicted, Tally<DeletedBlob> blobs, long storedBytesBefore, long storedBytesAfter,
                     long tookMillis) {
        this(dryRun, evicted.first(), evicted.count(), blobs.first(), blobs.count(), storedBytesBefore, storedBytesAfter, tookMillis);
    }

    /**
     * An entry evicted whole. For an OCI unit ({@code kind} "manifest"): its repository, root digest, tags and every
     * manifest digest that went; for a keyed entry: its namespace and key (as root and only record). Then the
     * reason and the bytes it freed (its records and the blobs that lost their last holder with it).
     */
    public record EvictedUnit(String repository, String root, List<String> tags, List<String> manifests, String reason, long bytes,
                              String kind) {
        public EvictedUnit {
            tags = List.copyOf(tags);
            manifests = List.copyOf(manifests);
        }

        static EvictedUnit of(Entry entry, DeletionReason reason, RetentionRecords.Evicted evicted) {
            return new EvictedUnit(entry.name(), entry.key(), entry.tags(), evicted.records(), reason.wireName(), evicted.freedBytes(), entry.kind());
        }
    }

    public record DeletedBlob(String digest, long bytes, String reason) {
    }
}
