package dev.cairn.metadata;

import dev.cairn.values.RepositoryName;

import java.time.Instant;

/**
 * An open blob upload: its opaque id, the repository it will link the blob into, and who opened it (a user
 * name or a client address; empty for sessions opened before owners were recorded).
 */
public record UploadSession(String id, RepositoryName repository, Instant startedAt, String owner) {
}
