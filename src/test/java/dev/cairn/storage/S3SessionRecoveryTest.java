package dev.cairn.storage;

import dev.cairn.testing.SeededBytes;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.UploadSession;
import dev.cairn.values.Digest;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.registry.DigestLocks;
import dev.cairn.registry.Registry;
import dev.cairn.registry.RegistryEvents;
import dev.cairn.registry.UploadSessions;
import dev.cairn.values.RepositoryName;
import dev.cairn.registry.UploadState;
import dev.cairn.testing.HeldBody;
import dev.cairn.testing.S3Server;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An S3 failure in the middle of a closing PUT leaves the session as it was, so the client's retry finishes
 * it once S3 answers again (against S3Proxy, with one S3 call made to fail once).
 */
class S3SessionRecoveryTest {
    private static final int PART = 5 << 20;
    private static final RepositoryName REPO = RepositoryName.of("review/app");

    private static S3Server s3;
    private static Path dir;
    private static JdbcMetadataStore ledger;
    private static String prefix;

    /** S3 calls (by SDK method name) that fail once with a client-side (network) error, as during an outage blip. */
    private static final Set<String> failOnce = ConcurrentHashMap.newKeySet();

    @BeforeAll
    static void start() throws Exception {
        s3 = S3Server.start();
        dir = Files.createTempDirectory("cairn-s3-review-");
        ledger = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
        prefix = "review-" + UUID.randomUUID();
    }

    @AfterAll
    static void stop() throws Exception {
        ledger.close();
        s3.close();
        TempFiles.deleteRecursively(dir);
    }

