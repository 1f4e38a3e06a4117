package dev.cairn.metadata;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.time.Instant;

/** The latest time a manifest (in its repository) or a blob was read, as recorded in a batch. */
public sealed interface LastUse {
    Instant at();

    record OfManifest(RepositoryName repository, Digest digest, Instant at) implements LastUse {
    }

    record OfBlob(Digest digest, Instant at) implements LastUse {
    }
}
