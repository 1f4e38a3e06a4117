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
 * real SQLite ledger. Two store instances over the same bucket and ledger stand for two nodes. What every
 * blob store does is in {@link BlobStoreContractTest}; here, what only S3 has: claims on a session that two
 * nodes race for, and URLs that serve a blob without the node.
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
    void aPresignedUrlServesTheBlobWithoutTheNode() throws Exception {
        byte[] content = SeededBytes.of(1000, 51);
        Digest digest = Digest.sha256(content);
        nodeA.put(digest, new ByteArrayInputStream(content));
        assertThat(nodeB.isRemote()).isTrue();
        java.net.URI url = nodeB.readUrl(digest, java.time.Duration.ofMinutes(1)).orElseThrow();
        try (var http = java.net.http.HttpClient.newHttpClient()) {
            var response = http.send(java.net.http.HttpRequest.newBuilder(url).build(), java.net.http.HttpResponse.BodyHandlers.ofByteArray());
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).isEqualTo(content);
        }
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

    /**
     * A scripted S3 endpoint on loopback for what S3Proxy does not do: a store without DeleteObjects (GCS's XML API
     * answers 501 NotImplemented), one that refuses a batch request for a reason of its own, per-key errors, a DELETE
     * that fails. It records every request as "METHOD path?query".
     */
    private static final class ScriptedS3 implements AutoCloseable {
        final List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        volatile int batchStatus = 501;
        /** The batch answer's body; {@code null}: every key in the request answered as deleted. */
        volatile java.util.function.Function<List<String>, String> batchAnswer;
        final java.util.Set<String> failingDeletes = java.util.concurrent.ConcurrentHashMap.newKeySet();
        private final com.sun.net.httpserver.HttpServer server;

        ScriptedS3() throws IOException {
            server = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
            server.setExecutor(Executors.newFixedThreadPool(8));
            server.createContext("/", exchange -> {
                String query = exchange.getRequestURI().getRawQuery();
                String path = exchange.getRequestURI().getPath();
                seen.add(exchange.getRequestMethod() + " " + path + (query == null ? "" : "?" + query));
                String body = new String(exchange.getRequestBody().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                if (exchange.getRequestMethod().equals("POST") && query != null && query.startsWith("delete")) {
                    List<String> keys = java.util.regex.Pattern.compile("<Key>([^<]*)</Key>").matcher(body).results().map(m -> m.group(1)).toList();
                    String answer = batchStatus != 200 ? "<Error><Code>" + (batchStatus == 501 ? "NotImplemented" : "MalformedXML")
                            + "</Code><Message>scripted</Message></Error>"
                            : batchAnswer != null ? batchAnswer.apply(keys)
                            : "<DeleteResult>" + keys.stream().map(k -> "<Deleted><Key>" + k + "</Key></Deleted>").collect(java.util.stream.Collectors.joining()) + "</DeleteResult>";
                    byte[] bytes = answer.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    exchange.getResponseHeaders().add("Content-Type", "application/xml");
                    exchange.sendResponseHeaders(batchStatus, bytes.length == 0 ? -1 : bytes.length);
                    if (bytes.length > 0) exchange.getResponseBody().write(bytes);
                } else if (exchange.getRequestMethod().equals("DELETE")) {
                    if (failingDeletes.contains(path.substring(path.lastIndexOf('/') + 1))) {
                        byte[] error = "<Error><Code>AccessDenied</Code><Message>scripted</Message></Error>".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                        exchange.sendResponseHeaders(403, error.length);
                        exchange.getResponseBody().write(error);
                    } else {
                        exchange.sendResponseHeaders(204, -1);
                    }
                } else {
                    exchange.sendResponseHeaders(400, -1);
                }
                exchange.close();
            });
            server.start();
        }

        S3BlobStore store() {
            return new S3BlobStore(new S3BlobStore.Location("bucket", "p", "us-east-1",
                    Optional.of(java.net.URI.create("http://127.0.0.1:" + server.getAddress().getPort())), true,
                    Optional.of("key"), Optional.of("secret"), PART, 8), ledger, Clock.systemUTC());
        }

        List<String> take() {
            synchronized (seen) {
                List<String> taken = List.copyOf(seen);
                seen.clear();
                return taken;
            }
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    private static List<Digest> digests(int count, int seed) {
        List<Digest> digests = new ArrayList<>();
        for (int i = 0; i < count; i++) digests.add(Digest.sha256(SeededBytes.of(10, seed + i)));
        return digests;
    }

    private static List<String> singleDeletes(List<Digest> digests) {
        return digests.stream().map(d -> "DELETE /bucket/p/blobs/sha256/" + d.hex().substring(0, 2) + "/" + d.hex()).toList();
    }

    @Test
    void aStoreWithoutBatchDeletesGetsOneDeletePerBlobFromThenOn() throws Exception {
        try (ScriptedS3 server = new ScriptedS3(); S3BlobStore store = server.store()) {
            List<Digest> digests = digests(40, 0);
            store.deleteAll(digests);
            List<String> seen = server.take();
            assertThat(seen).first().asString().startsWith("POST /bucket?delete");
            assertThat(seen.subList(1, seen.size())).containsExactlyInAnyOrderElementsOf(singleDeletes(digests));
            store.deleteAll(digests.subList(0, 3)); // no second try of the batch request
            assertThat(server.take()).containsExactlyInAnyOrderElementsOf(singleDeletes(digests.subList(0, 3)));
        }
    }

    @Test
    void aBatchRefusedForAnotherReasonIsDeletedOneByOneAndTheNextBatchIsTriedAgain() throws Exception {
        try (ScriptedS3 server = new ScriptedS3(); S3BlobStore store = server.store()) {
            server.batchStatus = 400; // MalformedXML, as a Ceph with a lower batch limit answers
            List<Digest> digests = digests(20, 100);
            store.deleteAll(digests);
            List<String> seen = server.take();
            assertThat(seen.subList(1, seen.size())).containsExactlyInAnyOrderElementsOf(singleDeletes(digests));
            server.batchStatus = 200;
            store.deleteAll(digests);
            assertThat(server.take()).singleElement().asString().startsWith("POST /bucket?delete");
        }
    }

    @Test
    void whatABatchDidNotConfirmIsDeletedOneByOneAndAFailureComesAfterEveryOtherWasTried() throws Exception {
        try (ScriptedS3 server = new ScriptedS3(); S3BlobStore store = server.store()) {
            server.batchStatus = 200;
            List<Digest> digests = digests(30, 200);
            // the store deletes the first ten, says the next ten were missing (fine), fails the rest; one of those fails alone too
            server.batchAnswer = keys -> "<DeleteResult>"
                    + keys.subList(0, 10).stream().map(k -> "<Deleted><Key>" + k + "</Key></Deleted>").collect(java.util.stream.Collectors.joining())
                    + keys.subList(10, 20).stream().map(k -> "<Error><Key>" + k + "</Key><Code>NoSuchKey</Code><Message>gone</Message></Error>")
                            .collect(java.util.stream.Collectors.joining())
                    + keys.subList(20, keys.size()).stream().map(k -> "<Error><Key>" + k + "</Key><Code>InternalError</Code><Message>busy</Message></Error>")
                            .collect(java.util.stream.Collectors.joining())
                    + "</DeleteResult>";
            server.failingDeletes.add(digests.get(22).hex());
            assertThatThrownBy(() -> store.deleteAll(digests)).isInstanceOf(IOException.class).hasMessageContaining("403");
            List<String> seen = server.take();
            assertThat(seen.subList(1, seen.size())).containsExactlyInAnyOrderElementsOf(singleDeletes(digests.subList(20, 30)));

            server.batchAnswer = keys -> "<DeleteResult></DeleteResult>"; // a server that ignored the request
            server.failingDeletes.clear();
            store.deleteAll(digests.subList(0, 5));
            seen = server.take();
            assertThat(seen.subList(1, seen.size())).containsExactlyInAnyOrderElementsOf(singleDeletes(digests.subList(0, 5)));
            store.deleteAll(digests.subList(0, 2)); // not asked again
            assertThat(server.take()).containsExactlyInAnyOrderElementsOf(singleDeletes(digests.subList(0, 2)));
        }
    }

    @Test
    void anInterruptedCallerStillDeletesEveryBlobAndKeepsItsInterrupt() throws Exception {
        List<Digest> stored = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            byte[] content = SeededBytes.of(100, 300 + i);
            Digest digest = Digest.sha256(content);
            nodeA.put(digest, new ByteArrayInputStream(content));
            stored.add(digest);
        }
        Thread.currentThread().interrupt(); // a node stopping while its collector sweeps
        try {
            nodeA.deleteAll(stored);
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
        } finally {
            Thread.interrupted();
        }
        for (Digest digest : stored) assertThat(nodeB.stat(digest)).isEmpty();
    }
}
