package dev.cairn.storage;

import dev.cairn.values.Digest;

import java.time.Instant;

/** A blob as the store lists it: for the sweep of files no record points at. */
public record StoredBlob(Digest digest, long size, Instant writtenAt) {
}
