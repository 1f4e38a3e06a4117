package dev.cairn.metadata;

import dev.cairn.registry.RepositoryName;

import java.time.Instant;

/** An open blob upload: its opaque id and the repository it will link the blob into. */
public record UploadSession(String id, RepositoryName repository, Instant startedAt) {
}
