package dev.cairn.storage;

import org.bouncycastle.crypto.digests.SHA256Digest;

import java.time.Instant;
import java.util.Base64;
import java.util.List;

/**
 * What an S3 upload session has sent so far, as its row in the {@link UploadLedger} holds it (JSON), so
 * that any node can take the next chunk: {@code size} counts the parts and the tail; the running SHA-256
 * state lets the digest be checked without reading the bytes back. {@code claimedBy} names the request
 * that is writing to the session until {@code claimedUntil} (epoch ms), if any ({@link S3UploadClaims}).
 */
record S3UploadProgress(long size, String sha256State, String multipartId, List<S3Bucket.Part> parts, String tailKey, long tailSize,
                        long writtenAt, String claimedBy, long claimedUntil) {
    static S3UploadProgress empty(Instant now) {
        return new S3UploadProgress(0, encode(new SHA256Digest()), null, List.of(), null, 0, now.toEpochMilli(), null, 0);
    }

    S3UploadProgress claimed(String owner, long until) {
        return new S3UploadProgress(size, sha256State, multipartId, parts, tailKey, tailSize, writtenAt, owner, until);
    }

    static String encode(SHA256Digest hasher) {
        return Base64.getEncoder().encodeToString(hasher.getEncodedState());
    }

    static SHA256Digest decode(String state) {
        return new SHA256Digest(Base64.getDecoder().decode(state));
    }
}
