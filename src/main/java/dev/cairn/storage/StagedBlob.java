package dev.cairn.storage;

import dev.cairn.registry.Digest;

/**
 * Bytes that are written, on stable storage and verified against their digest, but not yet visible as a
 * blob. {@code location} is the store's own handle on them (a temporary file, an object key).
 */
public record StagedBlob(Digest digest, long size, String location) {
}
