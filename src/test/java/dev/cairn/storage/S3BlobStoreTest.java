package dev.cairn.storage;

import dev.cairn.testing.SeededBytes;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.UploadSession;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.testing.HeldBody;
import dev.cairn.testing.S3Server;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The S3 blob store against a real S3 API server (S3Proxy on loopback), with its upload progress in a
 * real SQLite ledger. Two store instances over the same bucket and ledger stand for two nodes.
 */
class S3BlobStoreTest {
    private static final int PART = 5 << 20;
    private static final RepositoryName REPO = RepositoryName.of("s3/test");

    private static S3Server s3;
    private static Path dir;
    private static JdbcMetadataStore ledger;
    private static String prefix;
    private static S3BlobStore nodeA;
    private static S3BlobStore nodeB;

    @BeforeAll
    static void start() throws Exception {
        s3 = S3Server.start();
        dir = Files.createTempDirectory("cairn-s3-store-");
        ledger = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
        prefix = "store-test-" + UUID.randomUUID();
        nodeA = store();
        nodeB = store();
    }

    private static S3BlobStore store() {
        return new S3BlobStore(new S3BlobStore.Location(s3.bucket(), prefix, s3.region(), Optional.of(java.net.URI.create(s3.endpoint())),
                true, Optional.of(s3.accessKey()), Optional.of(s3.secretKey()), PART, 8), ledger, Clock.systemUTC());
    }

    @AfterAll
    static void stop() throws Exception {
        nodeA.close();
        nodeB.close();
        ledger.close();
        s3.close();
        TempFiles.deleteRecursively(dir);
    }

    private static byte[] read(S3BlobStore store, Digest digest, long offset) throws IOException {
        try (InputStream in = store.open(digest, offset)) {
            return in.readAllBytes();
        }
    }

    private static String openSession() {
        String id = UUID.randomUUID().toString();
        ledger.createUpload(new UploadSession(id, REPO, Instant.now(), "user test"));
        return id;
    }

    private List<String> uploadLeftovers() {
        List<String> left = new ArrayList<>(keys(prefix + "/uploads/"));
        s3.openUploads(prefix + "/").forEach(u -> left.add("multipart " + u.key()));
        return left;
    }

    private static List<String> keys(String under) {
        return s3.objects(under).stream().map(S3Server.StoredObject::key).toList();
    }

    @Test
    void monolithicPushesOfSmallAndMultiPartBlobsAreStoredUnderTheirDigestAndReadBack() throws Exception {
        for (int size : new int[]{0, 1000, PART, 2 * PART + 12345}) {
            byte[] content = SeededBytes.of(size, size);
            Digest digest = Digest.sha256(content);
            BlobInfo info = nodeA.put(digest, new ByteArrayInputStream(content));
            assertThat(info.size()).isEqualTo(size);
            assertThat(keys(prefix + "/blobs/sha256/" + digest.hex().substring(0, 2) + "/")).contains(
                    prefix + "/blobs/sha256/" + digest.hex().substring(0, 2) + "/" + digest.hex());
            assertThat(nodeB.stat(digest)).hasValue(new BlobInfo(digest, size));
            assertThat(read(nodeB, digest, 0)).isEqualTo(content);
            if (size > 10) {
                assertThat(read(nodeB, digest, size - 10)).isEqualTo(java.util.Arrays.copyOfRange(content, size - 10, size));
            }
        }
        assertThat(uploadLeftovers()).isEmpty();
    }

    @Test
    void bytesThatDoNotMatchTheirDigestLeaveNothingBehind() throws Exception {
        for (int size : new int[]{100, 2 * PART + 1}) {
            byte[] content = SeededBytes.of(size, 7 + size);
            Digest claimed = Digest.sha256(SeededBytes.of(size, 8 + size));
            assertThatThrownBy(() -> nodeA.put(claimed, new ByteArrayInputStream(content))).isInstanceOf(DigestMismatchException.class);
            assertThat(nodeA.stat(claimed)).isEmpty();
        }
        assertThat(s3.openUploads(prefix + "/")).isEmpty();
    }

    @Test
    void aChunkedUploadMayContinueOnAnotherNodeAndIsPublishedOnlyWhenVerified() throws Exception {
        byte[] content = SeededBytes.of(2 * PART + 777_777, 42);
        Digest digest = Digest.sha256(content);
        String id = openSession();
        nodeA.startUpload(id);
        // Chunks that straddle part boundaries, alternating between the two nodes.
        int[] cuts = {0, 3 << 20, (3 << 20) + 1, PART + 100, 2 * PART + 5, content.length};
        for (int i = 0; i + 1 < cuts.length; i++) {
            S3BlobStore node = i % 2 == 0 ? nodeA : nodeB;
            long size = node.appendUpload(id, OptionalLong.of(cuts[i]), new ByteArrayInputStream(content, cuts[i], cuts[i + 1] - cuts[i]));
            assertThat(size).isEqualTo(cuts[i + 1]);
            assertThat((i % 2 == 0 ? nodeB : nodeA).uploadSize(id)).hasValue(cuts[i + 1]);
        }
        assertThat(nodeA.stat(digest)).isEmpty(); // nothing is a blob before the digest is checked
        StagedBlob staged = nodeB.stageUpload(id, digest);
        nodeB.publish(staged);
        nodeB.discard(staged);
        ledger.deleteUpload(id);
        assertThat(read(nodeA, digest, 0)).isEqualTo(content);
        assertThat(uploadLeftovers()).isEmpty();
    }

