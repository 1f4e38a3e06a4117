package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.storage.BlobStore;

import java.time.Clock;

import static dev.cairn.registry.StorageCall.io;

/**
 * The OCI Distribution operations over a {@link BlobStore} and a {@link MetadataStore}, in three roles that
 * share one set of digest locks: blobs, upload sessions, manifests with their listings. Every refusal is a
 * {@link dev.cairn.values.Refusal} thrown before anything stored changes. A read that misses stays a miss here;
 * a mirrored repository's misses go to its upstream ({@code dev.cairn.mirror}).
 */
public final class Registry {
    private final BlobStore store;
    private final MetadataStore metadata;
    private final RepositoryBlobs blobs;
    private final UploadSessions uploads;
    private final RepositoryManifests manifests;

    /** The bounds a registry keeps to: the largest manifest, and how many upload sessions one client may hold open. */
    public record Limits(long maxManifestBytes, int maxUploadSessionsPerClient) {
    }

    /** {@code events}: who hears about hits, misses, bytes and deletions (metrics, retention). */
    public Registry(BlobStore store, MetadataStore metadata, DigestLocks digestLocks, LastUseRecorder lastUse, Clock clock,
                    Limits limits, RegistryEvents events) {
        this.store = store;
        this.metadata = metadata;
        this.blobs = new RepositoryBlobs(store, metadata, lastUse, digestLocks, events);
        this.uploads = new UploadSessions(store, store, metadata, blobs, clock, limits.maxUploadSessionsPerClient());
        this.manifests = new RepositoryManifests(metadata, lastUse, clock, limits.maxManifestBytes(), events);
    }

    public RepositoryBlobs blobs() {
        return blobs;
    }

    public UploadSessions uploads() {
        return uploads;
    }

    public RepositoryManifests manifests() {
        return manifests;
    }

    /** Throws when storage or metadata does not answer. */
    public void checkReady() {
        metadata.ping();
        io(() -> store.stat(Digest.sha256(new byte[0])));
    }
}
