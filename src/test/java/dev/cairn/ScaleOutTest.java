package dev.cairn;

import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.S3Server;
import dev.cairn.testing.SharedStore;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Three nodes on three loopback ports over one bucket (S3Proxy) and one database (PostgreSQL): any node
 * continues what another began, and a deletion on one is seen by all at once.
 */
class ScaleOutTest {
    private static final int PART = 5 << 20;

    private static S3Server s3;
    private static SharedStore store;
    private static List<RunningCairn> nodes;
    private static List<OciClient> clients;

    @BeforeAll
    static void start() throws Exception {
        store = SharedStore.fresh();
        s3 = store.s3();
        Map<String, String> settings = Map.of("metadata.postgres.pool-size", "4", "storage.s3.part-size", "5MiB",
                "retention.grace", "1s", "retention.gc-interval", "1h");
        nodes = store.startNodes(3, settings);
        clients = nodes.stream().map(OciClient::new).toList();
    }

    @AfterAll
    static void stop() throws Exception {
        for (RunningCairn node : nodes) node.close();
        store.drop();
    }

    @Test
    void aKeyWrittenOnOneNodeIsReadListedReplacedAndDeletedOnTheOthers() {
        byte[] small = SeededBytes.of(10_000, 20);
        byte[] large = SeededBytes.of(2 * PART + 7, 21); // staged as a multipart upload, copied to its key on publish
        assertThat(clients.get(0).put("/cache/fleet/ab/object", small).statusCode()).isEqualTo(201);
        for (OciClient client : clients) assertThat(client.get("/cache/fleet/ab/object").body()).isEqualTo(small);
        assertThat(OciClient.text(clients.get(2).send("PROPFIND", "/cache/fleet/ab/", new byte[0], "Depth", "1")))
                .contains("<D:href>/cache/fleet/ab/object</D:href>");
        assertThat(clients.get(1).put("/cache/fleet/ab/object", large).statusCode()).isEqualTo(201);
        for (OciClient client : clients) assertThat(client.get("/cache/fleet/ab/object").body()).isEqualTo(large);
        assertThat(clients.get(2).delete("/cache/fleet/ab/object").statusCode()).isEqualTo(204);
        for (OciClient client : clients) assertThat(client.get("/cache/fleet/ab/object").statusCode()).as("gone on every node at once").isEqualTo(404);
    }

    @Test
    void bazelAndTurborepoEntriesWrittenOnOneNodeAreServedByTheOthers() throws Exception {
        byte[] output = SeededBytes.of(30_000, 22);
        String hash = dev.cairn.values.Digest.sha256(output).hex();
        assertThat(clients.get(0).put("/bazel/fleet/cas/" + hash, output).statusCode()).isEqualTo(200);
        // ActionResult { output_files = 2 (OutputFile { path = 1; digest = 2 (Digest { hash = 1; size_bytes = 2 }) }) }
        java.io.ByteArrayOutputStream digest = new java.io.ByteArrayOutputStream();
        com.google.protobuf.CodedOutputStream d = com.google.protobuf.CodedOutputStream.newInstance(digest);
        d.writeString(1, hash);
        d.writeInt64(2, output.length);
        d.flush();
        java.io.ByteArrayOutputStream file = new java.io.ByteArrayOutputStream();
        com.google.protobuf.CodedOutputStream f = com.google.protobuf.CodedOutputStream.newInstance(file);
        f.writeString(1, "out.bin");
        f.writeByteArray(2, digest.toByteArray());
        f.flush();
        java.io.ByteArrayOutputStream result = new java.io.ByteArrayOutputStream();
        com.google.protobuf.CodedOutputStream r = com.google.protobuf.CodedOutputStream.newInstance(result);
        r.writeByteArray(2, file.toByteArray());
        r.flush();
        String action = dev.cairn.values.Digest.sha256("an action".getBytes()).hex();
        assertThat(clients.get(1).put("/bazel/fleet/ac/" + action, result.toByteArray()).statusCode()).as("its output is in the CAS, written by node 0")
                .isEqualTo(200);
        for (OciClient client : clients) {
            assertThat(client.get("/bazel/fleet/ac/" + action).body()).isEqualTo(result.toByteArray());
            assertThat(client.get("/bazel/fleet/cas/" + hash).body()).isEqualTo(output);
        }
        assertThat(clients.get(2).put("/v8/artifacts/abc?slug=fleet", output, "x-artifact-duration", "1500").statusCode()).isEqualTo(202);
        HttpResponse<byte[]> artifact = clients.get(0).get("/v8/artifacts/abc?slug=fleet");
        assertThat(artifact.body()).isEqualTo(output);
        assertThat(artifact.headers().firstValue("x-artifact-duration")).hasValue("1500");
    }