    @Test
    void aChunkThatDoesNotStartWhereTheUploadEndsIsRefusedAndChangesNothing() throws Exception {
        String id = openSession();
        nodeA.appendUpload(id, OptionalLong.of(0), new ByteArrayInputStream(SeededBytes.of(1000, 1)));
        assertThatThrownBy(() -> nodeB.appendUpload(id, OptionalLong.of(999), new ByteArrayInputStream(SeededBytes.of(10, 2))))
                .isInstanceOf(UploadOffsetException.class);
        assertThat(nodeB.uploadSize(id)).hasValue(1000);
        nodeA.abortUpload(id);
        ledger.deleteUpload(id);
        assertThat(uploadLeftovers()).isEmpty();
    }

    @Test
    void aWrongDigestAtTheEndDiscardsTheSession() throws Exception {
        byte[] content = SeededBytes.of(PART + 10, 3);
        String id = openSession();
        nodeA.appendUpload(id, OptionalLong.empty(), new ByteArrayInputStream(content));
        Digest wrong = Digest.sha256(SeededBytes.of(PART + 10, 4));
        assertThatThrownBy(() -> nodeB.stageUpload(id, wrong)).isInstanceOf(DigestMismatchException.class);
        ledger.deleteUpload(id);
        assertThat(nodeA.stat(wrong)).isEmpty();
        assertThat(uploadLeftovers()).isEmpty();
    }

    @Test
    void aSha512DigestIsVerifiedByReadingTheStagedBytesBack() throws Exception {
        byte[] content = SeededBytes.of(PART + 99, 5);
        Digest digest = Digest.of("sha512", MessageDigest.getInstance("SHA-512").digest(content));
        String id = openSession();
        nodeA.appendUpload(id, OptionalLong.empty(), new ByteArrayInputStream(content));
        StagedBlob staged = nodeA.stageUpload(id, digest);
        nodeA.publish(staged);
        nodeA.discard(staged);
        ledger.deleteUpload(id);
        assertThat(read(nodeB, digest, 0)).isEqualTo(content);
    }

    @Test
    void twoRequestsRacingOnOneSessionCannotBothAdvanceIt() throws Exception {
        String id = openSession();
        byte[] first = SeededBytes.of(PART + 3, 11);
        byte[] second = SeededBytes.of(PART + 3, 12);
        CountDownLatch bothReading = new CountDownLatch(2);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Long>> results = new ArrayList<>();
            for (var pair : List.of(new Object[]{nodeA, first}, new Object[]{nodeB, second})) {
                S3BlobStore node = (S3BlobStore) pair[0];
                byte[] bytes = (byte[]) pair[1];
                // Both requests start together; at most one of them may write to the session. With claims, the second
                // waits for the first instead of reading its body, so the first does not wait for it for ever.
                results.add(pool.submit(() -> node.appendUpload(id, OptionalLong.of(0), new HeldBody(bytes, () -> {
                    bothReading.countDown();
                    bothReading.await(2, java.util.concurrent.TimeUnit.SECONDS);
                }))));
            }
            byte[] winner = null;
            int refused = 0;
            for (int i = 0; i < 2; i++) {
                try {
                    assertThat(results.get(i).get()).isEqualTo(PART + 3);
                    assertThat(winner).isNull();
                    winner = i == 0 ? first : second;
                } catch (java.util.concurrent.ExecutionException e) {
                    assertThat(e.getCause()).isInstanceOf(UploadOffsetException.class);
                    refused++;
                }
            }
            assertThat(winner).isNotNull();
            assertThat(refused).isEqualTo(1);
            // The session holds exactly the winner's bytes and publishes them intact.
            Digest digest = Digest.sha256(winner);
            StagedBlob staged = nodeA.stageUpload(id, digest);
            nodeA.publish(staged);
            nodeA.discard(staged);
            ledger.deleteUpload(id);
            assertThat(read(nodeB, digest, 0)).isEqualTo(winner);
            assertThat(uploadLeftovers()).isEmpty();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void abandonedMultipartUploadsAndTailsAreRemovedButOpenSessionsKeepTheirs() throws Exception {
        String open = openSession();
        nodeA.appendUpload(open, OptionalLong.empty(), new ByteArrayInputStream(SeededBytes.of(PART + 5, 21)));
        String gone = openSession();
        nodeA.appendUpload(gone, OptionalLong.empty(), new ByteArrayInputStream(SeededBytes.of(PART + 5, 22)));
        ledger.deleteUpload(gone); // its node died before cleaning up: a multipart upload and a tail stay behind
        Thread.sleep(1100); // S3's times have second resolution
        int removed = nodeB.removeAbandonedUploads(Instant.now(), id -> ledger.upload(id).isPresent());
        assertThat(removed).isEqualTo(2);
        assertThat(uploadLeftovers()).allMatch(key -> key.contains(open)).isNotEmpty();
        nodeA.abortUpload(open);
        ledger.deleteUpload(open);
        assertThat(uploadLeftovers()).isEmpty();
    }
}
