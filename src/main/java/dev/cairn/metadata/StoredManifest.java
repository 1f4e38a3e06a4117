package dev.cairn.metadata;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.Optional;

/**
 * A manifest as stored in a repository: its exact bytes, as pushed, and what was derived from them; when
 * the records last saw it used, and, for a manifest an eviction retired (see ReadProtection), until when
 * it stays readable by digest.
 */
public record StoredManifest(
        RepositoryName repository,
        Digest digest,
        String mediaType,
        byte[] content,
        Optional<Digest> subject,
        Optional<String> artifactType,
        Instant pushedAt,
        Instant recordedUse,
        Optional<Instant> retiredUntil) {
}
