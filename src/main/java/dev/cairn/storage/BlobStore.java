package dev.cairn.storage;

import dev.cairn.values.Digest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.NoSuchFileException;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Where blob bytes live. A blob becomes visible only after all its bytes are on stable storage and
 * hash to its digest; it is published atomically, so a crash leaves the whole blob or none of it.
 * Upload sessions hold bytes that are not a blob yet; {@link #stageUpload} then {@link #publish} turn one into a blob.
 */
public interface BlobStore extends AutoCloseable {
    Optional<BlobInfo> stat(Digest digest) throws IOException;

    /** Opens the blob at {@code offset}; throws {@link NoSuchFileException} when it is not stored. */
    InputStream open(Digest digest, long offset) throws IOException;

    /** Streams {@code body} into the store; keeps nothing and throws if it does not hash to {@code expected}. */
    default BlobInfo put(Digest expected, InputStream body) throws IOException, DigestMismatchException {
        StagedBlob staged = stage(expected, body);
        try {
            return publish(staged);
        } finally {
            discard(staged);
        }
    }

    /**
     * Streams {@code body} to stable storage, verified against {@code expected}, without making it visible.
     * Keeps nothing and throws if the bytes do not hash to {@code expected}.
     */
    StagedBlob stage(Digest expected, InputStream body) throws IOException, DigestMismatchException;

    /** Makes staged bytes the blob, atomically; when the blob is already stored, keeps that one copy. */
    BlobInfo publish(StagedBlob staged) throws IOException;

    /** Drops staged bytes that were not published; a no-op after {@link #publish}. */
    void discard(StagedBlob staged) throws IOException;

    /** Every stored blob, for the sweep of blobs that no record knows (left by a crash). */
    void forEachBlob(java.util.function.Consumer<StoredBlob> visitor) throws IOException;

    /** Removes the blob's bytes; absent blobs are not an error. */
    void delete(Digest digest) throws IOException;

    /** Creates an empty upload area for session {@code id}. */
    void startUpload(String id) throws IOException;

    /** The number of bytes the upload holds, or empty when there is no such upload. */
    OptionalLong uploadSize(String id) throws IOException;

    /**
     * Appends {@code body} to the upload. When {@code expectedStart} is present it must equal the
     * current size, otherwise nothing is appended. Returns the new size.
     */
    long appendUpload(String id, OptionalLong expectedStart, InputStream body) throws IOException, UploadOffsetException;

    /**
     * Verifies the upload's bytes against {@code expected} and stages them for {@link #publish}. The upload
     * is gone afterwards either way: a mismatch discards it.
     */
    StagedBlob stageUpload(String id, Digest expected) throws IOException, DigestMismatchException;

    /** When bytes were last appended to the upload (or it was started), or empty when there is no such upload. */
    Optional<java.time.Instant> uploadLastWrite(String id) throws IOException;

    /** Discards an upload's bytes; absent uploads are not an error. */
    void abortUpload(String id) throws IOException;

    /**
     * Removes upload leftovers that no open session owns and that are older than {@code cutoff} (a node
     * died mid-request, a session ended while one of its requests still ran). Returns how many went.
     */
    int removeAbandonedUploads(java.time.Instant cutoff, java.util.function.Predicate<String> isOpenSession) throws IOException;

    /**
     * True when asking the store costs a network round trip (an object store); then callers trust the
     * records, which exist only while the bytes do, rather than ask the store whether a blob is there.
     */
    default boolean isRemote() {
        return false;
    }

    /**
     * A short-lived URL from which a client may read the blob directly, bypassing this node; empty when
     * the store has no such thing (local files).
     */
    default Optional<java.net.URI> readUrl(Digest digest, java.time.Duration validFor) {
        return Optional.empty();
    }

    @Override
    default void close() throws IOException {
    }

    /**
     * Requests waiting now for another request's hold on an upload session (stores whose sessions any node
     * may continue hold one per request; a node that dies holding one keeps it until it lapses). Zero here.
     */
    default int requestsWaitingForSessionClaims() {
        return 0;
    }
}
