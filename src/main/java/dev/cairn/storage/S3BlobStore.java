package dev.cairn.storage;

import dev.cairn.values.Digest;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * Blobs as objects in an S3-compatible bucket, keyed {@code <prefix>/blobs/<algorithm>/<first two hex>/<hex>},
 * so any number of nodes share them. Nothing about an upload lives on the node: its bytes go to a
 * multipart upload in part-sized pieces (what is left over, less than a part, waits in a small "tail"
 * object), and its progress (the multipart upload, its parts, the running SHA-256 state) is a row in the
 * {@link UploadLedger} ({@link S3UploadProgress}), so the next chunk may arrive at any node; one request at
 * a time writes to a session ({@link S3UploadClaims}). A blob becomes visible only after its
 * digest is verified: a multipart upload is completed (or a small blob written with one PUT) after the
 * hash matched, and a session's staging object is copied to the blob's key only then.
 */
public final class S3BlobStore implements BlobStore {
    private static final Logger log = LoggerFactory.getLogger(S3BlobStore.class);
    /** S3's limit: the smallest part but the last. */
    public static final long MIN_PART_SIZE = 5L << 20;

    /** Where the bucket is and how to reach it; {@code accessKey}/{@code secretKey} empty means the SDK's default chain. */
    public record Location(String bucket, String prefix, String region, Optional<URI> endpoint, boolean pathStyle,
                           Optional<String> accessKey, Optional<String> secretKey, int partSize, int maxConnections) {
        @Override
        public String toString() { // never the secret
            return "s3://" + bucket + "/" + prefix + endpoint.map(e -> " at " + e).orElse("") + " (region " + region + ")";
        }
    }

    private final S3Bucket bucket;
    private final String prefix;
    private final int partSize;
    private final S3UploadClaims claims;
    private final Clock clock;
    private final PartBuffers buffers;

    /** Staged bytes: a small blob held in memory, a multipart upload at the blob's key, or a staging object. */
    private sealed interface Staged permits SmallBlob, PendingMultipart, StagingObject {
    }

    /** {@code tailKey}: the session object the bytes came from, if any, removed with the staged blob. */
    private record SmallBlob(byte[] bytes, int length, String tailKey) implements Staged {
    }

    private record PendingMultipart(String key, String uploadId, List<S3Bucket.Part> parts) implements Staged {
    }

    private record StagingObject(String key, String tailKey) implements Staged {
    }

    public S3BlobStore(Location location, UploadLedger ledger, Clock clock) {
        if (location.partSize() < MIN_PART_SIZE) {
            throw new IllegalArgumentException("the part size must be at least 5MiB (S3's minimum)");
        }
        this.bucket = new S3Bucket(location);
        this.prefix = normalizePrefix(location.prefix());
        this.partSize = location.partSize();
        this.claims = new S3UploadClaims(ledger, clock);
        this.clock = clock;
        // Part buffers may take a quarter of the heap at most (the launcher keeps heaps small), and need
        // not outnumber a quarter of the connections to S3.
        long byHeap = Runtime.getRuntime().maxMemory() / 4 / partSize;
        int buffersAllowed = (int) Math.max(2, Math.min(byHeap, location.maxConnections() / 4));
        this.buffers = new PartBuffers(partSize, buffersAllowed);
        log.info("blob store {}: parts of {} bytes, at most {} part buffers in memory", location, partSize, buffersAllowed);
    }

    /** Throws, in S3's words, when the bucket cannot be reached with these credentials. */
    public void checkBucket() throws IOException {
        bucket.check();
    }

    static String normalizePrefix(String prefix) {
        String trimmed = prefix.strip().replaceAll("^/+|/+$", "");
        return trimmed.isEmpty() ? "" : trimmed + "/";
    }

    String keyOf(Digest digest) {
        return prefix + "blobs/" + digest.algorithm() + "/" + digest.hex().substring(0, 2) + "/" + digest.hex();
    }

    private String uploadsPrefix() {
        return prefix + "uploads/";
    }

    private String stagingKey(String id) {
        return uploadsPrefix() + id + "/data";
    }

    // ---- blobs ----

    @Override
    public Optional<BlobInfo> stat(Digest digest) throws IOException {
        OptionalLong size = bucket.size(keyOf(digest));
        return size.isEmpty() ? Optional.empty() : Optional.of(new BlobInfo(digest, size.getAsLong()));
    }

