package dev.cairn.metadata;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything retention decides from, read in one go: every manifest with its times, every tag, every
 * reference a manifest makes, and the size of every blob. Digests stay text here: the collector only
 * compares them.
 */
public record CacheSnapshot(List<ManifestRow> manifests, List<TagRow> tags, List<ReferenceRow> references, Map<String, Long> blobSizes) {

    public record ManifestRow(String repository, String digest, long size, Instant pushedAt, Instant lastUsedAt, Optional<String> subject) {
    }

    public record TagRow(String repository, String name, String digest) {
    }

    public record ReferenceRow(String repository, String manifest, String reference) {
    }
}
