package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.metadata.UploadSession;
import dev.cairn.storage.BlobContent;
import dev.cairn.storage.BlobInfo;
import dev.cairn.storage.DigestMismatchException;
import dev.cairn.storage.StagedBlob;
import dev.cairn.storage.UploadOffsetException;
import dev.cairn.storage.UploadSessionStore;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

import static dev.cairn.registry.RegistryErrors.digestMismatch;
import static dev.cairn.values.ClientText.shortened;
import static dev.cairn.registry.StorageCall.io;

/**
 * Upload sessions: chunked and streamed uploads that any node may continue, each ending in a blob
 * published into its repository (through {@link RepositoryBlobs}) or in nothing at all.
 */
public final class UploadSessions {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(UploadSessions.class);

    private final UploadSessionStore uploads;
    /** For a closing PUT that carries the whole blob: staged as a monolithic push is. */
    private final BlobContent blobs;
    private final MetadataStore metadata;
    private final RepositoryBlobs published;
    private final Clock clock;
    /**
     * One lock per open upload session, held while a request of that session streams its body, so a PATCH
     * racing a PUT of the same session cannot interleave bytes; other sessions never wait on it.
     */
    private final Map<String, ReentrantLock> uploadLocks = new ConcurrentHashMap<>();
    /** A session without new bytes for this long is taken for abandoned when its owner is at its limit. */
    static final java.time.Duration RECLAIM_IDLE = java.time.Duration.ofMinutes(15);
    private final int maxSessionsPerClient;

    UploadSessions(UploadSessionStore uploads, BlobContent blobs, MetadataStore metadata, RepositoryBlobs published, Clock clock,
                   int maxSessionsPerClient) {
        this.uploads = uploads;
        this.blobs = blobs;
        this.metadata = metadata;
        this.published = published;
        this.clock = clock;
        this.maxSessionsPerClient = maxSessionsPerClient;
    }

    /**
     * Opens a session for {@code owner} (a user name, or an anonymous client's address). An owner at its
     * limit of open sessions first loses those it left without new bytes for {@link #RECLAIM_IDLE} (the
     * leftovers of cancelled pushes); if it is still at the limit, the session is refused (429).
     */
    public UploadState startUpload(RepositoryName repository, String owner) {
        if (metadata.countUploadsOf(owner) >= maxSessionsPerClient) {
            int ended = endIdle(metadata.uploadsOf(owner, maxSessionsPerClient), clock.instant().minus(RECLAIM_IDLE));
            if (ended > 0) log.info("ended {} upload session(s) of {} idle for over {} to open a new one", ended, owner, RECLAIM_IDLE);
            if (metadata.countUploadsOf(owner) >= maxSessionsPerClient) {
                throw new Refusal(Refusal.Reason.TOO_MANY_UPLOAD_SESSIONS, owner + " has " + maxSessionsPerClient + " upload sessions open "
                        + "(registry.max-upload-sessions-per-client); finish or cancel some, or wait for idle ones to be ended");
            }
        }
        String id = UUID.randomUUID().toString();
        // The record first: a store that keeps its progress in the database writes to this row.
        metadata.createUpload(new UploadSession(id, repository, clock.instant(), owner));
        io(() -> {
            uploads.startUpload(id);
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
            return publishSession(repository, id, false, () -> uploads.stageUpload(id, digest));
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
            return published.publishAndLink(repository, staged);
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
                uploads.abortUpload(id);
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
        int expired = endIdle(metadata.uploadsStartedBefore(cutoff), cutoff);
        int removed = io(() -> uploads.removeAbandonedUploads(cutoff, id -> metadata.upload(id).isPresent()));
        if (removed > 0) log.info("removed {} abandoned upload part(s) or object(s) no open session owns", removed);
        return expired;
    }

    /** Ends those of {@code sessions} with no new bytes since {@code cutoff}; sessions busy with a request are left alone. */
    private int endIdle(List<UploadSession> sessions, java.time.Instant cutoff) {
        int ended = 0;
        for (UploadSession session : sessions) {
            ReentrantLock lock = uploadLocks.computeIfAbsent(session.id(), k -> new ReentrantLock());
            if (!lock.tryLock()) continue;
            try {
                Optional<java.time.Instant> lastWrite = io(() -> uploads.uploadLastWrite(session.id()));
                if (lastWrite.isEmpty() || lastWrite.get().isBefore(cutoff)) {
                    endSession(session.id(), true);
                    ended++;
                }
            } finally {
                lock.unlock();
            }
        }
        return ended;
    }

    private long append(String id, OptionalLong start, InputStream body) {
        try {
            return uploads.appendUpload(id, start, body);
        } catch (UploadOffsetException e) {
            throw new UploadRangeException(id, e.currentSize(), e.getMessage());
        } catch (NoSuchFileException e) {
            throw sessionLost(id);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The store can no longer continue the session (its pieces are gone): end it, so the client starts over. */
    private Refusal sessionLost(String id) {
        endSession(id, true);
        return new Refusal(Refusal.Reason.UPLOAD_NOT_FOUND, "upload " + shortened(id) + " can no longer be completed; start it again");
    }

    private interface UploadWork<T> {
        T run(long size);
    }

    /** Runs {@code work} holding the session's lock, after checking that the session is open and belongs to the repository. */
    private <T> T withUpload(RepositoryName repository, String id, UploadWork<T> work) {
        if (!isPlausibleUploadId(id)) {
            throw new Refusal(Refusal.Reason.UPLOAD_NOT_FOUND, "no open upload " + shortened(id) + " in " + repository);
        }
        ReentrantLock lock = uploadLocks.computeIfAbsent(id, k -> new ReentrantLock());
        lock.lock();
        try {
            Optional<UploadSession> session = metadata.upload(id);
            if (session.isEmpty()) {
                uploadLocks.remove(id, lock);
            }
            if (session.isEmpty() || !session.get().repository().equals(repository)) {
                throw new Refusal(Refusal.Reason.UPLOAD_NOT_FOUND, "no open upload " + shortened(id) + " in " + repository);
            }
            OptionalLong size = io(() -> uploads.uploadSize(id));
            if (size.isEmpty()) {
                endSession(id); // its bytes are gone (finished elsewhere or swept): the session is over
                throw new Refusal(Refusal.Reason.UPLOAD_NOT_FOUND, "no open upload " + shortened(id) + " in " + repository);
            }
            return work.run(size.getAsLong());
        } finally {
            lock.unlock();
        }
    }

    private static boolean isPlausibleUploadId(String id) {
        return id.length() <= 64 && id.chars().allMatch(ch -> ch == '-' || Character.isLetterOrDigit(ch) && ch < 128);
    }

}
