package dev.cairn;

import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.OneCairnPerClass;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.StoreProbe;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/** Blob uploads: end-4a, end-4b, end-5, end-6, end-11, end-13 and cancelling. */
class UploadApiTest extends OneCairnPerClass {

    static String open(String repository) {
        HttpResponse<byte[]> r = client.post("/v2/" + repository + "/blobs/uploads/", null);
        assertThat(r.statusCode()).isEqualTo(202);
        assertThat(r.headers().firstValue("Range")).hasValue("0-0");
        assertThat(r.headers().firstValue("Docker-Upload-UUID")).isPresent();
        String location = r.headers().firstValue("Location").orElseThrow();
        assertThat(location).startsWith("/v2/" + repository + "/blobs/uploads/")
                .endsWith(r.headers().firstValue("Docker-Upload-UUID").orElseThrow());
        return location;
    }

    static String withDigest(String location, String digest) {
        return location + (location.contains("?") ? "&" : "?") + "digest=" + digest;
    }

    @Test
    void monolithicPostWithDigestCreatesTheBlob() {
        byte[] blob = SeededBytes.of(70_000, 1);
        String digest = sha256(blob);
        HttpResponse<byte[]> r = client.post("/v2/up/mono/blobs/uploads/?digest=" + digest, blob,
                "Content-Type", "application/octet-stream");
        assertThat(r.statusCode()).isEqualTo(201);
        assertThat(r.headers().firstValue("Location")).hasValue("/v2/up/mono/blobs/" + digest);
        assertThat(r.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
        assertThat(client.get("/v2/up/mono/blobs/" + digest).body()).isEqualTo(blob);
    }

    @Test
    void sessionThenSinglePutWithTheWholeBlob() {
        byte[] blob = SeededBytes.of(123_456, 2);
        String digest = sha256(blob);
        String location = open("up/put");
        HttpResponse<byte[]> r = client.put(withDigest(location, digest), blob, "Content-Type", "application/octet-stream");
        assertThat(r.statusCode()).isEqualTo(201);
        assertThat(r.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
        assertThat(client.get("/v2/up/put/blobs/" + digest).body()).isEqualTo(blob);
        // a finished session is gone
        assertThat(client.get(location).statusCode()).isEqualTo(404);
        assertThat(errorCode(client.get(location))).isEqualTo("BLOB_UPLOAD_UNKNOWN");
    }

    @Test
    void chunksWithContentRangeThenStatusThenEmptyPut() {
        byte[] blob = SeededBytes.of(300_000, 3);
        String digest = sha256(blob);
        String location = open("up/chunks");
        int[] cuts = {0, 100_000, 200_000, blob.length};
        for (int i = 0; i < cuts.length - 1; i++) {
            byte[] chunk = Arrays.copyOfRange(blob, cuts[i], cuts[i + 1]);
            HttpResponse<byte[]> r = client.patch(location, chunk, "Content-Type", "application/octet-stream",
                    "Content-Range", cuts[i] + "-" + (cuts[i + 1] - 1));
            assertThat(r.statusCode()).isEqualTo(202);
            assertThat(r.headers().firstValue("Range")).hasValue("0-" + (cuts[i + 1] - 1));
            location = r.headers().firstValue("Location").orElseThrow();
        }
        HttpResponse<byte[]> status = client.get(location);
        assertThat(status.statusCode()).isEqualTo(204);
        assertThat(status.headers().firstValue("Range")).hasValue("0-" + (blob.length - 1));
        assertThat(status.headers().firstValue("Location")).hasValue(location);

        HttpResponse<byte[]> done = client.put(withDigest(location, digest), null);
        assertThat(done.statusCode()).isEqualTo(201);
        assertThat(client.get("/v2/up/chunks/blobs/" + digest).body()).isEqualTo(blob);
    }

    @Test
    void chunksWithoutContentRangeAndAFinalChunkOnPut() {
        byte[] blob = SeededBytes.of(50_000, 4);
        String location = open("up/stream");
        HttpResponse<byte[]> r = client.patch(location, Arrays.copyOfRange(blob, 0, 20_000));
        assertThat(r.statusCode()).isEqualTo(202);
        assertThat(r.headers().firstValue("Range")).hasValue("0-19999");
        HttpResponse<byte[]> done = client.put(withDigest(location, sha256(blob)), Arrays.copyOfRange(blob, 20_000, blob.length),
                "Content-Range", "20000-49999");
        assertThat(done.statusCode()).isEqualTo(201);
        assertThat(client.get("/v2/up/stream/blobs/" + sha256(blob)).body()).isEqualTo(blob);
    }

    @Test
    void patchWithTransferEncodingChunked() throws Exception {
        byte[] blob = SeededBytes.of(2_000_000, 5);
        String location = open("up/te");
        // A body of unknown length: the JDK client sends it with Transfer-Encoding: chunked, as buildah does.
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://" + cairn.hostPort() + location))
                .method("PATCH", HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(blob))).build();
        HttpResponse<String> r = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
                .send(request, HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(202);
        assertThat(r.headers().firstValue("Range")).hasValue("0-" + (blob.length - 1));
        assertThat(client.put(withDigest(location, sha256(blob)), null).statusCode()).isEqualTo(201);
        assertThat(client.get("/v2/up/te/blobs/" + sha256(blob)).body()).isEqualTo(blob);
    }

    @Test
    void outOfOrderAndRepeatedChunksAre416WithTheCurrentRange() {
        byte[] blob = SeededBytes.of(30_000, 6);
        String location = open("up/order");
        assertThat(client.patch(location, Arrays.copyOfRange(blob, 0, 10_000), "Content-Range", "0-9999").statusCode()).isEqualTo(202);

        HttpResponse<byte[]> skipped = client.patch(location, Arrays.copyOfRange(blob, 20_000, 30_000), "Content-Range", "20000-29999");
        assertThat(skipped.statusCode()).isEqualTo(416);
        assertThat(skipped.headers().firstValue("Range")).hasValue("0-9999");
        assertThat(skipped.headers().firstValue("Location")).hasValue(location);

        HttpResponse<byte[]> repeated = client.patch(location, Arrays.copyOfRange(blob, 0, 10_000), "Content-Range", "0-9999");
        assertThat(repeated.statusCode()).isEqualTo(416);
        assertThat(repeated.headers().firstValue("Range")).hasValue("0-9999");

        HttpResponse<byte[]> malformed = client.patch(location, Arrays.copyOfRange(blob, 10_000, 20_000), "Content-Range", "bananas");
        assertThat(malformed.statusCode()).isEqualTo(416);

        // the session is intact: the right next chunk still goes in, and the blob completes
        assertThat(client.patch(location, Arrays.copyOfRange(blob, 10_000, 30_000), "Content-Range", "10000-29999").statusCode())
                .isEqualTo(202);
        assertThat(client.put(withDigest(location, sha256(blob)), null).statusCode()).isEqualTo(201);
    }

    @Test
    void cancelledAndUnknownSessionsAre404BlobUploadUnknown() {
        String location = open("up/cancel");
        assertThat(client.patch(location, SeededBytes.of(1000, 7)).statusCode()).isEqualTo(202);
        assertThat(client.delete(location).statusCode()).isEqualTo(204);
        for (HttpResponse<byte[]> r : java.util.List.of(client.get(location), client.patch(location, new byte[10]),
                client.put(withDigest(location, sha256(new byte[10])), null), client.delete(location))) {
            assertThat(r.statusCode()).isEqualTo(404);
            assertThat(errorCode(r)).isEqualTo("BLOB_UPLOAD_UNKNOWN");
        }
        HttpResponse<byte[]> unknown = client.get("/v2/up/cancel/blobs/uploads/6f1b0c1e-0000-4000-8000-000000000000");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(errorCode(unknown)).isEqualTo("BLOB_UPLOAD_UNKNOWN");
    }

    @Test
    void aSessionBelongsToItsRepository() {
        String location = open("up/owner");
        String id = location.substring(location.lastIndexOf('/') + 1);
        HttpResponse<byte[]> r = client.get("/v2/up/other/blobs/uploads/" + id);
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(errorCode(r)).isEqualTo("BLOB_UPLOAD_UNKNOWN");
    }

    @Test
    void digestMismatchOnPutKeepsNothing() {
        byte[] blob = SeededBytes.of(10_000, 8);
        String wrong = sha256("something else".getBytes(StandardCharsets.UTF_8));
        String location = open("up/mismatch");
        HttpResponse<byte[]> r = client.put(withDigest(location, wrong), blob);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(errorCode(r)).isEqualTo("DIGEST_INVALID");
        assertThat(client.head("/v2/up/mismatch/blobs/" + wrong).statusCode()).isEqualTo(404);
        assertThat(client.head("/v2/up/mismatch/blobs/" + sha256(blob)).statusCode()).isEqualTo(404);
    }

    @Test
    void crossRepositoryMountLinksWithoutUploading() {
        byte[] blob = SeededBytes.of(40_000, 9);
        String digest = client.pushBlob("up/source", blob);
        HttpResponse<byte[]> mounted = client.post("/v2/up/target/blobs/uploads/?mount=" + digest + "&from=up/source", null);
        assertThat(mounted.statusCode()).isEqualTo(201);
        assertThat(mounted.headers().firstValue("Location")).hasValue("/v2/up/target/blobs/" + digest);
        assertThat(mounted.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
        assertThat(client.get("/v2/up/target/blobs/" + digest).body()).isEqualTo(blob);
    }

    @Test
    void mountFromARepositoryWithoutTheBlobFallsBackToAnUploadSession() {
        byte[] blob = SeededBytes.of(1_000, 10);
        String digest = client.pushBlob("up/holder", blob);
        for (String from : new String[]{"up/empty-source", "Not_A_Valid_Name"}) {
            HttpResponse<byte[]> r = client.post("/v2/up/mount-target/blobs/uploads/?mount=" + digest + "&from=" + from, null);
            assertThat(r.statusCode()).isEqualTo(202);
            assertThat(r.headers().firstValue("Location")).isPresent();
        }
        // and the blob did not become visible in the target
        assertThat(client.head("/v2/up/mount-target/blobs/" + digest).statusCode()).isEqualTo(404);
    }

    @Test
    void sessionsSurviveARestart() throws Exception {
        byte[] blob = SeededBytes.of(80_000, 11);
        String location = open("up/restart");
        assertThat(client.patch(location, Arrays.copyOfRange(blob, 0, 30_000), "Content-Range", "0-29999").statusCode()).isEqualTo(202);
        cairn.restart();
        HttpResponse<byte[]> status = client.get(location);
        assertThat(status.statusCode()).isEqualTo(204);
        assertThat(status.headers().firstValue("Range")).hasValue("0-29999");
        assertThat(client.patch(location, Arrays.copyOfRange(blob, 30_000, blob.length), "Content-Range", "30000-79999").statusCode())
                .isEqualTo(202);
        assertThat(client.put(withDigest(location, sha256(blob)), null).statusCode()).isEqualTo(201);
        assertThat(client.get("/v2/up/restart/blobs/" + sha256(blob)).body()).isEqualTo(blob);
    }

    @Test
    void emptyBlobCanBeUploaded() {
        byte[] empty = new byte[0];
        String location = open("up/empty");
        HttpResponse<byte[]> r = client.put(withDigest(location, sha256(empty)), null);
        assertThat(r.statusCode()).isEqualTo(201);
        HttpResponse<byte[]> head = client.head("/v2/up/empty/blobs/" + sha256(empty));
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Content-Length")).hasValue("0");
    }

    @Test
    void aStalledUploadDoesNotHoldUpOtherSessions() throws Exception {
        String stalled = open("up/stalled");
        String other = open("up/other");
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.io.InputStream slowBody = new java.io.InputStream() {
            private int sent;

            @Override
            public int read() throws java.io.IOException {
                if (sent == 1000) {
                    try {
                        release.await(); // the client stops sending mid-body
                    } catch (InterruptedException e) {
                        throw new java.io.IOException(e);
                    }
                    return -1;
                }
                sent++;
                return 'x';
            }
        };
        var inFlight = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().sendAsync(
                HttpRequest.newBuilder(URI.create("http://" + cairn.hostPort() + stalled))
                        .method("PATCH", HttpRequest.BodyPublishers.ofInputStream(() -> slowBody)).build(),
                HttpResponse.BodyHandlers.discarding());
        try {
            Thread.sleep(300);
            long start = System.nanoTime();
            for (int i = 0; i < 5; i++) {
                assertThat(client.get(other).statusCode()).isEqualTo(204);
                assertThat(client.patch(other, new byte[]{1, 2, 3}).statusCode()).isEqualTo(202);
            }
            assertThat(java.time.Duration.ofNanos(System.nanoTime() - start)).isLessThan(java.time.Duration.ofSeconds(5));
        } finally {
            release.countDown();
        }
        assertThat(inFlight.get(30, java.util.concurrent.TimeUnit.SECONDS).statusCode()).isEqualTo(202);
    }

    /**
     * The session's Range once the server noticed the client went away (within 10 s): what the status
     * answers when it equals {@code expected}, else its last answer.
     */
    private java.util.Optional<String> rangeOnceSettled(String location, String expected) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        java.util.Optional<String> range;
        do {
            Thread.sleep(100);
            range = client.get(location).headers().firstValue("Range");
        } while (!range.equals(java.util.Optional.of(expected)) && System.nanoTime() < deadline);
        return range;
    }

    @Test
    void aChunkCutShortLeavesTheUploadAsItWas() throws Exception {
        String location = open("up/cut");
        assertThat(client.patch(location, SeededBytes.of(1000, 12), "Content-Range", "0-999").statusCode()).isEqualTo(202);
        // declares 3000 bytes, sends 1000, then hangs up
        byte[] head = ("PATCH " + location + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3000\r\n"
                + "Content-Range: 1000-3999\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", cairn.port())) {
            socket.getOutputStream().write(head);
            socket.getOutputStream().write(SeededBytes.of(1000, 13));
            socket.getOutputStream().flush();
            Thread.sleep(200);
        }
        assertThat(rangeOnceSettled(location, "0-999")).hasValue("0-999");
        // the same chunk can be sent again and the blob completes
        byte[] blob = new byte[4000];
        System.arraycopy(SeededBytes.of(1000, 12), 0, blob, 0, 1000);
        System.arraycopy(SeededBytes.of(3000, 14), 0, blob, 1000, 3000);
        assertThat(client.patch(location, Arrays.copyOfRange(blob, 1000, 4000), "Content-Range", "1000-3999").statusCode()).isEqualTo(202);
        assertThat(client.put(withDigest(location, sha256(blob)), null).statusCode()).isEqualTo(201);
    }

    @Test
    void aLargeChunkCutShortLeavesTheUploadAsItWas() throws Exception {
        // large enough to be written by the upload's second thread (the pipelined path), cut short in the middle
        String location = open("up/cut-large");
        byte[] first = SeededBytes.of(1000, 15);
        assertThat(client.patch(location, first, "Content-Range", "0-999").statusCode()).isEqualTo(202);
        byte[] second = SeededBytes.of(5_000_000, 16);
        byte[] head = ("PATCH " + location + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + second.length + "\r\n"
                + "Content-Range: 1000-" + (1000 + second.length - 1) + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", cairn.port())) {
            socket.getOutputStream().write(head);
            socket.getOutputStream().write(second, 0, 3_500_000);
            socket.getOutputStream().flush();
            Thread.sleep(300);
        }
        assertThat(rangeOnceSettled(location, "0-999")).hasValue("0-999");
        byte[] blob = new byte[first.length + second.length];
        System.arraycopy(first, 0, blob, 0, first.length);
        System.arraycopy(second, 0, blob, first.length, second.length);
        assertThat(client.patch(location, second, "Content-Range", "1000-" + (blob.length - 1)).statusCode()).isEqualTo(202);
        assertThat(client.put(withDigest(location, sha256(blob)), null).statusCode()).isEqualTo(201);
        assertThat(client.get("/v2/up/cut-large/blobs/" + sha256(blob)).body()).isEqualTo(blob);
    }

    @Test
    void aLargeMonolithicPushWithTheWrongDigestKeepsNothing() throws Exception {
        byte[] blob = SeededBytes.of(3_000_000, 17);
        String wrong = sha256(SeededBytes.of(10, 18));
        HttpResponse<byte[]> r = client.post("/v2/up/mono-wrong/blobs/uploads/?digest=" + wrong, blob);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(errorCode(r)).isEqualTo("DIGEST_INVALID");
        assertThat(client.head("/v2/up/mono-wrong/blobs/" + sha256(blob)).statusCode()).isEqualTo(404);
        // Nothing staged is left: no temporary file (embedded), no multipart upload at a blob key (s3). Other
        // tests' open sessions (under uploads/) are not this push's.
        dev.cairn.testing.StoreProbe store = dev.cairn.testing.StoreProbe.of(cairn);
        assertThat(store.uploadLeftovers()).filteredOn(l -> l.startsWith("file tmp") || l.contains("/blobs/")).isEmpty();
        assertThat(store.blobs()).doesNotContainKey(sha256(blob));
    }

    @Test
    void idleSessionsExpire() throws Exception {
        try (RunningCairn shortLived = RunningCairn.start(java.util.Map.of("registry.upload-expiry", "1s"))) {
            OciClient c = new OciClient(shortLived);
            String idle = c.post("/v2/up/idle/blobs/uploads/", null).headers().firstValue("Location").orElseThrow();
            // more than one part (storage.s3.part-size, 8MiB by default): on s3 the session then holds an open
            // multipart upload as well as a tail object, and the expiry must remove both
            assertThat(c.patch(idle, new byte[(8 << 20) + 100]).statusCode()).isEqualTo(202);
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
            while (c.get(idle).statusCode() != 404 && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            HttpResponse<byte[]> gone = c.get(idle);
            assertThat(gone.statusCode()).isEqualTo(404);
            assertThat(errorCode(gone)).isEqualTo("BLOB_UPLOAD_UNKNOWN");
            // nothing of the session is left: no upload file (embedded), no object outside the blob area and
            // no open multipart upload (s3), no session row (both)
            assertThat(StoreProbe.of(shortLived).uploadLeftovers()).isEmpty();
        }
    }
}
