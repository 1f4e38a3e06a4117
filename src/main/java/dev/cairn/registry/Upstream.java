package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/**
 * Where a manifest or blob read that misses may fall through: the seam the pull-through mirror fills with an
 * upstream registry, as Distribution's proxy blob store and bazel-remote's proxy backend wrap their local
 * store. The contract: asked only after a miss here, never for a push; what it returns is verified (its
 * digest) and stored like a push before it is served, so the next read is a hit and counts against the
 * budget; an upstream that fails or rate-limits answers empty (or throws), and the read is the miss it was.
 * Cairn has no implementation yet: the registry runs with {@link #NONE}.
 */
public interface Upstream {
    /** A manifest as the upstream served it. */
    record FetchedManifest(String mediaType, byte[] content) {
    }

    Optional<FetchedManifest> manifest(RepositoryName repository, Reference reference) throws IOException;

    /** The blob's bytes; the caller verifies them against {@code digest} and closes the stream. */
    Optional<InputStream> blob(RepositoryName repository, Digest digest) throws IOException;

    /** No upstream: every miss stays a miss. */
    Upstream NONE = new Upstream() {
        @Override
        public Optional<FetchedManifest> manifest(RepositoryName repository, Reference reference) {
            return Optional.empty();
        }

        @Override
        public Optional<InputStream> blob(RepositoryName repository, Digest digest) {
            return Optional.empty();
        }
    };
}