    @Test
    void anUploadOpenedOnOneNodeIsPatchedOnAnotherAndFinishedOnAThird() {
        byte[] content = SeededBytes.of(PART + PART / 2, 1);
        String digest = OciClient.sha256(content);
        HttpResponse<byte[]> opened = clients.get(0).post("/v2/team/app/blobs/uploads/", new byte[0]);
        assertThat(opened.statusCode()).isEqualTo(202);
        String location = opened.headers().firstValue("Location").orElseThrow();
        String path = URI.create(location).isAbsolute() ? URI.create(location).getRawPath() : location;

        int cut = 3 << 20;
        HttpResponse<byte[]> first = clients.get(1).patch(path, java.util.Arrays.copyOfRange(content, 0, cut),
                "Content-Range", "0-" + (cut - 1), "Content-Type", "application/octet-stream");
        assertThat(first.statusCode()).isEqualTo(202);
        assertThat(first.headers().firstValue("Range")).hasValue("0-" + (cut - 1));
        HttpResponse<byte[]> status = clients.get(2).get(path);
        assertThat(status.statusCode()).isEqualTo(204);
        assertThat(status.headers().firstValue("Range")).hasValue("0-" + (cut - 1));

        String sep = path.contains("?") ? "&" : "?";
        HttpResponse<byte[]> done = clients.get(2).put(path + sep + "digest=" + digest, java.util.Arrays.copyOfRange(content, cut, content.length),
                "Content-Type", "application/octet-stream");
        assertThat(done.statusCode()).isEqualTo(201);
        for (OciClient client : clients) {
            HttpResponse<byte[]> blob = client.get("/v2/team/app/blobs/" + digest);
            assertThat(blob.statusCode()).isEqualTo(200);
            assertThat(blob.body()).isEqualTo(content);
        }
    }

