package dev.cairn.storage;

import dev.cairn.values.Digest;

/** A stored blob: its digest and length in bytes. */
public record BlobInfo(Digest digest, long size) {
}
