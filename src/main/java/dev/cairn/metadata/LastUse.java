package dev.cairn.metadata;

import dev.cairn.registry.Digest;
import dev.cairn.registry.RepositoryName;

import java.time.Instant;

/** The latest time a manifest (in its repository) or a blob was read, as recorded in a batch. */
public sealed interface LastUse {
    Instant at();

    record OfManifest(RepositoryName repository, Digest digest, Instant at) implements LastUse {
    }

    record OfBlob(Digest digest, Instant at) implements LastUse {
    }
}