    @Test
    void aManifestPushedThroughOneNodeIsPulledThroughAnother() {
        OciClient.Image image = clients.get(0).prepareImage("team/web", "application/vnd.oci.image.config.v1+json",
                SeededBytes.of(1000, 2), SeededBytes.of(PART + 1, 3));
        assertThat(clients.get(0).put("/v2/team/web/manifests/main", image.manifest(), "Content-Type", OciClient.OCI_MANIFEST).statusCode())
                .isEqualTo(201);
        HttpResponse<byte[]> pulled = clients.get(2).get("/v2/team/web/manifests/main", "Accept", OciClient.OCI_MANIFEST);
        assertThat(pulled.statusCode()).isEqualTo(200);
        assertThat(pulled.body()).isEqualTo(image.manifest());
        for (String layer : image.layerDigests()) {
            assertThat(clients.get(1).head("/v2/team/web/blobs/" + layer).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void aBlobCollectedOnOneNodeIsGoneOnEveryNodeAtOnce() throws Exception {
        byte[] content = SeededBytes.of(4096, 4);
        String digest = clients.get(0).pushBlob("team/gc", content);
        for (OciClient client : clients) assertThat(client.head("/v2/team/gc/blobs/" + digest).statusCode()).isEqualTo(200);
        // Unreferenced by any manifest: once the grace window has passed, node 2's collection deletes it.
        Thread.sleep(1500);
        var report = nodes.get(1).node().keeper().collect(false);
        assertThat(report.blobs()).anyMatch(b -> b.digest().equals(digest));
        for (OciClient client : clients) {
            assertThat(client.head("/v2/team/gc/blobs/" + digest).statusCode()).isEqualTo(404);
            assertThat(client.get("/v2/team/gc/blobs/" + digest).statusCode()).isEqualTo(404);
        }
        assertThat(s3.objects("").stream().map(S3Server.StoredObject::key)).noneMatch(k -> k.endsWith(digest.substring(7)));
    }

    @Test
    void onlyOneNodeAtATimeHoldsTheCollectorLockAndItPassesOnWhenReleased() throws Exception {
        Optional<AutoCloseable> first = nodes.get(0).node().metadata().locks().collectorLock(Duration.ZERO);
        assertThat(first).isPresent();
        try {
            // a collection that waits for it says so, in the log and in /metrics (cairn_collector_lock_waits)
            var waiting = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> nodes.get(1).node().metadata().locks().collectorLock(Duration.ofMillis(1500)));
            long deadline = System.nanoTime() + Duration.ofSeconds(1).toNanos();
            while (nodes.get(1).node().metadata().locks().collectionsWaitingForLock() == 0 && System.nanoTime() < deadline) Thread.sleep(20);
            assertThat(nodes.get(1).node().metadata().locks().collectionsWaitingForLock()).isEqualTo(1);
            assertThat(OciClient.text(clients.get(1).get("/metrics"))).contains("cairn_collector_lock_waits 1.0");
            assertThat(waiting.get()).isEmpty();
            assertThat(nodes.get(1).node().metadata().locks().collectionsWaitingForLock()).isZero();
            assertThat(nodes.get(2).node().metadata().locks().collectorLock(Duration.ZERO)).isEmpty();
        } finally {
            first.get().close();
        }
        Optional<AutoCloseable> second = nodes.get(2).node().metadata().locks().collectorLock(Duration.ofSeconds(5));
        assertThat(second).isPresent();
        second.get().close();
    }

    @Test
    void redirectsSendBlobReadsStraightToTheBucket() throws Exception {
        Map<String, String> settings = new HashMap<>(s3.cairnSettings("scale-out-redirect-" + UUID.randomUUID()));
        settings.put("storage.redirect", "true");
        try (RunningCairn redirecting = RunningCairn.start(settings)) {
            OciClient client = new OciClient(redirecting);
            byte[] content = SeededBytes.of(PART + 17, 5);
            String digest = client.pushBlob("team/direct", content);
            HttpResponse<byte[]> answer = client.get("/v2/team/direct/blobs/" + digest);
            assertThat(answer.statusCode()).isEqualTo(307);
            URI direct = URI.create(answer.headers().firstValue("Location").orElseThrow());
            assertThat(direct.getPort()).isEqualTo(s3.port());
            assertThat(direct.getQuery()).contains("X-Amz-Signature");
            HttpResponse<byte[]> fetched = HttpClient.newHttpClient().send(HttpRequest.newBuilder(direct).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertThat(fetched.statusCode()).isEqualTo(200);
            assertThat(fetched.body()).isEqualTo(content);
            // HEAD is answered by the node itself.
            HttpResponse<byte[]> head = client.head("/v2/team/direct/blobs/" + digest);
            assertThat(head.statusCode()).isEqualTo(200);
            assertThat(head.headers().firstValueAsLong("Content-Length")).hasValue(content.length);
            // A blob the repository does not have is a 404, not a redirect to somewhere.
            assertThat(client.get("/v2/team/other/blobs/" + digest).statusCode()).isEqualTo(404);
        }
    }

    @Test
    void whileTheBucketIsDownRequestsGet503AndServiceResumesWhenItIsBack() throws Exception {
        S3Server own = S3Server.start();
        try (RunningCairn node = RunningCairn.start(own.cairnSettings("outage"))) {
            OciClient client = new OciClient(node);
            byte[] before = SeededBytes.of(2000, 6);
            String kept = client.pushBlob("team/outage", before);
            own.stop();
            byte[] during = SeededBytes.of(3000, 7);
            String duringDigest = OciClient.sha256(during);
            HttpResponse<byte[]> push = client.post("/v2/team/outage/blobs/uploads/?digest=" + duringDigest, during,
                    "Content-Type", "application/octet-stream");
            assertThat(push.statusCode()).isEqualTo(503);
            assertThat(push.headers().firstValue("Retry-After")).isPresent();
            assertThat(OciClient.text(push)).contains("blob store is unavailable");
            assertThat(client.get("/v2/team/outage/blobs/" + kept).statusCode()).isEqualTo(503);
            assertThat(client.get("/readyz").statusCode()).isEqualTo(503);
            own.startAgain();
            assertThat(client.get("/readyz").statusCode()).isEqualTo(200);
            assertThat(client.head("/v2/team/outage/blobs/" + duringDigest).statusCode()).isEqualTo(404); // nothing half-written
            assertThat(client.get("/v2/team/outage/blobs/" + kept).body()).isEqualTo(before);
            assertThat(client.pushBlob("team/outage", during)).isEqualTo(duringDigest);
        } finally {
            own.close();
        }
    }
}
