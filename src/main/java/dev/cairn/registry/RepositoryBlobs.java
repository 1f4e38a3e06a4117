package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.storage.BlobInfo;
import dev.cairn.storage.BlobContent;
import dev.cairn.storage.DigestMismatchException;
import dev.cairn.storage.StagedBlob;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.Optional;

import static dev.cairn.registry.RegistryErrors.blobUnknown;
import static dev.cairn.registry.RegistryErrors.digestMismatch;
import static dev.cairn.registry.StorageCall.io;

/**
 * Blobs as a repository serves them: found only where the repository links them, published atomically
 * and linked under the digest's lock, counted against the budget when new to the store.
 */
public final class RepositoryBlobs {
    private final BlobContent blobs;
    private final MetadataStore metadata;
    private final LastUseRecorder lastUse;
    private final DigestLocks digestLocks;
    private final RegistryEvents events;

    RepositoryBlobs(BlobContent blobs, MetadataStore metadata, LastUseRecorder lastUse, DigestLocks digestLocks, RegistryEvents events) {
        this.blobs = blobs;
        this.metadata = metadata;
        this.lastUse = lastUse;
        this.digestLocks = digestLocks;
        this.events = events;
    }

    /** A blob a repository may serve: its digest and size, and when the records last saw it used. */
    public record ServableBlob(RepositoryName repository, BlobInfo info, java.time.Instant recordedUse) {
        public Digest digest() {
            return info.digest();
        }

        public long size() {
            return info.size();
        }
    }

    /** The blob as the repository may serve it; BLOB_UNKNOWN when it is not linked or its bytes are gone. */
    public ServableBlob statBlob(RepositoryName repository, Digest digest) {
        Optional<MetadataStore.LinkedBlob> linked = metadata.linkedBlob(repository, digest);
        if (linked.isEmpty()) {
            throw blobUnknown(digest);
        }
        if (blobs.isRemote()) {
            // A record exists only while its bytes do (published before linking, record deleted before bytes,
            // both under the digest's lock), so a round trip to the object store would tell nothing new.
            return new ServableBlob(repository, new BlobInfo(digest, linked.get().size()), linked.get().lastUsedAt());
        }
        BlobInfo info = io(() -> blobs.stat(digest)).orElseThrow(() -> blobUnknown(digest));
        return new ServableBlob(repository, info, linked.get().lastUsedAt());
    }

    /**
     * Records a GET or HEAD of a blob {@link #statBlob} found, before it is answered. A HEAD counts as a use:
     * it may let a client skip an upload, so it must protect the blob's link from a sweep for the grace
     * window. BLOB_UNKNOWN when a sweep took the link after the stat (see LastUseRecorder): the client
     * must upload the blob, not reference it.
     */
    public void blobServed(ServableBlob blob, long bytes) {
        if (!lastUse.blobUsed(blob.repository(), blob.digest(), blob.recordedUse())) throw blobUnknown(blob.digest());
        if (bytes > 0) events.blobBytesServed(bytes);
    }

    /**
     * A short-lived URL the client may fetch the blob from directly (the store's, not this node's), for
     * a blob {@link #statBlob} just found; empty when the store serves no such URLs.
     */
    public Optional<java.net.URI> blobReadUrl(Digest digest, java.time.Duration validFor) {
        return blobs.readUrl(digest, validFor);
    }

    /** Opens a blob the repository may serve, at {@code offset}. */
    public InputStream openBlob(RepositoryName repository, Digest digest, long offset) {
        try {
            return blobs.open(digest, offset);
        } catch (NoSuchFileException e) {
            throw blobUnknown(digest); // deleted between the stat and the open
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Removes the repository's link to the blob; the bytes go when nothing links or references them. */
    public void deleteBlob(RepositoryName repository, Digest digest) {
        if (!metadata.unlinkBlob(repository, digest)) {
            throw blobUnknown(digest);
        }
    }

    /** A monolithic upload: the whole blob in one request. */
    public BlobInfo putBlob(RepositoryName repository, Digest digest, InputStream body) {
        return put(repository, () -> blobs.stage(digest, body));
    }

    /**
     * {@link #putBlob} for bytes the caller checked against {@code digest} as they came in (a mirror's fetch): the
     * store need not hash them again.
     */
    public BlobInfo putCheckedBlob(RepositoryName repository, Digest digest, InputStream body) {
        return put(repository, () -> blobs.stageChecked(digest, body));
    }

    private interface Staging {
        StagedBlob stage() throws IOException, DigestMismatchException;
    }

    private BlobInfo put(RepositoryName repository, Staging staging) {
        StagedBlob staged;
        try {
            staged = staging.stage();
        } catch (DigestMismatchException e) {
            throw digestMismatch(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return publishAndLink(repository, staged);
    }

    /**
     * Makes verified bytes visible in the repository: publish and link happen under the digest's lock, so
     * the collector never deletes the file between them. New bytes pass the budget first.
     */
    BlobInfo publishAndLink(RepositoryName repository, StagedBlob staged) {
        events.blobBytesReceived(staged.size());
        // Outside the digest lock: admission may wait for a collection, which takes digest locks itself.
        try (RegistryEvents.Admission admission = metadata.blobRecordExists(staged.digest())
                ? RegistryEvents.Admission.NONE : events.admit(staged.size())) {
            return digestLocks.withLock(staged.digest(), () -> {
                BlobInfo info = io(() -> blobs.publish(staged));
                if (metadata.linkBlob(repository, staged.digest(), info.size())) {
                    events.bytesStored(info.size());
                }
                return info;
            });
        } finally {
            io(() -> {
                blobs.discard(staged);
                return null;
            });
        }
    }

    /**
     * Links a blob the store holds, for whichever repository, into {@code repository} without moving bytes; empty when
     * it holds none. Only for a caller that knows the repository may have that blob: a mirror whose upstream holds it
     * there (a blob shared by two mirrored repositories, or base images that share layers, is fetched once).
     */
    public Optional<BlobInfo> linkStored(RepositoryName repository, Digest digest) {
        return digestLocks.withLock(digest, () -> {
            if (!metadata.blobRecordExists(digest)) return Optional.empty();
            Optional<BlobInfo> info = io(() -> blobs.stat(digest));
            info.ifPresent(i -> metadata.linkBlob(repository, digest, i.size()));
            return info;
        });
    }

    /**
     * Links a blob of {@code from} into {@code repository} without moving bytes; empty when {@code from}
     * cannot serve it (the client then uploads as usual).
     */
    public Optional<BlobInfo> mount(RepositoryName repository, Digest digest, RepositoryName from) {
        return digestLocks.withLock(digest, () -> {
            if (!metadata.isBlobLinked(from, digest)) {
                return Optional.empty();
            }
            Optional<BlobInfo> info = io(() -> blobs.stat(digest));
            info.ifPresent(i -> metadata.linkBlob(repository, digest, i.size()));
            return info;
        });
    }

}
