package dev.cairn.storage;

import dev.cairn.values.Digest;
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
import software.amazon.awssdk.services.s3.LegacyMd5Plugin;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchUploadException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The S3 calls an {@link S3BlobStore} makes, on one bucket, by key. Every failure of S3 (or of the way to
 * it) comes out as a {@link BlobStoreUnavailableException}, which the HTTP layer answers with 503: the
 * store, not the request, is at fault. What the keys mean is the store's business.
 */
final class S3Bucket implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(S3Bucket.class);
    /** S3's limits: the most parts of a multipart upload, the largest single copy. */
    static final int MAX_PARTS = 10_000;
    private static final long MAX_SINGLE_COPY = 5L << 30;

    private final S3Client s3;
    private final S3Presigner presigner;
    private final String bucket;
    private final int partSize;

    /** A part of a multipart upload, as S3 acknowledged it. */
    record Part(int number, String etag, long size) {
    }

    S3Bucket(S3BlobStore.Location location) {
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
                // Content-MD5 on the requests that need a checksum (DeleteObjects): the SDK now sends only CRC32 there,
                // which older MinIO, Ceph and other S3-compatible stores refuse.
                .addPlugin(LegacyMd5Plugin.create())
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
        this.partSize = location.partSize();
    }

    /** Throws, in S3's words, when the bucket cannot be reached with these credentials. */
    void check() throws IOException {
        call("HEAD bucket " + bucket, () -> s3.headBucket(b -> b.bucket(bucket)));
    }

    /** The object's size, or empty when there is no such object. */
    OptionalLong size(String key) throws IOException {
        try {
            return OptionalLong.of(s3.headObject(b -> b.bucket(bucket).key(key)).contentLength());
        } catch (S3Exception e) {
            if (e.statusCode() == 404) return OptionalLong.empty();
            throw failure("HEAD " + key, e);
        } catch (SdkException e) {
            throw failure("HEAD " + key, e);
        }
    }

    /** Opens the object at {@code offset}; throws {@link NoSuchFileException} when there is no such object. */
    InputStream open(String key, long offset) throws IOException {
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
    private static final class AbortingStream extends FilterInputStream {
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

    /** A URL to GET the object, signed for {@code validFor}; signing is local, and throws the SDK's exceptions. */
    URI presignGet(String key, Duration validFor) {
        return URI.create(presigner.presignGetObject(p -> p.signatureDuration(validFor)
                .getObjectRequest(g -> g.bucket(bucket).key(key))).url().toString());
    }

    void forEachObject(String under, Consumer<S3Object> visitor) throws IOException {
        call("LIST " + under, () -> {
            s3.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(under)).contents().forEach(visitor);
            return null;
        });
    }

    List<MultipartUpload> multipartUploads(String under) throws IOException {
        return call("LIST multipart uploads under " + under, () ->
                s3.listMultipartUploadsPaginator(b -> b.bucket(bucket).prefix(under)).uploads().stream().toList());
    }

    void delete(String key) throws IOException {
        call("DELETE " + key, () -> s3.deleteObject(b -> b.bucket(bucket).key(key)));
    }

    /** Keys in one DeleteObjects request: S3's limit. */
    private static final int DELETE_BATCH = 1000;

    /** Cleared when the store said it has no DeleteObjects: from then on one DELETE per object. */
    private volatile boolean batchDeletes = true;

    /**
     * Deletes these objects, up to 1,000 in a request (DeleteObjects): a collection deletes millions, and a request
     * each is most of its time on an object store. What a batch request did not confirm deleted (a per-key error, a
     * refusal of this request) is deleted one object per request, eight at a time. A store without the batch request
     * (GCS's XML API answers 501) gets single deletes from its first refusal on. Missing objects are not an error,
     * as with {@link #delete}; every object is tried, and the first failure is thrown after. Runs on threads of its
     * own, so an interrupt of the caller (a node stopping mid-sweep) does not cut a request short.
     */
    void deleteAll(List<String> keys) throws IOException {
        List<List<String>> chunks = new ArrayList<>();
        for (int from = 0; from < keys.size(); from += DELETE_BATCH) chunks.add(keys.subList(from, Math.min(keys.size(), from + DELETE_BATCH)));
        DeletionWorkers.deleteAll(chunks, 1, 1, chunk -> {
            List<String> left = batchDeletes && chunk.size() > 1 ? deleteInOneRequest(chunk) : chunk;
            DeletionWorkers.deleteAll(left, 8, 16, this::delete);
        });
    }

    /** Error codes of a store that has no DeleteObjects, or wants what the request cannot give it. */
    private static final Set<String> NO_BATCH_DELETES = Set.of("NotImplemented", "MethodNotAllowed", "MissingContentMD5");

    /**
     * One DeleteObjects request; returns the keys it did not confirm deleted, for single deletes. Throws when the
     * store refused for a reason single deletes would meet too (access denied, a failing store).
     */
    private List<String> deleteInOneRequest(List<String> chunk) throws IOException {
        List<ObjectIdentifier> objects = chunk.stream().map(key -> ObjectIdentifier.builder().key(key).build()).toList();
        DeleteObjectsResponse response;
        try {
            // not quiet: the answer names each key deleted, so a server that ignored the request is not taken at its word
            response = s3.deleteObjects(b -> b.bucket(bucket).delete(d -> d.objects(objects).quiet(false)));
        } catch (S3Exception e) {
            String code = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorCode();
            if (e.statusCode() == 403 || (e.statusCode() >= 500 && e.statusCode() != 501)) {
                throw failure("DELETE of " + chunk.size() + " objects", e);
            }
            if (e.statusCode() == 501 || e.statusCode() == 405 || NO_BATCH_DELETES.contains(code)) {
                if (batchDeletes) log.warn("S3 has no DeleteObjects here ({} {}): deleting one object per request from now on", e.statusCode(), code);
                batchDeletes = false;
            } else {
                log.warn("S3 refused a DeleteObjects request ({} {}): deleting its {} objects one per request", e.statusCode(), code, chunk.size());
            }
            return chunk;
        } catch (SdkException e) {
            throw failure("DELETE of " + chunk.size() + " objects", e);
        }
        Set<String> gone = new HashSet<>();
        response.deleted().forEach(deleted -> gone.add(deleted.key()));
        response.errors().stream().filter(error -> "NoSuchKey".equals(error.code())).forEach(error -> gone.add(error.key()));
        if (gone.isEmpty() && response.errors().isEmpty()) {
            if (batchDeletes) log.warn("S3 answered DeleteObjects without naming what it deleted: deleting one object per request from now on");
            batchDeletes = false;
            return chunk;
        }
        if (gone.size() == chunk.size()) return List.of();
        List<String> left = chunk.stream().filter(key -> !gone.contains(key)).toList();
        response.errors().stream().filter(error -> !"NoSuchKey".equals(error.code())).findFirst().ifPresent(error ->
                log.debug("S3 DeleteObjects left {} of {} objects (first {}: {} {}); deleting them one per request",
                        left.size(), chunk.size(), error.key(), error.code(), error.message()));
        return left;
    }

    /** Deletes, or leaves the object to the collector's sweep of leftovers: the caller's outcome is decided. */
    void deleteQuietly(String key) {
        try {
            delete(key);
        } catch (IOException e) {
            log.warn("could not delete {} (GC will): {}", key, e.getMessage());
        }
    }

    void put(String key, byte[] bytes, int length) throws IOException {
        call("PUT " + key, () -> s3.putObject(b -> b.bucket(bucket).key(key).contentLength((long) length),
                RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes, 0, length), length, "application/octet-stream")));
    }

    String createMultipart(String key) throws IOException {
        return call("create multipart upload " + key, () -> s3.createMultipartUpload(b -> b.bucket(bucket).key(key)).uploadId());
    }

    Part uploadPart(String key, String uploadId, int number, byte[] bytes, int length) throws IOException {
        String etag = call("upload part " + number + " of " + key, () -> s3.uploadPart(
                b -> b.bucket(bucket).key(key).uploadId(uploadId).partNumber(number).contentLength((long) length),
                RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes, 0, length), length, "application/octet-stream"))
                .eTag());
        return new Part(number, etag, length);
    }

    void completeMultipart(String key, String uploadId, List<Part> parts) throws IOException {
        List<CompletedPart> completed = parts.stream().map(p -> CompletedPart.builder().partNumber(p.number()).eTag(p.etag()).build()).toList();
        call("complete multipart upload " + key, () -> s3.completeMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId)
                .multipartUpload(m -> m.parts(completed))));
    }

    void abortMultipart(String key, String uploadId) throws IOException {
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

    /** Aborts, or leaves the upload to the collector's sweep of leftovers: the caller's outcome is decided. */
    void abortQuietly(String key, String uploadId) {
        try {
            abortMultipart(key, uploadId);
        } catch (IOException e) {
            log.warn("could not abort multipart upload of {} (GC will): {}", key, e.getMessage());
        }
    }

    /** Reads a tail object into the start of {@code buffer}; returns its length. */
    int readTail(String key, byte[] buffer) throws IOException {
        try (InputStream in = call("GET " + key, () -> s3.getObject(b -> b.bucket(bucket).key(key)))) {
            int n = in.readNBytes(buffer, 0, buffer.length);
            if (in.read() >= 0) throw new IOException("upload tail " + key + " is larger than a part");
            return n;
        }
    }

    byte[] readAll(String key, long expectedSize) throws IOException {
        try (InputStream in = call("GET " + key, () -> s3.getObject(b -> b.bucket(bucket).key(key)))) {
            byte[] bytes = in.readNBytes(Math.toIntExact(expectedSize) + 1);
            if (bytes.length != expectedSize) throw new IOException("upload tail " + key + " holds " + bytes.length + " bytes, not " + expectedSize);
            return bytes;
        }
    }

    Digest hash(String key, Digest expected) throws IOException {
        MessageDigest hasher = expected.newHasher();
        try (InputStream in = call("GET " + key, () -> s3.getObject(b -> b.bucket(bucket).key(key)))) {
            byte[] chunk = new byte[1 << 16];
            int n;
            while ((n = in.read(chunk)) >= 0) hasher.update(chunk, 0, n);
        }
        return Digest.of(expected.algorithm(), hasher.digest());
    }

    /** Copies within the bucket; above S3's single-copy limit, as a multipart copy of part-sized ranges. */
    void copy(String from, String to, long size) throws IOException {
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

    private static IOException failure(String what, SdkException e) {
        return new BlobStoreUnavailableException("S3 " + what + " failed: " + e.getMessage(), e);
    }

    @Override
    public void close() {
        presigner.close();
        s3.close();
    }
}
