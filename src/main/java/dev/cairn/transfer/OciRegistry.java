package dev.cairn.transfer;

import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A registry as an OCI Distribution client sees it: what export reads and import writes. The HTTP client
 * behind it lives with the other HTTP types; this package knows only the operations.
 */
public interface OciRegistry {
    /** A manifest or index as the registry served it: its bytes, their digest and media type. */
    record FetchedManifest(String mediaType, Digest digest, byte[] content) {
        /** What the document says, or an error naming it (it came from {@code repository}) when it does not parse. */
        public dev.cairn.registry.Manifest parsed(RepositoryName repository) throws IOException {
            try {
                return dev.cairn.registry.ManifestParser.parse(content, java.util.Optional.of(mediaType));
            } catch (RuntimeException e) {
                throw new IOException(repository + "@" + digest + " does not parse as a manifest: " + e.getMessage(), e);
            }
        }
    }

    /** Every repository the caller may see (the catalog, all pages). */
    List<RepositoryName> repositories() throws IOException;

    /** Every tag of {@code repository} (all pages); empty when the repository is unknown. */
    List<Tag> tags(RepositoryName repository) throws IOException;

    Optional<FetchedManifest> manifest(RepositoryName repository, Reference reference) throws IOException;

    boolean hasBlob(RepositoryName repository, Digest digest) throws IOException;

    /** The blob's bytes; the caller closes the stream and verifies them. */
    InputStream blob(RepositoryName repository, Digest digest) throws IOException;

    /** Uploads {@code size} bytes of {@code body} as {@code digest}; the registry refuses them if they are not. */
    void pushBlob(RepositoryName repository, Digest digest, long size, InputStream body) throws IOException;

    /** Fails, saying so, when this caller may not push into {@code repository}; pushes nothing. */
    void checkPush(RepositoryName repository) throws IOException;

    /** Links a blob {@code from} holds into {@code repository} without sending it; false when the registry would not. */
    boolean mountBlob(RepositoryName repository, Digest digest, RepositoryName from) throws IOException;

    void pushManifest(RepositoryName repository, Reference reference, String mediaType, byte[] content) throws IOException;

    /** When an entry was pushed and last used, as Cairn records it beside the OCI API. */
    record EntryTimes(java.time.Instant pushedAt, java.time.Instant lastUsed) {
    }

    /** A manifest of a repository as Cairn lists it beside the OCI API: its tags and times. */
    record ListedEntry(Digest digest, String mediaType, List<String> tags, EntryTimes times) {
        public ListedEntry {
            tags = List.copyOf(tags);
        }
    }

    /** The repository's manifests with their tags and times; empty from a registry that keeps none (not a Cairn). */
    List<ListedEntry> entries(RepositoryName repository) throws IOException;

    /** The times of the repository's manifests, by digest. */
    default Map<Digest, EntryTimes> entryTimes(RepositoryName repository) throws IOException {
        Map<Digest, EntryTimes> times = new java.util.HashMap<>();
        for (ListedEntry e : entries(repository)) times.put(e.digest(), e.times());
        return times;
    }

    /** Moves a manifest's times back to {@code times} (never forward); false where the registry keeps no times. */
    boolean backdate(RepositoryName repository, Digest digest, EntryTimes times) throws IOException;
}
