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

        /** The report of an eviction whose records {@code deleted} went (all it released, in a dry run). */
        static EvictedUnit of(EntryHoldings.Eviction e, List<String> deleted) {
            Entry entry = e.entry();
            // An entry's records are keyed name@key; an OCI unit's are its manifests, which a report names by digest.
            String prefix = entry.name() + "@";
            List<String> names = deleted.stream().map(key -> key.startsWith(prefix) ? key.substring(prefix.length()) : key).toList();
            return new EvictedUnit(entry.name(), entry.key(), entry.tags(), names, e.reason().wireName(), e.freedBytes(), entry.kind().name());
        }
    }

    public record DeletedBlob(String digest, long bytes, String reason) {
    }
}
