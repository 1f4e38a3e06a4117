package dev.cairn.mirror;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

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
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static dev.cairn.mirror.MirrorUpstreamFaultsTest.Outcome;
import static dev.cairn.mirror.MirrorUpstreamFaultsTest.mirrors;
import static dev.cairn.mirror.MirrorUpstreamFaultsTest.rawGet;
import static dev.cairn.mirror.MirrorUpstreamFaultsTest.scratchFiles;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The mirror's blob fetches at their edges, from a review that tried to break them (written by the reviewer): an
 * upstream that sends an empty body or more than it announced, the local store failing while readers read, a
 * thousand cold reads of one blob; each ends with every body whole or cut short, one upstream read, nothing left.
 */
class MirrorFetchEdgesTest {

    static long mirrorThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("cairn-mirror-fetch") || t.getName().startsWith("cairn-mirror-store")).count();
    }

    static List<Path> stagingFiles(RunningCairn cairn) throws Exception {
        List<Path> found = new ArrayList<>();
        try (var walk = Files.walk(cairn.dataDir())) {
            walk.filter(p -> p.getParent() != null && p.getParent().getFileName().toString().equals("tmp") && Files.isRegularFile(p))
                    .forEach(found::add);
        }
        return found;
    }

    /**
     * An upstream that answers 200 with Content-Length: 0 for a blob that is not empty: the client must not get a
     * 200 with a complete (empty) body for that digest, which it would take for the whole blob.
     */
    @Test
    void anUpstreamThatAnswersAnEmptyBodyForANonEmptyBlobIsNotServedAsWhole() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] real = SeededBytes.of(100_000, 7);
            String digest = OciClient.sha256(real);
            stub.on("GET /v2/library/app/blobs/" + digest, x -> StubUpstream.send(x, 200, "application/octet-stream", new byte[0]));
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                String url = "http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/" + digest;
                Outcome got = rawGet(url);
                Thread.sleep(300);
                Outcome again = rawGet(url);
                assertThat(got.status() == 200 && got.failure() == null && got.body().length == 0)
                        .as("a 200 with a whole empty body for " + digest + " (status " + got.status() + ", failure " + got.failure() + ")")
                        .isFalse();
                assertThat(again.status() == 200 && again.failure() == null && again.body().length == 0)
                        .as("nor the second time (status " + again.status() + ")").isFalse();
                assertThat(scratchFiles(cairn)).isEmpty();
            }
        }
    }

    /** An upstream that announces one byte less than it sends (and sends the whole blob): never served as whole. */
    @Test
    void anUpstreamThatSendsMoreThanItsContentLengthIsNotServedAsWhole() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] real = SeededBytes.of(300_000, 8);
            String digest = OciClient.sha256(real);
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Content-Type", "application/octet-stream");
                x.sendResponseHeaders(200, real.length - 1);
                OutputStream out = x.getResponseBody();
                try {
                    out.write(real);
                } catch (Exception e) {
                    // the server refuses more than it announced
                }
                out.close();
            });
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                String url = "http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/" + digest;
                Outcome got = rawGet(url);
                if (got.status() == 200 && got.failure() == null) {
                    assertThat(OciClient.sha256(got.body())).as("a whole body must be the blob").isEqualTo(digest);
                }
                Thread.sleep(300);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(stagingFiles(cairn)).isEmpty();
            }
        }
    }

    /**
     * The store fails (a budget smaller than the blob) while 10 readers read it cold: each gets the whole blob or a
     * clean failure, never other bytes presented as whole; no scratch or staging file is left; no thread left.
     */
    @Test
    void theStoreFailingWhileReadersReadGivesThemTheBlobOrACleanFailure() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] real = SeededBytes.of(3 << 20, 9);
            String digest = OciClient.sha256(real);
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Content-Type", "application/octet-stream");
                x.sendResponseHeaders(200, real.length);
                try (OutputStream out = x.getResponseBody()) {
                    for (int at = 0; at < real.length; at += 64 << 10) {
                        out.write(real, at, Math.min(64 << 10, real.length - at));
                        out.flush();
                        Thread.sleep(5);
                    }
                }
            });
            Map<String, String> settings = new LinkedHashMap<>(mirrors("hub", stub.url()));
            settings.put("retention.max-bytes", "100000");
            long threadsBefore = mirrorThreads();
            try (RunningCairn cairn = RunningCairn.start(settings)) {
                String url = "http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/" + digest;
                ExecutorService pool = Executors.newFixedThreadPool(10);
                List<Future<Outcome>> all = new ArrayList<>();
                for (int i = 0; i < 10; i++) all.add(pool.submit(() -> rawGet(url)));
                List<String> seen = new ArrayList<>();
                for (Future<Outcome> f : all) {
                    Outcome o = f.get(120, TimeUnit.SECONDS);
                    seen.add(o.status() + " " + (o.failure() != null ? "cut: " + o.failure() : o.body().length + " bytes"));
                    if (o.status() == 200 && o.failure() == null) {
                        assertThat(OciClient.sha256(o.body())).as("a whole 200 body is the blob: " + seen).isEqualTo(digest);
                    }
                }
                pool.shutdown();
                Thread.sleep(1000);
                assertThat(scratchFiles(cairn)).as("scratch: " + seen).isEmpty();
                assertThat(stagingFiles(cairn)).as("staging").isEmpty();
                assertThat(MirrorUpstreamFaultsTest.openScratchDescriptors()).isZero();
                assertThat(mirrorThreads()).as("fetch/store threads left").isEqualTo(threadsBefore);
                System.out.println("store-failure outcomes: " + seen + " upstream GETs " + stub.count("GET /v2/library/app/blobs/"));
            }
        }
    }

    /** A thousand requests for one cold blob at once: one upstream read, every body whole, nothing left behind. */
    @Test
    void aThousandColdReadsOfOneBlob() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] real = SeededBytes.of(2 << 20, 10);
            String digest = OciClient.sha256(real);
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Content-Type", "application/octet-stream");
                x.sendResponseHeaders(200, real.length);
                try (OutputStream out = x.getResponseBody()) {
                    for (int at = 0; at < real.length; at += 256 << 10) {
                        out.write(real, at, Math.min(256 << 10, real.length - at));
                        out.flush();
                        Thread.sleep(20);
                    }
                }
            });
            long threadsBefore = mirrorThreads();
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                URI uri = URI.create("http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/" + digest);
                ConcurrentLinkedQueue<String> wrong = new ConcurrentLinkedQueue<>();
                long started = System.nanoTime();
                // each body streamed and hashed as it comes (a thousand bodies held at once would be the test's own OOM)
                try (ExecutorService readers = Executors.newVirtualThreadPerTaskExecutor()) {
                    for (int i = 0; i < 1000; i++) {
                        readers.submit(() -> {
                            try {
                                HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(120)).build(),
                                        HttpResponse.BodyHandlers.ofInputStream());
                                java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
                                long n = 0;
                                try (InputStream in = r.body()) {
                                    byte[] buf = new byte[16 << 10];
                                    int k;
                                    while ((k = in.read(buf)) >= 0) {
                                        sha.update(buf, 0, k);
                                        n += k;
                                    }
                                }
                                String got = "sha256:" + java.util.HexFormat.of().formatHex(sha.digest());
                                if (r.statusCode() != 200) wrong.add("status " + r.statusCode());
                                else if (!got.equals(digest)) wrong.add("wrong bytes " + n);
                            } catch (Exception e) {
                                wrong.add(e.toString());
                            }
                        });
                    }
                }
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                System.out.println("1000 cold reads took " + ms + " ms; failures " + wrong.size());
                assertThat(wrong).as("first few: " + wrong.stream().limit(5).toList()).isEmpty();
                assertThat(stub.count("GET /v2/library/app/blobs/" + digest)).as("one upstream read").isEqualTo(1);
                Thread.sleep(500);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(MirrorUpstreamFaultsTest.openScratchDescriptors()).isZero();
                assertThat(mirrorThreads()).isEqualTo(threadsBefore);
            }
        }
    }

    /** An image of 400 layers pulled cold by 10 clients at once through the default mirror: each blob read upstream once. */
    @Test
    void anImageOfFourHundredLayersPulledByTenAtOnce() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[][] layers = new byte[400][];
            for (int i = 0; i < layers.length; i++) layers[i] = SeededBytes.of(8_000 + i, 100 + i);
            String digest = OciClient.sha256(MirrorUpstreamFaultsTest.image(stub, "library/many", "v1", layers));
            long threadsBefore = mirrorThreads();
            try (RunningCairn cairn = RunningCairn.start(MirrorOriginTest.defaultMirror(stub))) {
                ExecutorService pool = Executors.newFixedThreadPool(10);
                List<Future<String>> pulls = new ArrayList<>();
                for (int i = 0; i < 10; i++) pulls.add(pool.submit(() -> MirrorScaleTest.pull(new OciClient(cairn), "library/many", "v1")));
                for (Future<String> f : pulls) assertThat(f.get(300, TimeUnit.SECONDS)).isEqualTo(digest);
                pool.shutdown();
                Thread.sleep(1000);
                java.util.Map<String, Long> perBlob = new java.util.TreeMap<>();
                for (String r : stub.requests) if (r.startsWith("GET /v2/library/many/blobs/")) perBlob.merge(r, 1L, Long::sum);
                assertThat(perBlob).hasSize(401);
                assertThat(perBlob.entrySet().stream().filter(e -> e.getValue() > 1).map(Object::toString).toList())
                        .as("blobs read upstream more than once").isEmpty();
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(mirrorThreads()).isEqualTo(threadsBefore);
            }
        }
    }

    /**
     * The local store fails to keep a blob (here: a file where its directory must go, as a full or broken disk
     * would): that is this node's failure, not the upstream's, and must not make the mirror take a healthy upstream
     * for down (every cold pull answered 503 for the back-off that follows). The upstream sends the blob without a
     * Content-Length, so the readers wait for the fetch's end and hear of the store's failure.
     */
    @Test
    void aFailureOfTheLocalStoreDoesNotMakeAHealthyUpstreamTakenForDown() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] real = SeededBytes.of(500_000, 11);
            String digest = OciClient.sha256(real);
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Content-Type", "application/octet-stream");
                x.sendResponseHeaders(200, 0); // chunked
                try (OutputStream out = x.getResponseBody()) {
                    out.write(real);
                }
            });
            byte[] other = MirrorUpstreamFaultsTest.image(stub, "library/other", "v1", SeededBytes.of(10_000, 12));
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                String hex = digest.substring("sha256:".length());
                Path blocked = cairn.dataDir().resolve("blobs").resolve("sha256").resolve(hex.substring(0, 2));
                Files.createDirectories(blocked.getParent());
                Files.deleteIfExists(blocked);
                Files.write(blocked, new byte[]{0}); // the blob's directory cannot be made
                Outcome got = rawGet("http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/" + digest);
                if (got.status() == 200 && got.failure() == null) assertThat(OciClient.sha256(got.body())).isEqualTo(digest);
                // the upstream is fine: another image, cold, right after
                var m = new OciClient(cairn).get("/v2/hub/library/other/manifests/v1", "Accept", OciClient.OCI_MANIFEST);
                System.out.println("blob: " + got.status() + " " + (got.body() == null ? got.failure() : new String(got.body(), 0, Math.min(300, got.body().length)))
                        + "; then another image: " + m.statusCode() + " " + OciClient.text(m));
                assertThat(m.statusCode()).as("a cold pull of another image after the local store failed: " + OciClient.text(m)).isEqualTo(200);
                assertThat(OciClient.sha256(m.body())).isEqualTo(OciClient.sha256(other));
                Thread.sleep(300);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(stagingFiles(cairn)).isEmpty();
            }
        }
    }
}
