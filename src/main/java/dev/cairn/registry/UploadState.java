package dev.cairn.registry;

import dev.cairn.values.RepositoryName;

/** Where an open upload stands: the session id and how many bytes it holds. */
public record UploadState(RepositoryName repository, String id, long size) {
}
