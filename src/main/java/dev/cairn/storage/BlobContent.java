package dev.cairn.storage;

import dev.cairn.values.Digest;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Blobs by digest: what a pull reads and a push writes. A blob becomes visible only after all its bytes
 * are on stable storage and hash to its digest; it is published atomically, so a crash leaves the whole
 * blob or none of it. Writing is two steps, {@link #stage} then {@link #publish}, so that the caller may
 * publish under its own lock (the digest's) only bytes already verified.
 */
public interface BlobContent {
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

    /**
     * {@link #stage} for bytes the caller has already checked against {@code digest} as they passed (a mirror's
     * fetch, whose stream ends only once its own hash matched): a store that can keeps them without hashing them a
     * second time.
     */
    default StagedBlob stageChecked(Digest digest, InputStream body) throws IOException, DigestMismatchException {
        return stage(digest, body);
    }

    /**
     * Streams {@code body} to stable storage and names it by its SHA-256, without making it visible: for
     * content stored under a key of the client's choosing (a build tool's cache entry), whose digest nobody
     * knows before the last byte. {@link #publish} and {@link #discard} take it as they take {@link #stage}'s.
     */
    StagedBlob stageByContent(InputStream body) throws IOException;

    /** Makes staged bytes the blob, atomically; when the blob is already stored, keeps that one copy. */
    BlobInfo publish(StagedBlob staged) throws IOException;

    /** Drops staged bytes that were not published; a no-op after {@link #publish}. */
    void discard(StagedBlob staged) throws IOException;

    /** Removes the blob's bytes; absent blobs are not an error. */
    void delete(Digest digest) throws IOException;

    /**
     * Removes these blobs' bytes, as {@link #delete} each, in as few round trips as the store allows (the
     * collector's sweep removes thousands at a time). Every one is tried; the first failure is thrown after.
     */
    void deleteAll(List<Digest> digests) throws IOException;

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
    default Optional<URI> readUrl(Digest digest, Duration validFor) {
        return Optional.empty();
    }
}
