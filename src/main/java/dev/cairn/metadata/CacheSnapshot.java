package dev.cairn.metadata;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything retention decides from, read in one go: every manifest with its times, every tag, every
 * reference a manifest makes, every keyed entry with the blobs it holds, and the size of every blob. Digests stay text here: the collector only
 * compares them.
 */
public record CacheSnapshot(List<ManifestRow> manifests, List<TagRow> tags, List<ReferenceRow> references, Map<String, Long> blobSizes,
                            List<EntryRow> entries) {

    /** A cache of OCI images alone. */
    public CacheSnapshot(List<ManifestRow> manifests, List<TagRow> tags, List<ReferenceRow> references, Map<String, Long> blobSizes) {
        this(manifests, tags, references, blobSizes, List.of());
    }

    public record ManifestRow(String repository, String digest, long size, Instant pushedAt, Instant lastUsedAt, Optional<String> subject) {
    }

    public record TagRow(String repository, String name, String digest) {
    }

    public record ReferenceRow(String repository, String manifest, String reference) {
    }

    /** A keyed entry (see {@link EntryRecords}) with the digests of the blobs it holds. */
    public record EntryRow(String kind, String namespace, String key, long size, Instant pushedAt, Instant lastUsedAt, List<String> blobs) {
    }
}
