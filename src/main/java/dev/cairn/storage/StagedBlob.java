package dev.cairn.storage;

import dev.cairn.values.Digest;

/**
 * Bytes that are written, on stable storage and verified against their digest, but not yet visible as a
 * blob. {@code handle} is the store's own reference to them (a temporary file, a pending multipart
 * upload, a staging object); only the store that made it interprets it.
 */
public record StagedBlob(Digest digest, long size, Object handle) {
}
