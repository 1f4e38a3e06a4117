package dev.cairn.storage;

import dev.cairn.values.Digest;

import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Predicate;

/**
 * The bytes of upload sessions: bytes that are not a blob yet, appended chunk by chunk, possibly by
 * different nodes. A session ends in {@link #stageUpload}, whose result {@link BlobContent#publish} of the
 * same store turns into a blob, or in {@link #abortUpload}. Which sessions are open is the metadata's
 * business: the store is told, never asked.
 */
public interface UploadSessionStore {
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
     * Verifies the upload's bytes against {@code expected} and stages them for {@link BlobContent#publish}. The
     * upload is gone afterwards either way: a mismatch discards it.
     */
    StagedBlob stageUpload(String id, Digest expected) throws IOException, DigestMismatchException;

    /** When bytes were last appended to the upload (or it was started), or empty when there is no such upload. */
    Optional<Instant> uploadLastWrite(String id) throws IOException;

    /** Discards an upload's bytes; absent uploads are not an error. */
    void abortUpload(String id) throws IOException;

    /**
     * Removes upload leftovers that no open session owns and that are older than {@code cutoff} (a node
     * died mid-request, a session ended while one of its requests still ran). Returns how many went.
     */
    int removeAbandonedUploads(Instant cutoff, Predicate<String> isOpenSession) throws IOException;

    /**
     * Requests waiting now for another request's hold on an upload session (stores whose sessions any node
     * may continue hold one per request; a node that dies holding one keeps it until it lapses). Zero here.
     */
    default int requestsWaitingForSessionClaims() {
        return 0;
    }
}
