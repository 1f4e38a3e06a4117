package dev.cairn.storage;

import dev.cairn.values.Digest;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchUploadException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

import java.io.ByteArrayInputStream;
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
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
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
    /** S3's limits: the smallest part but the last, the most parts, the largest single copy. */
    public static final long MIN_PART_SIZE = 5L << 20;
    private static final int MAX_PARTS = 10_000;
    private static final long MAX_SINGLE_COPY = 5L << 30;
    /** How long an upload waits for a part buffer before it is answered 503 (the node is saturated). */
    private static final Duration BUFFER_WAIT = Duration.ofSeconds(30);

    /** Where the bucket is and how to reach it; {@code accessKey}/{@code secretKey} empty means the SDK's default chain. */
    public record Location(String bucket, String prefix, String region, Optional<URI> endpoint, boolean pathStyle,
                           Optional<String> accessKey, Optional<String> secretKey, int partSize, int maxConnections) {
        @Override
        public String toString() { // never the secret
            return "s3://" + bucket + "/" + prefix + endpoint.map(e -> " at " + e).orElse("") + " (region " + region + ")";
        }
    }

    private final S3Client s3;
    private final S3Presigner presigner;
    private final String bucket;
    private final String prefix;
    private final int partSize;
    private final S3UploadClaims claims;
    private final Clock clock;
    private final PartBuffers buffers;

    record Part(int number, String etag, long size) {
    }

    /** Staged bytes: a small blob held in memory, a multipart upload at the blob's key, or a staging object. */
    private sealed interface Staged permits SmallBlob, PendingMultipart, StagingObject {
    }

    /** {@code tailKey}: the session object the bytes came from, if any, removed with the staged blob. */
    private record SmallBlob(byte[] bytes, int length, String tailKey) implements Staged {
    }

    private record PendingMultipart(String key, String uploadId, List<Part> parts) implements Staged {
    }

    private record StagingObject(String key, String tailKey) implements Staged {
    }

    public S3BlobStore(Location location, UploadLedger ledger, Clock clock) {
        if (location.partSize() < MIN_PART_SIZE) {
            throw new IllegalArgumentException("the part size must be at least 5MiB (S3's minimum)");
        }
        AwsCredentialsProvider credentials = location.accessKey().isPresent()
                ? StaticCredentialsProvider.create(AwsBasicCredentials.create(location.accessKey().get(), location.secretKey().orElse("")))
                : DefaultCredentialsProvider.builder().build();
        var builder = S3Client.builder()
                .region(Region.of(location.region()))
                .credentialsProvider(credentials)
                .forcePathStyle(location.pathStyle())
                // S3-compatible stores (MinIO, Ceph, S3Proxy) do not all take the SDK's newer trailing checksums;
                // blobs are verified by their SHA-256 digest anyway.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .httpClientBuilder(ApacheHttpClient.builder()
                        .maxConnections(location.maxConnections())
                        .connectionTimeout(Duration.ofSeconds(5))
                        .socketTimeout(Duration.ofSeconds(60)));
        var presignerBuilder = S3Presigner.builder()
                .region(Region.of(location.region()))
                .credentialsProvider(credentials)
                .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(location.pathStyle()).build());
        location.endpoint().ifPresent(endpoint -> {
            builder.endpointOverride(endpoint);
            presignerBuilder.endpointOverride(endpoint);
        });
        this.s3 = builder.build();
        this.presigner = presignerBuilder.build();
        this.bucket = location.bucket();
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
        call("HEAD bucket " + bucket, () -> s3.headBucket(b -> b.bucket(bucket)));
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
        return head(keyOf(digest)).map(h -> new BlobInfo(digest, h.contentLength()));
    }

    private Optional<HeadObjectResponse> head(String key) throws IOException {
        try {
            return Optional.of(s3.headObject(b -> b.bucket(bucket).key(key)));
        } catch (S3Exception e) {
            if (e.statusCode() == 404) return Optional.empty();
            throw failure("HEAD " + key, e);
        } catch (SdkException e) {
            throw failure("HEAD " + key, e);
        }
    }

    @Override
    public InputStream open(Digest digest, long offset) throws IOException {
        String key = keyOf(digest);
        try {
            ResponseInputStream<GetObjectResponse> in = s3.getObject(b -> {
                b.bucket(bucket).key(key);
                if (offset > 0) b.range("bytes=" + offset + "-");
            });
            return new AbortingStream(in);
        } catch (S3Exception e) {
            if (e.statusCode() == 404) throw new NoSuchFileException(key);
            if (e.statusCode() == 416) return InputStream.nullInputStream(); // offset at the end: nothing left to send
            throw failure("GET " + key, e);
        } catch (SdkException e) {
            throw failure("GET " + key, e);
        }
    }

    /**
     * An object's body that, closed before its end (a client that went away, a range served), aborts the
     * connection instead of reading the rest of a possibly huge object to reuse it.
     */
    private static final class AbortingStream extends java.io.FilterInputStream {
        private final ResponseInputStream<GetObjectResponse> response;
        private boolean ended;

        AbortingStream(ResponseInputStream<GetObjectResponse> response) {
            super(response);
            this.response = response;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b < 0) ended = true;
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = super.read(buffer, offset, length);
            if (n < 0) ended = true;
            return n;
        }

        @Override
        public void close() throws IOException {
            if (!ended) response.abort();
            super.close();
        }
    }

    @Override
    public boolean isRemote() {
        return true;
    }

    @Override
    public Optional<URI> readUrl(Digest digest, Duration validFor) {
        try {
            return Optional.of(URI.create(presigner.presignGetObject(p -> p.signatureDuration(validFor)
                    .getObjectRequest(g -> g.bucket(bucket).key(keyOf(digest)))).url().toString()));
        } catch (SdkException | IllegalArgumentException e) {
            log.warn("cannot presign a URL for {} (serving it through this node): {}", digest, e.getMessage());
            return Optional.empty(); // signing is local (credentials, clock); the node can still serve the bytes
        }
    }

    @Override
    public StagedBlob stage(Digest expected, InputStream body) throws IOException, DigestMismatchException {
        MessageDigest hasher = expected.newHasher();
        byte[] buffer = buffers.take();
        String key = keyOf(expected);
        String multipartId = null;
        boolean staged = false;
        try {
            int filled = fill(body, buffer, 0, hasher);
            if (filled < buffer.length) {
                verify(expected, Digest.of(expected.algorithm(), hasher.digest()));
                staged = true;
                return new StagedBlob(expected, filled, new SmallBlob(java.util.Arrays.copyOf(buffer, filled), filled, null));
            }
            multipartId = createMultipart(key);
            List<Part> parts = new ArrayList<>();
            long size = 0;
            while (filled > 0) {
                parts.add(uploadPart(key, multipartId, parts.size() + 1, buffer, filled));
                size += filled;
                filled = filled < buffer.length ? 0 : fill(body, buffer, 0, hasher);
            }
            verify(expected, Digest.of(expected.algorithm(), hasher.digest()));
            staged = true;
            return new StagedBlob(expected, size, new PendingMultipart(key, multipartId, List.copyOf(parts)));
        } finally {
            buffers.give(buffer);
            if (!staged && multipartId != null) abortMultipart(key, multipartId);
        }
    }

    @Override
    public BlobInfo publish(StagedBlob staged) throws IOException {
        String key = keyOf(staged.digest());
        switch (handleOf(staged)) {
            case SmallBlob small -> {
                if (head(key).isEmpty()) {
                    call("PUT " + key, () -> s3.putObject(b -> b.bucket(bucket).key(key).contentLength((long) small.length()),
                            RequestBody.fromContentProvider(() -> new ByteArrayInputStream(small.bytes(), 0, small.length()),
                                    small.length(), "application/octet-stream")));
                }
            }
            case PendingMultipart pending -> {
                if (head(key).isPresent()) {
                    abortQuietly(pending.key(), pending.uploadId()); // same digest, same bytes: keep the one copy
                } else {
                    completeMultipart(pending.key(), pending.uploadId(), pending.parts());
                }
            }
            case StagingObject object -> {
                if (head(key).isEmpty()) copy(object.key(), key, staged.size());
            }
        }
        return new BlobInfo(staged.digest(), staged.size());
    }

    /** Drops what staging left (a pending multipart upload, the staging object, the session's tail); quietly: the blob's fate is decided. */
    @Override
    public void discard(StagedBlob staged) {
        switch (handleOf(staged)) {
            case SmallBlob small -> {
                if (small.tailKey() != null) deleteQuietly(small.tailKey());
            }
            case PendingMultipart pending -> abortQuietly(pending.key(), pending.uploadId());
            case StagingObject object -> {
                deleteQuietly(object.key());
                if (object.tailKey() != null) deleteQuietly(object.tailKey());
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
            forEachObject(under, object -> {
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

    private void forEachObject(String under, Consumer<S3Object> visitor) throws IOException {
        call("LIST " + under, () -> {
            s3.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(under)).contents().forEach(visitor);
            return null;
        });
    }

    @Override
    public void delete(Digest digest) throws IOException {
        deleteKey(keyOf(digest));
    }

    private void deleteKey(String key) throws IOException {
        call("DELETE " + key, () -> s3.deleteObject(b -> b.bucket(bucket).key(key)));
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
            if (before.tailKey() != null) filled = readTail(before.tailKey(), buffer);
            List<Part> parts = new ArrayList<>(before.parts());
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
                    multipartId = createMultipart(key);
                    createdMultipart = multipartId;
                }
                if (parts.size() >= MAX_PARTS - 1) {
                    throw new IOException("upload exceeds " + MAX_PARTS + " parts of " + partSize + " bytes; raise storage.s3.part-size");
                }
                parts.add(uploadPart(key, multipartId, parts.size() + 1, buffer, filled));
                filled = 0;
            }
            if (filled > 0) {
                newTail = uploadsPrefix() + id + "/tail-" + UUID.randomUUID();
                putBytes(newTail, buffer, filled);
            }
            S3UploadProgress after = new S3UploadProgress(before.size() + received, S3UploadProgress.encode(hasher), multipartId,
                    List.copyOf(parts), newTail, filled, clock.millis(), null, 0);
            claims.record(id, claim, after);
            recorded = true;
            if (before.tailKey() != null) deleteQuietly(before.tailKey());
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
                if (newTail != null) deleteQuietly(newTail);
                if (createdMultipart != null) abortQuietly(key, createdMultipart);
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
                byte[] bytes = progress.tailKey() == null ? new byte[0] : readAll(progress.tailKey(), progress.tailSize());
                MessageDigest hasher = expected.newHasher();
                hasher.update(bytes);
                verify(expected, Digest.of(expected.algorithm(), hasher.digest()));
                staged = true;
                return new StagedBlob(expected, bytes.length, new SmallBlob(bytes, bytes.length, progress.tailKey()));
            }
            boolean sha256 = expected.algorithm().equals("sha256");
            if (sha256) verify(expected, Digest.of("sha256", finish(S3UploadProgress.decode(progress.sha256State()))));
            List<Part> parts = new ArrayList<>(progress.parts());
            if (progress.tailKey() != null) {
                // The last part; a retry after a failure below uploads it again under the same number.
                byte[] tail = readAll(progress.tailKey(), progress.tailSize());
                parts.add(uploadPart(key, progress.multipartId(), parts.size() + 1, tail, tail.length));
            }
            completeMultipart(key, progress.multipartId(), parts);
            if (!sha256) verify(expected, hashObject(key, expected)); // no running state for other algorithms: read it back
            staged = true;
            return new StagedBlob(expected, progress.size(), new StagingObject(key, progress.tailKey()));
        } catch (DigestMismatchException e) {
            // The session is over: drop everything it wrote.
            if (progress.multipartId() != null) abortQuietly(key, progress.multipartId());
            if (progress.tailKey() != null) deleteQuietly(progress.tailKey());
            deleteQuietly(key);
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
        if (progress.multipartId() != null) abortMultipart(stagingKey(id), progress.multipartId());
        if (progress.tailKey() != null) deleteKey(progress.tailKey());
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
            multiparts.addAll(call("LIST multipart uploads under " + area, () ->
                    s3.listMultipartUploadsPaginator(b -> b.bucket(bucket).prefix(area)).uploads().stream().toList()));
        }
        for (MultipartUpload upload : multiparts) {
            if (upload.initiated() == null || !upload.initiated().isBefore(cutoff)) continue;
            if (recordedByOpenSession(upload.key(), upload.uploadId(), isOpenSession)) continue;
            abortQuietly(upload.key(), upload.uploadId());
            removed.incrementAndGet();
        }
        List<String> leftovers = new ArrayList<>();
        forEachObject(uploadsPrefix(), object -> {
            if (object.lastModified().isBefore(cutoff) && !isOpenSession.test(sessionOf(object.key()))) leftovers.add(object.key());
        });
        for (String key : leftovers) {
            deleteQuietly(key);
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

    // ---- S3 calls ----

    private String createMultipart(String key) throws IOException {
        return call("create multipart upload " + key, () -> s3.createMultipartUpload(b -> b.bucket(bucket).key(key)).uploadId());
    }

    private Part uploadPart(String key, String uploadId, int number, byte[] bytes, int length) throws IOException {
        String etag = call("upload part " + number + " of " + key, () -> s3.uploadPart(
                b -> b.bucket(bucket).key(key).uploadId(uploadId).partNumber(number).contentLength((long) length),
                RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes, 0, length), length, "application/octet-stream"))
                .eTag());
        return new Part(number, etag, length);
    }

    private void completeMultipart(String key, String uploadId, List<Part> parts) throws IOException {
        List<CompletedPart> completed = parts.stream().map(p -> CompletedPart.builder().partNumber(p.number()).eTag(p.etag()).build()).toList();
        call("complete multipart upload " + key, () -> s3.completeMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId)
                .multipartUpload(m -> m.parts(completed))));
    }

    private void abortMultipart(String key, String uploadId) throws IOException {
        try {
            s3.abortMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId));
        } catch (NoSuchUploadException e) {
            // already completed or aborted
        } catch (S3Exception e) {
            if (e.statusCode() != 404) throw failure("abort multipart upload " + key, e);
        } catch (SdkException e) {
            throw failure("abort multipart upload " + key, e);
        }
    }

    private void abortQuietly(String key, String uploadId) {
        try {
            abortMultipart(key, uploadId);
        } catch (IOException e) {
            log.warn("could not abort multipart upload of {} (GC will): {}", key, e.getMessage());
        }
    }

    private void deleteQuietly(String key) {
        try {
            deleteKey(key);
        } catch (IOException e) {
            log.warn("could not delete {} (GC will): {}", key, e.getMessage());
        }
    }

    private void putBytes(String key, byte[] bytes, int length) throws IOException {
        call("PUT " + key, () -> s3.putObject(b -> b.bucket(bucket).key(key).contentLength((long) length),
                RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes, 0, length), length, "application/octet-stream")));
    }

    /** Reads a tail object into the start of {@code buffer}; returns its length. */
    private int readTail(String key, byte[] buffer) throws IOException {
        try (InputStream in = call("GET " + key, () -> s3.getObject(b -> b.bucket(bucket).key(key)))) {
            int n = in.readNBytes(buffer, 0, buffer.length);
            if (in.read() >= 0) throw new IOException("upload tail " + key + " is larger than a part");
            return n;
        }
    }

    private byte[] readAll(String key, long expectedSize) throws IOException {
        try (InputStream in = call("GET " + key, () -> s3.getObject(b -> b.bucket(bucket).key(key)))) {
            byte[] bytes = in.readNBytes(Math.toIntExact(expectedSize) + 1);
            if (bytes.length != expectedSize) throw new IOException("upload tail " + key + " holds " + bytes.length + " bytes, not " + expectedSize);
            return bytes;
        }
    }

    private Digest hashObject(String key, Digest expected) throws IOException {
        MessageDigest hasher = expected.newHasher();
        try (InputStream in = call("GET " + key, () -> s3.getObject(b -> b.bucket(bucket).key(key)))) {
            byte[] chunk = new byte[1 << 16];
            int n;
            while ((n = in.read(chunk)) >= 0) hasher.update(chunk, 0, n);
        }
        return Digest.of(expected.algorithm(), hasher.digest());
    }

    /** Copies within the bucket; above S3's single-copy limit, as a multipart copy of part-sized ranges. */
    private void copy(String from, String to, long size) throws IOException {
        if (size <= MAX_SINGLE_COPY) {
            call("COPY " + from + " to " + to, () -> s3.copyObject(b -> b.sourceBucket(bucket).sourceKey(from)
                    .destinationBucket(bucket).destinationKey(to)));
            return;
        }
        long rangeSize = Math.max(partSize, (size + MAX_PARTS - 1) / MAX_PARTS);
        rangeSize = Math.max(rangeSize, 1L << 30);
        String uploadId = createMultipart(to);
        boolean done = false;
        try {
            List<Part> parts = new ArrayList<>();
            for (long start = 0; start < size; start += rangeSize) {
                long end = Math.min(size, start + rangeSize) - 1;
                int number = parts.size() + 1;
                long first = start;
                String etag = call("copy part " + number + " of " + to, () -> s3.uploadPartCopy(b -> b.sourceBucket(bucket).sourceKey(from)
                        .destinationBucket(bucket).destinationKey(to).uploadId(uploadId).partNumber(number)
                        .copySourceRange("bytes=" + first + "-" + end)).copyPartResult().eTag());
                parts.add(new Part(number, etag, end - first + 1));
            }
            completeMultipart(to, uploadId, parts);
            done = true;
        } finally {
            if (!done) abortQuietly(to, uploadId);
        }
    }

    private interface S3Call<T> {
        T run();
    }

    private static <T> T call(String what, S3Call<T> work) throws IOException {
        try {
            return work.run();
        } catch (SdkException e) {
            throw failure(what, e);
        }
    }

    /** S3 failures become IOExceptions, which the HTTP layer answers with 503: the store, not the request, is at fault. */
    private static IOException failure(String what, SdkException e) {
        return new BlobStoreUnavailableException("S3 " + what + " failed: " + e.getMessage(), e);
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

    /**
     * Part-sized buffers, reused: an upload holds one while it streams a part, so memory is bounded by
     * the pool (parts waiting for a buffer wait, they are not refused).
     */
    private static final class PartBuffers {
        private final BlockingQueue<byte[]> free;
        private final int size;
        private final AtomicInteger made = new AtomicInteger();
        private final int max;

        PartBuffers(int size, int max) {
            this.size = size;
            this.max = max;
            this.free = new ArrayBlockingQueue<>(max);
        }

        byte[] take() throws IOException {
            byte[] buffer = free.poll();
            if (buffer != null) return buffer;
            if (made.incrementAndGet() <= max) return new byte[size];
            made.decrementAndGet();
            try {
                byte[] freed = free.poll(BUFFER_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                if (freed == null) {
                    throw new BlobStoreUnavailableException("all " + max + " upload buffers stayed busy for " + BUFFER_WAIT.toSeconds()
                            + " s (raise the heap or storage.s3.max-connections, or add nodes)", null);
                }
                return freed;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted waiting for an upload buffer");
            }
        }

        void give(byte[] buffer) {
            free.offer(buffer);
        }
    }

    @Override
    public void close() {
        presigner.close();
        s3.close();
    }
}
