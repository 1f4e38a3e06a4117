package dev.cairn.mirror;

import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/**
 * An upstream registry as the mirror reads it. A failure (unreachable, a timeout, 429, 5xx, a refusal) is an
 * {@link UpstreamFailure}; a 404 is an empty answer.
 */
public interface Upstream {
    /** A manifest as the upstream served it: its media type and bytes (the caller checks their digest). */
    record Manifest(String mediaType, byte[] content) {
    }

    /** A blob's bytes, and their length as the upstream announced it (-1 when it did not). */
    record Blob(long length, InputStream content) {
    }

    /** The digest a tag points at, asked with a HEAD (which registries' rate limits do not count). */
    Optional<Digest> tagDigest(RepositoryName repository, Tag tag) throws IOException;

    Optional<Manifest> manifest(RepositoryName repository, Reference reference) throws IOException;

    Optional<Blob> blob(RepositoryName repository, Digest digest) throws IOException;
}
