package dev.cairn.metadata;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.time.Instant;

/** The latest time a manifest (in its repository), a blob or a keyed entry was read, as recorded in a batch. */
public sealed interface LastUse {
    Instant at();

    record OfManifest(RepositoryName repository, Digest digest, Instant at) implements LastUse {
    }

    record OfBlob(Digest digest, Instant at) implements LastUse {
    }

    /** A read of a keyed entry (a build tool's cache hit). */
    record OfEntry(String kind, RepositoryName namespace, String key, Instant at) implements LastUse {
    }
}