    @Override
    public InputStream open(Digest digest, long offset) throws IOException {
        return bucket.open(keyOf(digest), offset);
    }

    @Override
    public boolean isRemote() {
        return true;
    }

    @Override
    public Optional<URI> readUrl(Digest digest, Duration validFor) {
        try {
            return Optional.of(bucket.presignGet(keyOf(digest), validFor));
        } catch (SdkException | IllegalArgumentException e) {
            log.warn("cannot presign a URL for {} (serving it through this node): {}", digest, e.getMessage());
            return Optional.empty(); // signing is local (credentials, clock); the node can still serve the bytes
        }
    }

    @Override
    public StagedBlob stage(Digest expected, InputStream body) throws IOException, DigestMismatchException {
        MessageDigest hasher = expected.newHasher();
        Streamed streamed = streamTo(keyOf(expected), hasher, body);
        try {
            verify(expected, Digest.of(expected.algorithm(), hasher.digest()));
        } catch (DigestMismatchException e) {
            if (streamed.handle() instanceof PendingMultipart pending) bucket.abortMultipart(pending.key(), pending.uploadId());
            throw e;
        }
        return new StagedBlob(expected, streamed.size(), streamed.handle());
    }

    /**
     * Less than a part: kept in memory until published (one PUT). More: a multipart upload to a staging key
     * (the blob's own key is not known before the last byte), completed, and copied to the blob's key on
     * publish. A node that dies in between leaves a staging object that the sweep of abandoned uploads
     * removes, as it does a dead session's.
     */
    @Override
    public StagedBlob stageByContent(InputStream body) throws IOException {
        MessageDigest hasher = Digest.newHasher("sha256");
        Streamed streamed = streamTo(stagingKey("content-" + UUID.randomUUID()), hasher, body);
        Staged handle = streamed.handle();
        if (handle instanceof PendingMultipart pending) {
            try {
                bucket.completeMultipart(pending.key(), pending.uploadId(), pending.parts());
            } catch (IOException | RuntimeException e) {
                bucket.abortQuietly(pending.key(), pending.uploadId());
                throw e;
            }
            handle = new StagingObject(pending.key(), null);
        }
        return new StagedBlob(Digest.of("sha256", hasher.digest()), streamed.size(), handle);
    }

    private record Streamed(long size, Staged handle) {
    }

    /**
     * Streams {@code body} through {@code hasher}: less than a part stays in memory, more goes to a multipart
     * upload to {@code key}, left pending (aborted if the body or a part fails).
     */
    private Streamed streamTo(String key, MessageDigest hasher, InputStream body) throws IOException {
        byte[] buffer = buffers.take();
        String multipartId = null;
        boolean streamed = false;
        try {
            int filled = fill(body, buffer, 0, hasher);
            if (filled < buffer.length) {
                streamed = true;
                return new Streamed(filled, new SmallBlob(java.util.Arrays.copyOf(buffer, filled), filled, null));
            }
            multipartId = bucket.createMultipart(key);
            List<S3Bucket.Part> parts = new ArrayList<>();
            long size = 0;
            while (filled > 0) {
                parts.add(bucket.uploadPart(key, multipartId, parts.size() + 1, buffer, filled));
                size += filled;
                filled = filled < buffer.length ? 0 : fill(body, buffer, 0, hasher);
            }
            streamed = true;
            return new Streamed(size, new PendingMultipart(key, multipartId, List.copyOf(parts)));
        } finally {
            buffers.give(buffer);
            if (!streamed && multipartId != null) bucket.abortMultipart(key, multipartId);
        }
    }

    @Override
    public BlobInfo publish(StagedBlob staged) throws IOException {
        String key = keyOf(staged.digest());
        switch (handleOf(staged)) {
            case SmallBlob small -> {
                if (bucket.size(key).isEmpty()) bucket.put(key, small.bytes(), small.length());
            }
            case PendingMultipart pending -> {
                if (bucket.size(key).isPresent()) {
                    bucket.abortQuietly(pending.key(), pending.uploadId()); // same digest, same bytes: keep the one copy
                } else {
                    bucket.completeMultipart(pending.key(), pending.uploadId(), pending.parts());
                }
            }
            case StagingObject object -> {
                if (bucket.size(key).isEmpty()) bucket.copy(object.key(), key, staged.size());
            }
        }
        return new BlobInfo(staged.digest(), staged.size());
    }

