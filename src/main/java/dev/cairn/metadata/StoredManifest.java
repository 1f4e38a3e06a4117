package dev.cairn.metadata;

import dev.cairn.registry.Digest;
import dev.cairn.registry.RepositoryName;

import java.time.Instant;
import java.util.Optional;

/** A manifest as stored in a repository: its exact bytes, as pushed, and what was derived from them. */
public record StoredManifest(
        RepositoryName repository,
        Digest digest,
        String mediaType,
        byte[] content,
        Optional<Digest> subject,
        Optional<String> artifactType,
        Instant pushedAt) {
}