    private static S3BlobStore store() throws Exception {
        S3BlobStore store = new S3BlobStore(new S3BlobStore.Location(s3.bucket(), prefix, s3.region(),
                Optional.of(java.net.URI.create(s3.endpoint())), true, Optional.of(s3.accessKey()), Optional.of(s3.secretKey()), PART, 16),
                ledger, Clock.systemUTC());
        Field bucketField = S3BlobStore.class.getDeclaredField("bucket");
        bucketField.setAccessible(true);
        S3Bucket bucket = (S3Bucket) bucketField.get(store);
        Field field = S3Bucket.class.getDeclaredField("s3");
        field.setAccessible(true);
        S3Client real = (S3Client) field.get(bucket);
        S3Client faulty = (S3Client) Proxy.newProxyInstance(S3Client.class.getClassLoader(), new Class<?>[]{S3Client.class},
                (proxy, method, args) -> {
                    if (failOnce.remove(method.getName())) {
                        throw SdkClientException.create("injected: connection reset during " + method.getName());
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        field.set(bucket, faulty);
        return store;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /**
     * A closing PUT that fails on an S3 blip (here: CompleteMultipartUpload) answers 503, and the session
     * still reports all its bytes (GET status gives Range 0-N). A client that retries the PUT once S3 is
     * back must be able to finish. Today stageUpload's finally has already deleted the tail object and
     * aborted the multipart upload, so every retry answers 503 until the session expires (24h).
     */
    @Test
    void aClosingPutThatFailedOnAnS3BlipCanBeRetried() throws Exception {
        try (S3BlobStore blobs = store();
             LastUseRecorder lastUse = new LastUseRecorder(ledger, Clock.systemUTC(), Duration.ofHours(1), new dev.cairn.metadata.ReadProtection(Duration.ofHours(1), Duration.ofMinutes(30)))) {
            UploadSessions registry = new Registry(blobs, ledger, new DigestLocks(16, ledger.locks()::withDigestLocks), lastUse,
                    Clock.systemUTC(), new Registry.Limits(1 << 20, 1000), RegistryEvents.NONE).uploads();
            byte[] content = SeededBytes.of(PART + 1000, 1); // one part and a 1000-byte tail
            Digest digest = Digest.sha256(content);
            UploadState opened = registry.startUpload(REPO, "user test");
            registry.appendChunk(REPO, opened.id(), OptionalLong.of(0), new ByteArrayInputStream(content));

            failOnce.add("completeMultipartUpload");
            assertThatThrownBy(() -> registry.finishUpload(REPO, opened.id(), digest, OptionalLong.empty(), InputStream.nullInputStream()))
                    .isInstanceOf(UncheckedIOException.class).hasCauseInstanceOf(BlobStoreUnavailableException.class); // 503
            assertThat(failOnce).isEmpty();
            // The session still says it holds every byte: a client resumes with the PUT alone.
            assertThat(registry.uploadStatus(REPO, opened.id()).size()).isEqualTo(content.length);

            // S3 is back. The retried PUT should publish the blob; today it is 503 (NoSuchKey on the deleted tail) forever.
            registry.finishUpload(REPO, opened.id(), digest, OptionalLong.empty(), InputStream.nullInputStream());
            try (InputStream in = blobs.open(digest, 0)) {
                assertThat(in.readAllBytes()).isEqualTo(content);
            }
        }
    }

    /**
     * Two requests on one session at two nodes (a balancer retrying a slow PATCH elsewhere): both read the
     * same revision; the winner records part 2, the loser is refused with 416 -- but the loser has already
     * overwritten part 2 of the same multipart upload with its own bytes. The session must still publish
     * exactly the winner's bytes, or refuse; it must never publish other bytes under the verified digest.
     */

    /**
     * A request that read the session, then stalled past its claim while another request appended, cannot
     * afterwards write a part under the number the other one recorded.
     */
    @Test
    void aLosingRequestCannotChangeTheBytesOfTheWinningOne() throws Exception {
        try (S3BlobStore nodeA = store(); S3BlobStore nodeB = store()) {
            String id = UUID.randomUUID().toString();
            ledger.createUpload(new UploadSession(id, REPO, Instant.now(), "user test"));
            byte[] first = SeededBytes.of(PART, 10);
            byte[] winner = SeededBytes.of(PART, 11);
            byte[] loser = SeededBytes.of(PART, 12);
            nodeA.appendUpload(id, OptionalLong.of(0), new ByteArrayInputStream(first)); // part 1: the multipart upload exists

            CountDownLatch loserHasReadTheSession = new CountDownLatch(1);
            CountDownLatch winnerDone = new CountDownLatch(1);
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                Future<Long> losing = pool.submit(() -> nodeB.appendUpload(id, OptionalLong.of(PART), new HeldBody(loser, () -> {
                    loserHasReadTheSession.countDown();
                    winnerDone.await();
                })));
                assertThat(loserHasReadTheSession.await(30, TimeUnit.SECONDS)).isTrue();
                // while node A waits for node B's claim to lapse, it says so (the cairn_upload_claim_waits gauge)
                java.util.concurrent.atomic.AtomicInteger seenWaiting = new java.util.concurrent.atomic.AtomicInteger();
                Thread watcher = Thread.ofVirtual().start(() -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        seenWaiting.accumulateAndGet(nodeA.requestsWaitingForSessionClaims(), Math::max);
                        try {
                            Thread.sleep(50);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                assertThat(nodeA.appendUpload(id, OptionalLong.of(PART), new ByteArrayInputStream(winner))).isEqualTo(2L * PART);
                watcher.interrupt();
                assertThat(seenWaiting.get()).as("requests seen waiting for the claim").isEqualTo(1);
                assertThat(nodeA.requestsWaitingForSessionClaims()).isZero();
                winnerDone.countDown();
                assertThatThrownBy(losing::get).hasCauseInstanceOf(UploadOffsetException.class); // 416: "nothing appended"
            } finally {
                pool.shutdownNow();
            }

            byte[] expected = concat(first, winner);
            Digest digest = Digest.sha256(expected);
            StagedBlob staged;
            try {
                staged = nodeA.stageUpload(id, digest);
            } catch (IOException refused) {
                // A store that checks part ETags refuses to assemble: no corruption, but the session is lost.
                throw new AssertionError("the winner's upload cannot be finished: " + refused, refused);
            }
            nodeA.publish(staged);
            nodeA.discard(staged);
            ledger.deleteUpload(id);
            try (InputStream in = nodeB.open(digest, 0)) {
                byte[] stored = in.readAllBytes();
                assertThat(Arrays.equals(stored, concat(first, loser)))
                        .as("blob %s holds the LOSER's bytes, which hash to %s", digest, Digest.sha256(stored)).isFalse();
                assertThat(stored).isEqualTo(expected);
            }
        }
    }
}
