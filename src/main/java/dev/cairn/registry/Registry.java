package dev.cairn.registry;

import dev.cairn.metadata.ClusterLocks;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.metadata.NewManifest;
import dev.cairn.metadata.StoredManifest;
import dev.cairn.metadata.UploadSession;
import dev.cairn.storage.BlobInfo;
import dev.cairn.storage.BlobStore;
import dev.cairn.storage.DigestMismatchException;
import dev.cairn.storage.StagedBlob;
import dev.cairn.storage.UploadOffsetException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The OCI Distribution operations over a {@link BlobStore} and a {@link MetadataStore}. Every refusal is a
 * {@link RegistryException} thrown before anything stored changes.
 */
public final class Registry {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Registry.class);
    /** Upper bound on one page of tags or repositories when the client names none. */
    public static final int MAX_PAGE = 10_000;

    private final BlobStore blobs;
    private final MetadataStore metadata;
    private final LastUseRecorder lastUse;
    private final Clock clock;
    private final long maxManifestBytes;
    /**
     * One lock per open upload session, held while a request of that session streams its body, so a PATCH
     * racing a PUT of the same session cannot interleave bytes; other sessions never wait on it.
     */
    private final Map<String, ReentrantLock> uploadLocks = new ConcurrentHashMap<>();

    private final DigestLocks digestLocks;
    private volatile RegistryEvents events = RegistryEvents.NONE;

    public Registry(BlobStore blobs, MetadataStore metadata, ClusterLocks locks, LastUseRecorder lastUse, Clock clock, long maxManifestBytes) {
        this.blobs = blobs;
        this.metadata = metadata;
        this.lastUse = lastUse;
        this.clock = clock;
        this.maxManifestBytes = maxManifestBytes;
        this.digestLocks = new DigestLocks(1024, locks::withDigestLocks);
    }

    /** Who hears about hits, misses, bytes and deletions (metrics, retention). */
    public void setEvents(RegistryEvents events) {
        this.events = events;
    }

    // ---- blobs ----

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
        StagedBlob staged;
        try {
            staged = blobs.stage(digest, body);
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
    private BlobInfo publishAndLink(RepositoryName repository, StagedBlob staged) {
        events.blobBytesReceived(staged.size());
        try {
            // Outside the digest lock: admission may wait for a collection, which takes digest locks itself.
            if (!metadata.blobRecordExists(staged.digest())) {
                events.admit(staged.size());
            }
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

    // ---- upload sessions ----

    public UploadState startUpload(RepositoryName repository) {
        String id = UUID.randomUUID().toString();
        // The record first: a store that keeps its progress in the database writes to this row.
        metadata.createUpload(new UploadSession(id, repository, clock.instant()));
        io(() -> {
            blobs.startUpload(id);
            return null;
        });
        return new UploadState(repository, id, 0);
    }

    public UploadState uploadStatus(RepositoryName repository, String id) {
        return withUpload(repository, id, size -> new UploadState(repository, id, size));
    }

    /**
     * Appends a chunk. With {@code start} the chunk must begin where the upload ends (else 416 and
     * nothing is appended); without it, the bytes are appended as they stream in.
     */
    public UploadState appendChunk(RepositoryName repository, String id, OptionalLong start, InputStream body) {
        return withUpload(repository, id, size -> new UploadState(repository, id, append(id, start, body)));
    }

    /** Appends the final chunk (if any), verifies the digest and publishes the blob into the repository. */
    public BlobInfo finishUpload(RepositoryName repository, String id, Digest digest, OptionalLong start, InputStream body) {
        return withUpload(repository, id, size -> {
            if (size == 0 && (start.isEmpty() || start.getAsLong() == 0)) {
                // The whole blob in the closing PUT (as containerd pushes): the digest is known before the
                // bytes, so stage them as a monolithic push does; an object store then writes them to the
                // blob's own key instead of to a session object it would have to copy.
                return publishSession(repository, id, true, () -> blobs.stage(digest, body));
            }
            append(id, start, body);
            return publishSession(repository, id, false, () -> blobs.stageUpload(id, digest));
        });
    }

    private interface Staging {
        StagedBlob stage() throws IOException, DigestMismatchException;
    }

    /**
     * Stages the session's blob, publishes it into the repository and ends the session, whether or not
     * the digest matched; {@code discardUpload} also drops what the session itself holds.
     */
    private BlobInfo publishSession(RepositoryName repository, String id, boolean discardUpload, Staging staging) {
        StagedBlob staged;
        try {
            staged = staging.stage();
        } catch (DigestMismatchException e) {
            endSession(id, discardUpload);
            throw digestMismatch(e);
        } catch (NoSuchFileException e) {
            throw sessionLost(id);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            return publishAndLink(repository, staged);
        } finally {
            endSession(id, discardUpload);
        }
    }

    public void cancelUpload(RepositoryName repository, String id) {
        withUpload(repository, id, size -> {
            endSession(id, true);
            return null;
        });
    }

    private void endSession(String id, boolean discardUpload) {
        if (discardUpload) {
            io(() -> {
                blobs.abortUpload(id);
                return null;
            });
        }
        endSession(id);
    }

    /**
     * Forgets a finished or abandoned session; called holding its lock. Dropping the lock from the map
     * is safe then: whoever still waits on it finds the session gone and answers 404.
     */
    private void endSession(String id) {
        metadata.deleteUpload(id);
        uploadLocks.remove(id);
    }

    /**
     * Ends sessions that saw no bytes since {@code cutoff} (clients that crashed or gave up), so their
     * files do not fill the disk outside the budget. Sessions busy with a request are left alone.
     * Returns how many were ended.
     */
    public int expireUploads(java.time.Instant cutoff) {
        int expired = 0;
        for (UploadSession session : metadata.uploadsStartedBefore(cutoff)) {
            ReentrantLock lock = uploadLocks.computeIfAbsent(session.id(), k -> new ReentrantLock());
            if (!lock.tryLock()) continue;
            try {
                Optional<java.time.Instant> lastWrite = io(() -> blobs.uploadLastWrite(session.id()));
                if (lastWrite.isEmpty() || lastWrite.get().isBefore(cutoff)) {
                    endSession(session.id(), true);
                    expired++;
                }
            } finally {
                lock.unlock();
            }
        }
        int removed = io(() -> blobs.removeAbandonedUploads(cutoff, id -> metadata.upload(id).isPresent()));
        if (removed > 0) log.info("removed {} abandoned upload part(s) or object(s) no open session owns", removed);
        return expired;
    }

    private long append(String id, OptionalLong start, InputStream body) {
        try {
            return blobs.appendUpload(id, start, body);
        } catch (UploadOffsetException e) {
            throw new UploadRangeException(id, e.currentSize(), e.getMessage());
        } catch (NoSuchFileException e) {
            throw sessionLost(id);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The store can no longer continue the session (its pieces are gone): end it, so the client starts over. */
    private RegistryException sessionLost(String id) {
        endSession(id, true);
        return new RegistryException(ErrorCode.BLOB_UPLOAD_UNKNOWN, "upload " + abbreviate(id) + " can no longer be completed; start it again");
    }

    private interface UploadWork<T> {
        T run(long size);
    }

    /** Runs {@code work} holding the session's lock, after checking that the session is open and belongs to the repository. */
    private <T> T withUpload(RepositoryName repository, String id, UploadWork<T> work) {
        if (!isPlausibleUploadId(id)) {
            throw new RegistryException(ErrorCode.BLOB_UPLOAD_UNKNOWN, "no open upload " + abbreviate(id) + " in " + repository);
        }
        ReentrantLock lock = uploadLocks.computeIfAbsent(id, k -> new ReentrantLock());
        lock.lock();
        try {
            Optional<UploadSession> session = metadata.upload(id);
            if (session.isEmpty()) {
                uploadLocks.remove(id, lock);
            }
            if (session.isEmpty() || !session.get().repository().equals(repository)) {
                throw new RegistryException(ErrorCode.BLOB_UPLOAD_UNKNOWN, "no open upload " + abbreviate(id) + " in " + repository);
            }
            OptionalLong size = io(() -> blobs.uploadSize(id));
            if (size.isEmpty()) {
                endSession(id); // its bytes are gone (finished elsewhere or swept): the session is over
                throw new RegistryException(ErrorCode.BLOB_UPLOAD_UNKNOWN, "no open upload " + abbreviate(id) + " in " + repository);
            }
            return work.run(size.getAsLong());
        } finally {
            lock.unlock();
        }
    }

    private static boolean isPlausibleUploadId(String id) {
        return id.length() <= 64 && id.chars().allMatch(ch -> ch == '-' || Character.isLetterOrDigit(ch) && ch < 128);
    }

    // ---- manifests ----

    public StoredManifest getManifest(RepositoryName repository, Reference reference) {
        Optional<Digest> digest = switch (reference) {
            case Reference.ByDigest d -> Optional.of(d.digest());
            case Reference.ByTag t -> metadata.resolveTag(repository, t.tag());
        };
        // The use is noted after the read, from what the read found: a use the records would learn of too late
        // for a collector on another node is written before the answer (see LastUseRecorder).
        Optional<StoredManifest> manifest = digest.flatMap(d -> metadata.manifest(repository, d))
                .filter(m -> lastUse.manifestUsed(repository, m.digest(), m.recordedUse(), m.retiredUntil()));
        if (manifest.isEmpty()) {
            events.manifestMiss(repository);
            throw manifestUnknown(reference);
        }
        events.manifestHit(repository);
        return manifest.get();
    }

    /**
     * Stores a manifest under a tag or digest. It is accepted only when it parses, its digest matches a
     * digest reference, and everything it references is already in the repository.
     */
    public ManifestPushed putManifest(RepositoryName repository, Reference reference, Optional<String> contentType, InputStream body) {
        byte[] content = readLimited(body);
        Manifest manifest = ManifestParser.parse(content, contentType);
        Digest digest = Digest.sha256(content);
        if (reference instanceof Reference.ByDigest(Digest claimed)) {
            Digest actual = claimed.algorithm().equals("sha256") ? digest
                    : Digest.of(claimed.algorithm(), claimed.newHasher().digest(content));
            if (!actual.equals(claimed)) {
                throw new RegistryException(ErrorCode.DIGEST_INVALID, "manifest hashes to " + actual + ", not " + claimed,
                        Map.of("digest", claimed.toString()));
            }
            digest = claimed;
        }
        Optional<Tag> tag = reference instanceof Reference.ByTag(Tag t) ? Optional.of(t) : Optional.empty();
        boolean isNew = !metadata.manifestExists(repository, digest); // an index read, not the document
        if (isNew) events.admit(content.length);
        List<Digest> missing = metadata.putManifest(new NewManifest(repository, digest, manifest.mediaType(), content,
                manifest.subject().map(Descriptor::digest), manifest.effectiveArtifactType().filter(t -> manifest.subject().isPresent()),
                manifest.requiredDigests(), clock.instant()), tag);
        if (!missing.isEmpty()) {
            throw new RegistryException(ErrorCode.MANIFEST_BLOB_UNKNOWN,
                    missing.size() + " referenced blob(s) or manifest(s) not in " + repository + ", first " + missing.getFirst(),
                    Map.of("digest", missing.getFirst().toString()));
        }
        if (isNew) events.bytesStored(content.length);
        return new ManifestPushed(digest, manifest.subject().map(Descriptor::digest));
    }

    /** Deletes a tag (the manifest stays) or, by digest, the manifest and every tag pointing at it. */
    public void deleteManifest(RepositoryName repository, Reference reference) {
        boolean deleted = switch (reference) {
            case Reference.ByTag t -> metadata.deleteTag(repository, t.tag());
            case Reference.ByDigest d -> {
                Optional<StoredManifest> stored = metadata.manifest(repository, d.digest());
                boolean gone = metadata.deleteManifest(repository, d.digest());
                if (gone) events.manifestDeleted(repository, d.digest(), stored.map(m -> (long) m.content().length).orElse(0L));
                yield gone;
            }
        };
        if (!deleted) {
            throw manifestUnknown(reference);
        }
    }

    private byte[] readLimited(InputStream body) {
        try {
            byte[] content = body.readNBytes(Math.toIntExact(Math.min(maxManifestBytes + 1, Integer.MAX_VALUE - 16)));
            if (content.length > maxManifestBytes) {
                throw new ManifestTooLargeException(maxManifestBytes);
            }
            return content;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- listings ----

    public Page tags(RepositoryName repository, Optional<String> last, OptionalLong n) {
        if (!metadata.repositoryExists(repository)) {
            throw new RegistryException(ErrorCode.NAME_UNKNOWN, "repository " + repository + " is not known",
                    Map.of("name", repository.value()));
        }
        int limit = pageSize(n);
        return page(metadata.tags(repository, last, limit + 1), limit);
    }

    public Page repositories(Optional<String> last, OptionalLong n) {
        int limit = pageSize(n);
        return page(metadata.repositories(last, limit + 1), limit);
    }

    /** Descriptors of the repository's manifests whose subject is {@code subject}, optionally of one artifact type. */
    public List<Descriptor> referrers(RepositoryName repository, Digest subject, Optional<String> artifactType) {
        List<Descriptor> result = new ArrayList<>();
        for (StoredManifest stored : metadata.referrers(repository, subject)) {
            if (artifactType.isPresent() && !artifactType.equals(stored.artifactType())) continue;
            Manifest manifest = ManifestParser.parse(stored.content(), Optional.of(stored.mediaType()));
            result.add(new Descriptor(stored.mediaType(), stored.digest(), stored.content().length,
                    stored.artifactType(), manifest.annotations(), List.of()));
        }
        return result;
    }

    private static int pageSize(OptionalLong n) {
        if (n.isEmpty()) return MAX_PAGE;
        if (n.getAsLong() < 0) {
            throw new RegistryException(ErrorCode.PAGINATION_NUMBER_INVALID, "n must not be negative");
        }
        return (int) Math.min(n.getAsLong(), MAX_PAGE);
    }

    private static Page page(List<String> fetched, int limit) {
        if (fetched.size() > limit) {
            List<String> items = fetched.subList(0, limit);
            return new Page(items, items.isEmpty() ? Optional.empty() : Optional.of(items.getLast()));
        }
        return new Page(fetched, Optional.empty());
    }

    // ---- collection (called by retention) ----

    /**
     * Deletes blobs that no repository links and no manifest references, each for the reason given: their
     * records (with an audit event each, in the same transaction), then their files,
     * holding their digests' locks so no push can be publishing one meanwhile. Returns the size of each
     * blob deleted; a blob linked again in the meantime stays.
     */
    public Map<Digest, Long> deleteUnlinkedBlobs(Map<Digest, String> reasons) {
        return digestLocks.withLocks(reasons.keySet(), () -> {
            Map<Digest, Long> deleted = metadata.deleteBlobsIfUnlinked(reasons);
            deleteFiles(List.copyOf(deleted.keySet()));
            return deleted;
        });
    }

    private static final int UNLINK_THREADS = 8;

    /**
     * Removes the files of deleted blob records, on several threads: an unlink costs ~0.1 ms on a local disk,
     * mostly waiting, and a collection makes tens of thousands while it holds those digests' locks. A file
     * that cannot be removed is reported after the others went (a later orphan sweep retries it).
     */
    private void deleteFiles(List<Digest> digests) {
        int threads = Math.min(UNLINK_THREADS, (digests.size() + 15) / 16);
        if (threads <= 1) {
            for (Digest digest : digests) io(() -> {
                blobs.delete(digest);
                return null;
            });
            return;
        }
        java.util.concurrent.atomic.AtomicReference<IOException> failure = new java.util.concurrent.atomic.AtomicReference<>();
        List<Thread> workers = new ArrayList<>(threads);
        for (int t = 0; t < threads; t++) {
            List<Digest> share = digests.subList(digests.size() * t / threads, digests.size() * (t + 1) / threads);
            // platform threads: an unlink blocks its thread in the kernel, which would pin a virtual thread's carrier
            workers.add(Thread.ofPlatform().daemon().name("cairn-unlink").start(() -> {
                for (Digest digest : share) {
                    try {
                        blobs.delete(digest);
                    } catch (IOException e) {
                        failure.compareAndSet(null, e);
                    }
                }
            }));
        }
        boolean interrupted = false;
        for (Thread worker : workers) {
            while (true) {
                try {
                    worker.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the locks are held until every unlink is done
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        if (failure.get() != null) throw new UncheckedIOException(failure.get());
    }

    /**
     * Deletes a file no record points at (left by a crash between publishing and linking, or between
     * deleting a record and its file). The caller makes sure it is older than the grace window.
     */
    public boolean deleteOrphanFile(Digest digest, Runnable beforeDeleting) {
        return digestLocks.withLock(digest, () -> {
            if (metadata.blobRecordExists(digest)) return false;
            beforeDeleting.run();
            io(() -> {
                blobs.delete(digest);
                return null;
            });
            return true;
        });
    }

    /** Throws when storage or metadata does not answer. */
    public void checkReady() {
        metadata.ping();
        io(() -> blobs.stat(Digest.sha256(new byte[0])));
    }

    // ---- helpers ----

    private interface IoWork<T> {
        T run() throws IOException;
    }

    private static <T> T io(IoWork<T> work) {
        try {
            return work.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static RegistryException blobUnknown(Digest digest) {
        return new RegistryException(ErrorCode.BLOB_UNKNOWN, "blob " + digest + " is not in this repository",
                Map.of("digest", digest.toString()));
    }

    private static RegistryException manifestUnknown(Reference reference) {
        return new RegistryException(ErrorCode.MANIFEST_UNKNOWN, "manifest " + reference + " is not in this repository",
                Map.of(reference instanceof Reference.ByTag ? "tag" : "digest", reference.toString()));
    }

    private static RegistryException digestMismatch(DigestMismatchException e) {
        return new RegistryException(ErrorCode.DIGEST_INVALID, e.getMessage(), Map.of("digest", e.expected().toString()));
    }

    private static String abbreviate(String text) {
        return text.length() <= 64 ? text : text.substring(0, 64) + "...";
    }
}
