package dev.cairn.metadata;

import dev.cairn.values.Digest;

import java.time.Instant;
import java.util.List;

/** A manifest of a repository as a listing of its entries shows it: the tags on it, when it was pushed and last used. */
public record ManifestTimes(Digest digest, String mediaType, long size, List<String> tags, Instant pushedAt, Instant lastUsed) {
    public ManifestTimes {
        tags = List.copyOf(tags);
    }
}
