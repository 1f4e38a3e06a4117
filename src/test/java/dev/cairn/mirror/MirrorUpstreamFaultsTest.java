package dev.cairn.mirror;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.TestUsers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The pull-through mirror against upstreams that misbehave on purpose (a stub on loopback) and clients that do: wrong
 * bytes, short bodies, redirect loops and other schemes, huge and corrupt manifests, an upstream that never answers,
 * clients that hang up mid-blob, HEADs that must cost the upstream nothing, a blob of one mirror asked for under
 * another, a tiny budget with the collector running. Written by a reviewer; six of these failed on the first version.
 */
class MirrorUpstreamFaultsTest {
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** An image in the stub: config + layers as blobs, its manifest under the tag; returns the manifest. */
    static byte[] image(StubUpstream stub, String repository, String tag, byte[]... layers) {
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"" + System.nanoTime() + "\"}").getBytes();
        stub.blob(repository, config);
        List<Map<String, Object>> descriptors = new ArrayList<>();
        for (byte[] layer : layers) {
            stub.blob(repository, layer);
            descriptors.add(OciClient.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", OciClient.sha256(layer), layer.length));
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("schemaVersion", 2);
        m.put("mediaType", OCI_MANIFEST);
        m.put("config", OciClient.descriptor("application/vnd.oci.image.config.v1+json", OciClient.sha256(config), config.length));
        m.put("layers", descriptors);
        byte[] manifest = OciClient.json(m);
        stub.manifest(repository, tag, OCI_MANIFEST, manifest);
        return manifest;
    }

    static Map<String, String> mirrors(String... prefixAndUrl) {
        StringBuilder rules = new StringBuilder("[");
        for (int i = 0; i < prefixAndUrl.length; i += 2) {
            if (i > 0) rules.append(", ");
            rules.append("{prefix: ").append(prefixAndUrl[i]).append(", upstream: '").append(prefixAndUrl[i + 1]).append("', ttl: 1h, max-stale: 1h}");
        }
        return Map.of("mirrors", rules.append("]").toString());
    }

    /** What a raw GET came to: its status and body, or the failure of reading the body (a connection cut short). */
    record Outcome(int status, byte[] body, String failure) {
    }

    static Outcome rawGet(String url, String... headers) {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(90)).GET();
        if (headers.length > 0) r.headers(headers);
        try {
            HttpResponse<InputStream> response = HTTP.send(r.build(), HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = response.body()) {
                return new Outcome(response.statusCode(), in.readAllBytes(), null);
            } catch (IOException e) {
                return new Outcome(response.statusCode(), null, e.toString());
            }
        } catch (IOException e) {
            return new Outcome(-1, null, e.toString());
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    static List<Path> scratchFiles(RunningCairn cairn) throws IOException {
        Path scratch = cairn.dataDir().resolve("mirror-scratch");
        if (!Files.isDirectory(scratch)) return List.of();
        try (var s = Files.list(scratch)) {
            return s.toList();
        }
    }

    /** Descriptors this JVM holds open on mirror scratch files (deleted or not): a leak holds disk space. */
    static long openScratchDescriptors() throws IOException {
        long n = 0;
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    if (Files.readSymbolicLink(fd).toString().contains("mirror-scratch")) n++;
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        return n;
    }

    // ---------------------------------------------------------------------------------------------------------
    // 1. N clients pulling one cold tag at once: one HEAD (shared), but how many manifest GETs upstream?
    //    Docker Hub counts each manifest GET as a pull against the rate limit.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void concurrentColdPullsOfOneTagFetchItsManifestFromTheUpstreamOnce() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] manifest = image(stub, "library/app", "v1", SeededBytes.of(10_000, 1));
            String digest = OciClient.sha256(manifest);
            // an upstream with an ordinary latency (Docker Hub: 100-300 ms a request)
            stub.on("GET /v2/library/app/manifests/" + digest, x -> {
                Thread.sleep(300);
                x.getResponseHeaders().add("Docker-Content-Digest", digest);
                StubUpstream.send(x, 200, OCI_MANIFEST, manifest);
            });
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                ExecutorService pool = Executors.newFixedThreadPool(20);
                try {
                    List<Future<Integer>> all = new ArrayList<>();
                    for (int i = 0; i < 20; i++) {
                        all.add(pool.submit(() -> new OciClient(cairn).get("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT).statusCode()));
                    }
                    for (Future<Integer> f : all) assertThat(f.get()).isEqualTo(200);
                } finally {
                    pool.shutdownNow();
                }
                assertThat(stub.count("HEAD /v2/library/app/manifests/v1")).as("one check of the tag").isEqualTo(1);
                assertThat(stub.count("GET /v2/library/app/manifests/" + digest)).as("one manifest GET upstream for 20 cold pulls").isEqualTo(1);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 2. One image whose manifest does not match its digest: is the whole upstream then taken for down?
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void oneCorruptManifestUpstreamDoesNotMakeEveryOtherImageFail() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            image(stub, "library/good", "v1", SeededBytes.of(10_000, 2));
            byte[] real = image(stub, "library/bad", "v1", SeededBytes.of(10_000, 3));
            String digest = OciClient.sha256(real);
            stub.on("GET /v2/library/bad/manifests/" + digest, x -> {
                x.getResponseHeaders().add("Docker-Content-Digest", digest);
                byte[] tampered = (new String(real) + "\n").getBytes(); // one more byte: another digest
                StubUpstream.send(x, 200, OCI_MANIFEST, tampered);
            });
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                OciClient client = new OciClient(cairn);
                HttpResponse<byte[]> bad = client.get("/v2/hub/library/bad/manifests/v1", "Accept", ACCEPT);
                assertThat(bad.statusCode()).as(OciClient.text(bad)).isBetween(500, 599).isNotEqualTo(500);
                HttpResponse<byte[]> good = client.get("/v2/hub/library/good/manifests/v1", "Accept", ACCEPT);
                assertThat(good.statusCode()).as("an image the upstream serves well, right after: " + OciClient.text(good)).isEqualTo(200);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 3. Wrong bytes for a blob, with and without a Content-Length: never served whole, never stored, a clear answer.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void aBlobWithWrongBytesIsNeitherServedWholeNorStoredAndTheClientIsToldTheUpstreamFailed() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] good = SeededBytes.of(200_000, 4);
            byte[] wrong = SeededBytes.of(200_000, 5);
            String digest = OciClient.sha256(good);
            stub.on("GET /v2/library/app/blobs/" + digest, x -> StubUpstream.send(x, 200, "application/octet-stream", wrong));
            String chunkedDigest = OciClient.sha256(SeededBytes.of(1000, 6));
            stub.on("GET /v2/library/app/blobs/" + chunkedDigest, x -> {
                x.sendResponseHeaders(200, 0); // chunked: no Content-Length
                try (OutputStream out = x.getResponseBody()) {
                    out.write(wrong);
                }
            });
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                String base = "http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/";
                Outcome first = rawGet(base + digest);
                assertThat(first.body() == null || !OciClient.sha256(first.body()).equals(OciClient.sha256(wrong)))
                        .as("the wrong bytes are not handed out whole: " + first).isTrue();
                Outcome chunked = rawGet(base + chunkedDigest);
                Thread.sleep(500);
                Outcome again = rawGet(base + digest);
                assertThat(again.body() == null || !OciClient.sha256(again.body()).equals(OciClient.sha256(wrong))).as("nor later").isTrue();
                assertThat(stub.count("GET /v2/library/app/blobs/" + digest)).as("nothing stored: fetched again").isEqualTo(2);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(chunked.status()).as("the upstream's fault, not the client's: " + chunked.status() + " "
                        + (chunked.body() == null ? chunked.failure() : new String(chunked.body()))).isIn(502, 503);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 4. Security: a blob on its way in from one mirror's (private) upstream, asked for under another mirror's prefix.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void aBlobFetchedForOneMirrorIsNotHandedToAClientOfAnotherMirrorWhoseUpstreamLacksIt(@TempDir Path dir) throws Exception {
        byte[] secret = SeededBytes.of(2 << 20, 7);
        String digest = OciClient.sha256(secret);
        try (StubUpstream priv = new StubUpstream(); StubUpstream hub = new StubUpstream()) {
            // the private upstream holds the blob and sends it slowly (a large layer over a real network)
            priv.on("GET /v2/team/app/blobs/" + digest, x -> {
                x.sendResponseHeaders(200, secret.length);
                try (OutputStream out = x.getResponseBody()) {
                    for (int off = 0; off < secret.length; off += 256 << 10) {
                        out.write(secret, off, Math.min(256 << 10, secret.length - off));
                        out.flush();
                        Thread.sleep(400);
                    }
                }
            });
            Path htpasswd = TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("alice", "alice-secret", "mallory", "mallory-secret"));
            Map<String, String> settings = new LinkedHashMap<>(mirrors("priv", priv.url(), "hub", hub.url()));
            settings.put("auth.mode", "basic");
            settings.put("auth.htpasswd", htpasswd.toString());
            settings.put("auth.rules", "[{users: [alice], repositories: 'priv/**', actions: [pull]}, {users: [mallory], repositories: 'hub/**', actions: [pull]}]");
            try (RunningCairn cairn = RunningCairn.start(settings)) {
                String alice = TestUsers.basic("alice", "alice-secret");
                String mallory = TestUsers.basic("mallory", "mallory-secret");
                OciClient client = new OciClient(cairn);
                assertThat(client.get("/v2/priv/team/app/blobs/" + digest, "Authorization", mallory).statusCode())
                        .as("mallory may not read priv/**").isIn(401, 403);
                CompletableFuture<Outcome> alicesPull = CompletableFuture.supplyAsync(() ->
                        rawGet("http://" + cairn.hostPort() + "/v2/priv/team/app/blobs/" + digest, "Authorization", alice));
                Thread.sleep(800);
                Outcome mallorys = rawGet("http://" + cairn.hostPort() + "/v2/hub/anything/blobs/" + digest, "Authorization", mallory);
                assertThat(alicesPull.get().status()).isEqualTo(200);
                assertThat(hub.count("/blobs/" + digest)).as("hub's upstream was asked: " + hub.requests).isGreaterThanOrEqualTo(0);
                HttpResponse<byte[]> later = client.get("/v2/hub/anything/blobs/" + digest, "Authorization", mallory);
                boolean gotIt = mallorys.body() != null && OciClient.sha256(mallorys.body()).equals(digest);
                boolean linked = later.statusCode() == 200 && OciClient.sha256(later.body()).equals(digest);
                assertThat(gotIt).as("mallory got the private upstream's blob under hub/ (status " + mallorys.status() + ")").isFalse();
                assertThat(linked).as("and it stays linked under hub/anything").isFalse();
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 5. A client that hangs up mid-blob: the fetch goes on and stores the blob; no scratch file or descriptor left.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void aClientThatHangsUpMidBlobLeavesTheFetchToFinishAndNothingBehind() throws Exception {
        byte[] layer = SeededBytes.of(4 << 20, 8);
        String digest = OciClient.sha256(layer);
        try (StubUpstream stub = new StubUpstream()) {
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.sendResponseHeaders(200, layer.length);
                try (OutputStream out = x.getResponseBody()) {
                    for (int off = 0; off < layer.length; off += 512 << 10) {
                        out.write(layer, off, Math.min(512 << 10, layer.length - off));
                        out.flush();
                        Thread.sleep(200);
                    }
                }
            });
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                for (int i = 0; i < 5; i++) {
                    java.net.HttpURLConnection c = (java.net.HttpURLConnection) URI.create("http://" + cairn.hostPort()
                            + "/v2/hub/library/app/blobs/" + digest).toURL().openConnection();
                    try (InputStream in = c.getInputStream()) {
                        in.readNBytes(100_000);
                    }
                    c.disconnect();
                }
                long deadline = System.nanoTime() + 20_000_000_000L;
                HttpResponse<byte[]> whole;
                do {
                    Thread.sleep(300);
                    whole = new OciClient(cairn).head("/v2/hub/library/app/blobs/" + digest);
                } while (!scratchFiles(cairn).isEmpty() && System.nanoTime() < deadline);
                Thread.sleep(1000);
                HttpResponse<byte[]> got = new OciClient(cairn).get("/v2/hub/library/app/blobs/" + digest);
                assertThat(OciClient.sha256(got.body())).isEqualTo(digest);
                assertThat(stub.count("GET /v2/library/app/blobs/" + digest)).as("one fetch").isEqualTo(1);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(openScratchDescriptors()).as("descriptors on scratch files").isZero();
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 6. An upstream that announces more than it sends and closes: the blob's bytes are all right, its length is not.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void anUpstreamThatAnnouncesMoreThanItSendsNeitherStoresNorServesAShortBlob() throws Exception {
        byte[] layer = SeededBytes.of(300_000, 9);
        String digest = OciClient.sha256(layer);
        byte[] truncated = java.util.Arrays.copyOf(layer, 150_000);
        String truncatedDigest = OciClient.sha256(SeededBytes.of(300_000, 10));
        try (StubUpstream stub = new StubUpstream()) {
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.sendResponseHeaders(200, layer.length + 1000);
                x.getResponseBody().write(layer);
                x.getResponseBody().flush();
                throw new IOException("hang up");
            });
            stub.on("GET /v2/library/app/blobs/" + truncatedDigest, x -> {
                x.sendResponseHeaders(200, 300_000);
                x.getResponseBody().write(truncated);
                x.getResponseBody().flush();
                throw new IOException("hang up");
            });
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                String base = "http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/";
                Outcome first = rawGet(base + digest);
                Outcome second = rawGet(base + truncatedDigest);
                assertThat(second.body() == null || second.status() != 200).as("a truncated blob is not served as whole: " + second).isTrue();
                Thread.sleep(1000);
                Outcome third = rawGet(base + digest);
                assertThat(first.status() == 200 && first.body() != null ? OciClient.sha256(first.body()) : digest)
                        .as("if served as a 200, it is the blob: " + first.failure()).isEqualTo(digest);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 7. Redirects: to another loopback port (followed: where to?), to file:, in a loop.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void redirectsToOtherHostsOtherSchemesAndInALoopEndInAClearAnswer() throws Exception {
        byte[] layer = SeededBytes.of(50_000, 11);
        String digest = OciClient.sha256(layer);
        String fileDigest = OciClient.sha256(SeededBytes.of(10, 12));
        String loopDigest = OciClient.sha256(SeededBytes.of(10, 13));
        try (StubUpstream stub = new StubUpstream(); StubUpstream elsewhere = new StubUpstream()) {
            elsewhere.on("GET /internal/admin", x -> StubUpstream.send(x, 200, "application/octet-stream", layer));
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Location", elsewhere.url() + "/internal/admin");
                x.sendResponseHeaders(307, -1);
            });
            stub.on("GET /v2/library/app/blobs/" + fileDigest, x -> {
                x.getResponseHeaders().add("Location", "file:///etc/passwd");
                x.sendResponseHeaders(302, -1);
            });
            stub.on("GET /v2/library/app/blobs/" + loopDigest, x -> {
                x.getResponseHeaders().add("Location", "/v2/library/app/blobs/" + loopDigest);
                x.sendResponseHeaders(302, -1);
            });
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                OciClient client = new OciClient(cairn);
                HttpResponse<byte[]> followed = client.get("/v2/hub/library/app/blobs/" + digest);
                HttpResponse<byte[]> loop = client.get("/v2/hub/library/app/blobs/" + loopDigest);
                assertThat(loop.statusCode()).as("loop " + OciClient.text(loop)).isIn(502, 503);
                HttpResponse<byte[]> file = client.get("/v2/hub/library/app/blobs/" + fileDigest);
                assertThat(file.statusCode()).as("file: " + OciClient.text(file)).isIn(502, 503);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 8. A huge manifest: a clear refusal, nothing stored.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void aHugeManifestIsRefusedClearly() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            StringBuilder big = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"annotations\":{\"x\":\"");
            big.append("a".repeat(20 << 20)).append("\"},\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"")
                    .append(OciClient.sha256(new byte[0])).append("\",\"size\":0},\"layers\":[]}");
            stub.manifest("library/huge", "v1", OCI_MANIFEST, big.toString().getBytes());
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                HttpResponse<byte[]> r = new OciClient(cairn).get("/v2/hub/library/huge/manifests/v1", "Accept", ACCEPT);
                assertThat(r.statusCode()).as(OciClient.text(r)).isIn(502, 503);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 9. HEAD then GET of a cold blob, and a Range GET of a cold blob.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void headThenGetAndARangeOfAColdBlob() throws Exception {
        byte[] layer = SeededBytes.of(1 << 20, 14);
        byte[] other = SeededBytes.of(1 << 20, 15);
        try (StubUpstream stub = new StubUpstream()) {
            stub.blob("library/app", layer);
            stub.blob("library/app", other);
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                OciClient client = new OciClient(cairn);
                HttpResponse<byte[]> head = client.head("/v2/hub/library/app/blobs/" + OciClient.sha256(layer));
                assertThat(head.statusCode()).isEqualTo(200);
                assertThat(head.headers().firstValueAsLong("Content-Length").orElse(-1)).isEqualTo(layer.length);
                HttpResponse<byte[]> get = client.get("/v2/hub/library/app/blobs/" + OciClient.sha256(layer));
                assertThat(OciClient.sha256(get.body())).isEqualTo(OciClient.sha256(layer));
                HttpResponse<byte[]> range = client.get("/v2/hub/library/app/blobs/" + OciClient.sha256(other), "Range", "bytes=1000-1999");
                assertThat(range.statusCode()).isIn(200, 206);
                if (range.statusCode() == 206) assertThat(range.body()).isEqualTo(java.util.Arrays.copyOfRange(other, 1000, 2000));
                else assertThat(range.body()).isEqualTo(other);
                assertThat(stub.count("GET /v2/library/app/blobs/")).isEqualTo(2);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 10. Retention: a mirrored manifest whose blobs are not all here, evicted under a tiny budget while cold pulls
    //     run and the collector runs again and again; the audit log; a re-pull after eviction.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void mirroredImagesUnderATinyBudgetWithTheCollectorRunningMeanwhile() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] missingLayer = SeededBytes.of(300_000, 31);
            byte[] partial = image(stub, "library/partial", "v1", SeededBytes.of(300_000, 30), missingLayer);
            stub.on("GET /v2/library/partial/blobs/" + OciClient.sha256(missingLayer), x -> StubUpstream.send(x, 404, "application/json", "{}".getBytes()));
            List<byte[]> images = new ArrayList<>();
            for (int i = 0; i < 8; i++) images.add(image(stub, "library/img" + i, "v1", SeededBytes.of(250_000, 40 + i), SeededBytes.of(100_000, 60 + i)));
            Map<String, String> settings = new LinkedHashMap<>(mirrors("hub", stub.url()));
            settings.putAll(Map.of("retention.max-bytes", "1000000", "retention.grace", "1s", "retention.gc-interval", "1h",
                    "retention.untagged", "keep"));
            try (RunningCairn cairn = RunningCairn.start(settings)) {
                OciClient client = new OciClient(cairn);
                assertThat(client.get("/v2/hub/library/partial/manifests/v1", "Accept", ACCEPT).statusCode()).isEqualTo(200);
                Thread.sleep(1500);
                var collected = OciClient.json(client.post("/api/v1/gc", new byte[0]));
                java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
                List<String> collectorFailures = new java.util.concurrent.CopyOnWriteArrayList<>();
                Thread collector = Thread.ofPlatform().start(() -> {
                    while (!stop.get()) {
                        try {
                            cairn.node().keeper().collect(false);
                            Thread.sleep(100);
                        } catch (Exception e) {
                            collectorFailures.add(e.toString());
                        }
                    }
                });
                List<String> pullFailures = new ArrayList<>();
                try {
                    for (int round = 0; round < 2; round++) {
                        ExecutorService pool = Executors.newFixedThreadPool(4);
                        List<Future<String>> pulls = new ArrayList<>();
                        for (int i = 0; i < images.size(); i++) {
                            int n = i;
                            pulls.add(pool.submit(() -> {
                                OciClient c = new OciClient(cairn);
                                HttpResponse<byte[]> m = c.get("/v2/hub/library/img" + n + "/manifests/v1", "Accept", ACCEPT);
                                if (m.statusCode() != 200) return "img" + n + " manifest " + m.statusCode() + " " + OciClient.text(m);
                                var doc = OciClient.json(m);
                                List<String> blobs = new ArrayList<>(List.of(doc.path("config").path("digest").asText()));
                                doc.path("layers").forEach(l -> blobs.add(l.path("digest").asText()));
                                for (String b : blobs) {
                                    HttpResponse<byte[]> got = c.get("/v2/hub/library/img" + n + "/blobs/" + b);
                                    if (got.statusCode() != 200 || !OciClient.sha256(got.body()).equals(b)) {
                                        return "img" + n + " blob " + b + " " + got.statusCode() + " " + (got.statusCode() == 200 ? "wrong bytes" : OciClient.text(got));
                                    }
                                }
                                return null;
                            }));
                        }
                        for (Future<String> f : pulls) if (f.get() != null) pullFailures.add(f.get());
                        pool.shutdown();
                        Thread.sleep(1200);
                    }
                } finally {
                    stop.set(true);
                    collector.join();
                }
                var stats = OciClient.json(client.get("/api/v1/stats"));
                var audit = dev.cairn.testing.AuditTrail.read(cairn.dataDir());
                for (var e : audit.entries()) assertThat(dev.cairn.testing.AuditTrail.REASONS).contains(e.reason());
                assertThat(pullFailures).isEmpty();
                assertThat(collectorFailures).isEmpty();
                assertThat(stats.path("collector").path("state").asText()).isEqualTo("ok");
                Thread.sleep(1500);
                var last = OciClient.json(client.post("/api/v1/gc", new byte[0]));
                assertThat(cairn.node().keeper().storedBytes()).as("within the budget after a collection").isLessThanOrEqualTo(1_000_000);
                // a re-pull of what was evicted
                Thread.sleep(1500);
                cairn.node().keeper().collect(false);
                HttpResponse<byte[]> again = client.get("/v2/hub/library/img0/manifests/v1", "Accept", ACCEPT);
                assertThat(again.statusCode()).isEqualTo(200);
                var doc = OciClient.json(again);
                for (var l : doc.path("layers")) {
                    HttpResponse<byte[]> got = client.get("/v2/hub/library/img0/blobs/" + l.path("digest").asText());
                    assertThat(OciClient.sha256(got.body())).isEqualTo(l.path("digest").asText());
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 11. An index whose children the upstream lacks; a tag HEAD that never answers.
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void anIndexWhoseChildTheUpstreamLacksAndAnUpstreamThatNeverAnswers() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            String child = OciClient.sha256("{\"nope\":1}".getBytes());
            Map<String, Object> d = OciClient.descriptor(OCI_MANIFEST, child, 11);
            d.put("platform", Map.of("architecture", "amd64", "os", "linux"));
            byte[] index = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(d)));
            stub.manifest("library/multi", "latest", OCI_INDEX, index);
            stub.on("HEAD /v2/library/hang/manifests/v1", x -> Thread.sleep(120_000));
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                OciClient client = new OciClient(cairn);
                assertThat(client.get("/v2/hub/library/multi/manifests/latest", "Accept", ACCEPT).statusCode()).isEqualTo(200);
                HttpResponse<byte[]> missing = client.get("/v2/hub/library/multi/manifests/" + child, "Accept", ACCEPT);
                assertThat(missing.statusCode()).as(OciClient.text(missing)).isEqualTo(404);
                assertThat(OciClient.errorCode(missing)).isEqualTo("MANIFEST_UNKNOWN");
                long started = System.nanoTime();
                HttpResponse<byte[]> hung = client.get("/v2/hub/library/hang/manifests/v1", "Accept", ACCEPT);
                long ms = (System.nanoTime() - started) / 1_000_000;
                assertThat(hung.statusCode()).isEqualTo(503);
                assertThat(ms).isLessThan(40_000);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // 12. A HEAD of a cold tag (what digest checkers do: Renovate, Watchtower, crane digest): what does it cost upstream?
    // ---------------------------------------------------------------------------------------------------------
    @Test
    void aHeadOfAColdTagCostsTheUpstreamNoManifestGetAndNoLayers() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            image(stub, "library/app", "v1", SeededBytes.of(1 << 20, 50), SeededBytes.of(1 << 20, 51));
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                HttpResponse<byte[]> head = new OciClient(cairn).head("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT);
                assertThat(head.statusCode()).isEqualTo(200);
                Thread.sleep(2000);
                assertThat(stub.count("GET /v2/library/app/blobs/")).as("layers downloaded for a HEAD").isZero();
                assertThat(stub.count("GET /v2/library/app/manifests/")).as("manifest GETs (counted pulls on Docker Hub) for a HEAD").isZero();
            }
        }
    }
}