    /** Drops what staging left (a pending multipart upload, the staging object, the session's tail); quietly: the blob's fate is decided. */
    @Override
    public void discard(StagedBlob staged) {
        switch (handleOf(staged)) {
            case SmallBlob small -> {
                if (small.tailKey() != null) bucket.deleteQuietly(small.tailKey());
            }
            case PendingMultipart pending -> bucket.abortQuietly(pending.key(), pending.uploadId());
            case StagingObject object -> {
                bucket.deleteQuietly(object.key());
                if (object.tailKey() != null) bucket.deleteQuietly(object.tailKey());
            }
        }
    }

    private static Staged handleOf(StagedBlob staged) {
        if (!(staged.handle() instanceof Staged handle)) {
            throw new IllegalArgumentException("not a staged blob of this store: " + staged.handle());
        }
        return handle;
    }

    @Override
    public void forEachBlob(Consumer<StoredBlob> visitor) throws IOException {
        for (String algorithm : new String[]{"sha256", "sha512"}) {
            String under = prefix + "blobs/" + algorithm + "/";
            bucket.forEachObject(under, object -> {
                String hex = object.key().substring(object.key().lastIndexOf('/') + 1);
                Digest digest;
                try {
                    digest = new Digest(algorithm, hex);
                } catch (RuntimeException e) {
                    return; // not one of ours
                }
                visitor.accept(new StoredBlob(digest, object.size(), object.lastModified()));
            });
        }
    }

    @Override
    public void delete(Digest digest) throws IOException {
        bucket.delete(keyOf(digest));
    }

    @Override
    public void deleteAll(List<Digest> digests) throws IOException {
        bucket.deleteAll(digests.stream().map(this::keyOf).toList());
    }

    // ---- upload sessions ----

    @Override
    public void startUpload(String id) {
        // Nothing to create: a session with no recorded progress is empty.
    }

    @Override
    public OptionalLong uploadSize(String id) throws IOException {
        Optional<S3UploadProgress> progress = claims.progress(id);
        return progress.isEmpty() ? OptionalLong.empty() : OptionalLong.of(progress.get().size());
    }

    @Override
    public Optional<Instant> uploadLastWrite(String id) throws IOException {
        return claims.lastWrite(id);
    }

