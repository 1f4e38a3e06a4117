package dev.cairn.mirror;

import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;

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

    /** What a HEAD says of a manifest: its digest, and its media type and size where the upstream said them (else null, -1). */
    record Description(Digest digest, String mediaType, long size) {
        /** Whether it says enough to answer a HEAD with: the media type and size as well as the digest. */
        public boolean complete() {
            return mediaType != null && size >= 0;
        }
    }

    /** What a tag or digest names, asked with a HEAD (which registries' rate limits do not count). */
    Optional<Description> describe(RepositoryName repository, Reference reference) throws IOException;

    Optional<Manifest> manifest(RepositoryName repository, Reference reference) throws IOException;

    Optional<Blob> blob(RepositoryName repository, Digest digest) throws IOException;

    /** What a HEAD says of a blob: its length, -1 when the upstream does not say; empty when it does not hold it there. */
    Optional<Long> blobLength(RepositoryName repository, Digest digest) throws IOException;

    /** A page of tags: at most the names asked for, and whether more follow. */
    record TagPage(java.util.List<String> tags, boolean more) {
    }

    /** The repository's tags after {@code last}, at most {@code n}; empty when the upstream does not hold the repository. */
    Optional<TagPage> tags(RepositoryName repository, Optional<String> last, int n) throws IOException;

    /** The descriptors of the subject's referrers (of one artifact type when given); empty when it tells of none. */
    Optional<java.util.List<java.util.Map<String, Object>>> referrers(RepositoryName repository, Digest subject, Optional<String> artifactType)
            throws IOException;
}