    /**
     * Streams the chunk on from where the session stands: the waiting tail first, then the body, one
     * part at a time; what is left (less than a part) becomes the new tail. The request holds the session's
     * claim ({@link S3UploadClaims}) throughout: the new progress is recorded only if no other request
     * advanced the session meanwhile; otherwise what this request wrote is dropped.
     */
    @Override
    public long appendUpload(String id, OptionalLong expectedStart, InputStream body) throws IOException, UploadOffsetException {
        if (expectedStart.isPresent()) {
            // A chunk that cannot fit is refused before the session is claimed: a refusal writes nothing.
            long size = uploadSize(id).orElseThrow(() -> new NoSuchFileException("upload " + id));
            if (expectedStart.getAsLong() != size) throw new UploadOffsetException(expectedStart.getAsLong(), size);
        }
        S3UploadClaims.Claim claim = claims.claim(id);
        S3UploadProgress before = claim.progress();
        if (expectedStart.isPresent() && expectedStart.getAsLong() != before.size()) {
            claims.release(id, claim); // the session moved on between the look and the claim
            throw new UploadOffsetException(expectedStart.getAsLong(), before.size());
        }
        SHA256Digest hasher = S3UploadProgress.decode(before.sha256State());
        String key = stagingKey(id);
        byte[] buffer = buffers.take();
        String newTail = null;
        String createdMultipart = null;
        boolean recorded = false;
        try {
            int filled = 0;
            if (before.tailKey() != null) filled = bucket.readTail(before.tailKey(), buffer);
            List<S3Bucket.Part> parts = new ArrayList<>(before.parts());
            String multipartId = before.multipartId();
            long received = 0;
            while (true) {
                int start = filled;
                while (filled < buffer.length) {
                    int n = body.read(buffer, filled, buffer.length - filled);
                    if (n < 0) break;
                    filled += n;
                    claim = claims.renewIfDue(id, claim); // a slow client keeps its claim; a stalled one finds it gone
                }
                hasher.update(buffer, start, filled - start);
                received += filled - start;
                if (filled < buffer.length) break;
                claim = claims.renew(id, claim); // still ours before a part goes out under the next number
                if (multipartId == null) {
                    multipartId = bucket.createMultipart(key);
                    createdMultipart = multipartId;
                }
                if (parts.size() >= S3Bucket.MAX_PARTS - 1) {
                    throw new IOException("upload exceeds " + S3Bucket.MAX_PARTS + " parts of " + partSize + " bytes; raise storage.s3.part-size");
                }
                parts.add(bucket.uploadPart(key, multipartId, parts.size() + 1, buffer, filled));
                filled = 0;
            }
            if (filled > 0) {
                newTail = uploadsPrefix() + id + "/tail-" + UUID.randomUUID();
                bucket.put(newTail, buffer, filled);
            }
            S3UploadProgress after = new S3UploadProgress(before.size() + received, S3UploadProgress.encode(hasher), multipartId,
                    List.copyOf(parts), newTail, filled, clock.millis(), null, 0);
            claims.record(id, claim, after);
            recorded = true;
            if (before.tailKey() != null) bucket.deleteQuietly(before.tailKey());
            return after.size();
        } catch (S3UploadClaims.TakenOver e) {
            // This request stalled past its claim and another one wrote meanwhile: its chunk is not appended.
            throw new UploadOffsetException(before.size(), uploadSize(id).orElseThrow(() -> new NoSuchFileException("upload " + id)));
        } catch (BlobStoreUnavailableException e) {
            throw sessionLostOr(id, e);
        } finally {
            buffers.give(buffer);
            if (!recorded) {
                // A chunk cut short leaves the session as it was, so the client can send it again.
                if (newTail != null) bucket.deleteQuietly(newTail);
                if (createdMultipart != null) bucket.abortQuietly(key, createdMultipart);
                claims.release(id, claim);
            }
        }
    }

    /** Requests waiting now for another request's claim on an upload session to end (or lapse, if its node died). */
    @Override
    public int requestsWaitingForSessionClaims() {
        return claims.requestsWaiting();
    }

    @Override
    public StagedBlob stageUpload(String id, Digest expected) throws IOException, DigestMismatchException {
        S3UploadClaims.Claim claim = claims.claim(id); // a stale request on another node must not write a part while this one completes
        S3UploadProgress progress = claim.progress();
        String key = stagingKey(id);
        boolean staged = false;
        try {
            if (progress.multipartId() == null) {
                // Less than one part: the whole blob is the tail. One PUT will make it the blob.
                byte[] bytes = progress.tailKey() == null ? new byte[0] : bucket.readAll(progress.tailKey(), progress.tailSize());
                MessageDigest hasher = expected.newHasher();
                hasher.update(bytes);
                verify(expected, Digest.of(expected.algorithm(), hasher.digest()));
                staged = true;
                return new StagedBlob(expected, bytes.length, new SmallBlob(bytes, bytes.length, progress.tailKey()));
            }
            boolean sha256 = expected.algorithm().equals("sha256");
            if (sha256) verify(expected, Digest.of("sha256", finish(S3UploadProgress.decode(progress.sha256State()))));
            List<S3Bucket.Part> parts = new ArrayList<>(progress.parts());
            if (progress.tailKey() != null) {
                // The last part; a retry after a failure below uploads it again under the same number.
                byte[] tail = bucket.readAll(progress.tailKey(), progress.tailSize());
                parts.add(bucket.uploadPart(key, progress.multipartId(), parts.size() + 1, tail, tail.length));
            }
            bucket.completeMultipart(key, progress.multipartId(), parts);
            if (!sha256) verify(expected, bucket.hash(key, expected)); // no running state for other algorithms: read it back
            staged = true;
            return new StagedBlob(expected, progress.size(), new StagingObject(key, progress.tailKey()));
        } catch (DigestMismatchException e) {
            // The session is over: drop everything it wrote.
            if (progress.multipartId() != null) bucket.abortQuietly(key, progress.multipartId());
            if (progress.tailKey() != null) bucket.deleteQuietly(progress.tailKey());
            bucket.deleteQuietly(key);
            throw e;
        } catch (BlobStoreUnavailableException e) {
            // Anything else leaves the session as it was, so the client's retry of the closing PUT can finish
            // it, unless S3 says the session's pieces are gone; then it cannot be finished at all.
            throw sessionLostOr(id, e);
        } finally {
            if (!staged) claims.release(id, claim);
        }
    }

    /** A session whose multipart upload or tail S3 no longer has is over; any other failure is the store's. */
    private static IOException sessionLostOr(String id, BlobStoreUnavailableException e) {
        if (e.getCause() instanceof S3Exception s3 && (s3.statusCode() == 404
                || s3.statusCode() == 400 && s3.awsErrorDetails() != null && "InvalidPart".equals(s3.awsErrorDetails().errorCode()))) {
            NoSuchFileException lost = new NoSuchFileException("upload " + id, null, "its parts are gone from the bucket: " + s3.getMessage());
            lost.initCause(e);
            return lost;
        }
        return e;
    }

    @Override
    public void abortUpload(String id) throws IOException {
        Optional<S3UploadProgress> found = claims.progress(id);
        if (found.isEmpty()) return;
        S3UploadProgress progress = found.get();
        if (progress.multipartId() != null) bucket.abortMultipart(stagingKey(id), progress.multipartId());
        if (progress.tailKey() != null) bucket.delete(progress.tailKey());
    }

    /**
     * Aborts multipart uploads and deletes upload objects that no open session records and that are older
     * than {@code cutoff}: left by a node that died mid-request, or by sessions ended while a request
     * still ran. Returns how many were removed.
     */
    @Override
    public int removeAbandonedUploads(Instant cutoff, Predicate<String> isOpenSession) throws IOException {
        AtomicInteger removed = new AtomicInteger();
        // Only under our own areas: a bucket may be shared with other applications (or an empty prefix).
        List<MultipartUpload> multiparts = new ArrayList<>();
        for (String area : List.of(prefix + "blobs/", uploadsPrefix())) {
            multiparts.addAll(bucket.multipartUploads(area));
        }
        for (MultipartUpload upload : multiparts) {
            if (upload.initiated() == null || !upload.initiated().isBefore(cutoff)) continue;
            if (recordedByOpenSession(upload.key(), upload.uploadId(), isOpenSession)) continue;
            bucket.abortQuietly(upload.key(), upload.uploadId());
            removed.incrementAndGet();
        }
        List<String> leftovers = new ArrayList<>();
        bucket.forEachObject(uploadsPrefix(), object -> {
            if (object.lastModified().isBefore(cutoff) && !isOpenSession.test(sessionOf(object.key()))) leftovers.add(object.key());
        });
        for (String key : leftovers) {
            bucket.deleteQuietly(key);
            removed.incrementAndGet();
        }
        return removed.get();
    }

    private String sessionOf(String key) {
        String rest = key.substring(uploadsPrefix().length());
        int slash = rest.indexOf('/');
        return slash < 0 ? rest : rest.substring(0, slash);
    }

    private boolean recordedByOpenSession(String key, String uploadId, Predicate<String> isOpenSession) throws IOException {
        if (!key.startsWith(uploadsPrefix())) return false; // a monolithic push's multipart upload: never outlives its request
        String id = sessionOf(key);
        if (!isOpenSession.test(id)) return false;
        return claims.progress(id).map(progress -> uploadId.equals(progress.multipartId())).orElse(false);
    }

    // ---- bytes and hashes ----

    /** Reads until {@code buffer} is full or the body ends; returns the new fill level. */
    private static int fill(InputStream body, byte[] buffer, int filled, MessageDigest hasher) throws IOException {
        while (filled < buffer.length) {
            int n = body.read(buffer, filled, buffer.length - filled);
            if (n < 0) break;
            if (hasher != null) hasher.update(buffer, filled, n);
            filled += n;
        }
        return filled;
    }

    private static void verify(Digest expected, Digest actual) throws DigestMismatchException {
        if (!actual.equals(expected)) throw new DigestMismatchException(expected, actual);
    }

    private static byte[] finish(SHA256Digest hasher) {
        byte[] out = new byte[hasher.getDigestSize()];
        hasher.doFinal(out, 0);
        return out;
    }

    @Override
    public void close() {
        bucket.close();
    }
}
