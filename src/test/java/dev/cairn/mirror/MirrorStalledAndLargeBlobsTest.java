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
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.cairn.mirror.MirrorUpstreamFaultsTest.Outcome;
import static dev.cairn.mirror.MirrorUpstreamFaultsTest.mirrors;
import static dev.cairn.mirror.MirrorUpstreamFaultsTest.rawGet;
import static dev.cairn.mirror.MirrorUpstreamFaultsTest.scratchFiles;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * An upstream that stalls mid-body (ended by the upstream client's 30 s read timeout), a large blob read cold by 20 at once, clients that hang
 * up in the middle of one (written by a reviewer).
 */
class MirrorStalledAndLargeBlobsTest {
    @Test
    void anUpstreamThatStallsMidBodyEndsEveryReaderShortAndTheNextFetchIsWhole() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] real = SeededBytes.of(2 << 20, 21);
            String digest = OciClient.sha256(real);
            AtomicInteger served = new AtomicInteger();
            stub.on("GET /v2/library/app/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Content-Type", "application/octet-stream");
                x.sendResponseHeaders(200, real.length);
                try (OutputStream out = x.getResponseBody()) {
                    if (served.getAndIncrement() == 0) {
                        out.write(real, 0, real.length / 2);
                        out.flush();
                        Thread.sleep(60_000);
                    }
                    out.write(real);
                }
            });
            long threadsBefore = MirrorFetchEdgesTest.mirrorThreads();
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                String url = "http://" + cairn.hostPort() + "/v2/hub/library/app/blobs/" + digest;
                ExecutorService pool = Executors.newFixedThreadPool(5);
                List<Future<Outcome>> all = new ArrayList<>();
                long started = System.nanoTime();
                for (int i = 0; i < 5; i++) all.add(pool.submit(() -> rawGet(url)));
                List<String> seen = new ArrayList<>();
                for (Future<Outcome> f : all) {
                    Outcome o = f.get(60, TimeUnit.SECONDS);
                    seen.add(o.status() + " " + (o.failure() != null ? "cut" : o.body().length + " bytes"));
                    if (o.status() == 200 && o.failure() == null) assertThat(OciClient.sha256(o.body())).as(seen.toString()).isEqualTo(digest);
                }
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                pool.shutdown();
                System.out.println("stalled upstream: " + seen + " after " + ms + " ms");
                assertThat(ms).as("the upstream client's read timeout (30 s) ended it").isLessThan(45_000);
                Outcome again = rawGet(url);
                assertThat(again.status()).isEqualTo(200);
                assertThat(OciClient.sha256(again.body())).isEqualTo(digest);
                Thread.sleep(500);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(MirrorFetchEdgesTest.stagingFiles(cairn)).isEmpty();
                assertThat(MirrorFetchEdgesTest.mirrorThreads()).isEqualTo(threadsBefore);
            }
        }
    }

    /** A blob of 64 MiB, cold, read by 20 clients at once: one upstream read, every body whole, nothing left. */
    @Test
    void aBigColdBlobReadByTwentyAtOnce() throws Exception {
        byte[] real = SeededBytes.of(64 << 20, 22);
        String digest = OciClient.sha256(real);
        try (StubUpstream stub = new StubUpstream()) {
            stub.on("GET /v2/library/big/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Content-Type", "application/octet-stream");
                x.sendResponseHeaders(200, real.length);
                try (OutputStream out = x.getResponseBody()) {
                    for (int at = 0; at < real.length; at += 1 << 20) out.write(real, at, Math.min(1 << 20, real.length - at));
                }
            });
            long threadsBefore = MirrorFetchEdgesTest.mirrorThreads();
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                URI uri = URI.create("http://" + cairn.hostPort() + "/v2/hub/library/big/blobs/" + digest);
                ExecutorService pool = Executors.newFixedThreadPool(20);
                List<Future<String>> all = new ArrayList<>();
                long started = System.nanoTime();
                for (int i = 0; i < 20; i++) {
                    all.add(pool.submit(() -> {
                        HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(60)).build(),
                                HttpResponse.BodyHandlers.ofInputStream());
                        MessageDigest sha = MessageDigest.getInstance("SHA-256");
                        long n = 0;
                        try (InputStream in = r.body()) {
                            byte[] buf = new byte[1 << 16];
                            int k;
                            while ((k = in.read(buf)) >= 0) {
                                sha.update(buf, 0, k);
                                n += k;
                            }
                        }
                        String got = "sha256:" + HexFormat.of().formatHex(sha.digest());
                        return r.statusCode() == 200 && got.equals(digest) ? null : r.statusCode() + " " + n + " bytes " + got;
                    }));
                }
                List<String> wrong = new ArrayList<>();
                for (Future<String> f : all) {
                    try {
                        String w = f.get(240, TimeUnit.SECONDS);
                        if (w != null) wrong.add(w);
                    } catch (Exception e) {
                        wrong.add(e.toString());
                    }
                }
                pool.shutdownNow();
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                Runtime rt = Runtime.getRuntime();
                System.out.println("64 MiB x 20 cold: " + ms + " ms, heap used " + ((rt.totalMemory() - rt.freeMemory()) >> 20) + " MiB, failures " + wrong);
                assertThat(wrong).isEmpty();
                assertThat(stub.count("GET /v2/library/big/blobs/")).isEqualTo(1);
                Thread.sleep(1000);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(MirrorUpstreamFaultsTest.openScratchDescriptors()).isZero();
                assertThat(MirrorFetchEdgesTest.mirrorThreads()).isEqualTo(threadsBefore);
            }
        }
    }

    /** Clients hanging up a few MiB into a 64 MiB cold blob: the fetch and the store still finish, the blob is kept whole. */
    @Test
    void clientsThatHangUpMidBigColdBlobLeaveItStoredWhole() throws Exception {
        byte[] real = SeededBytes.of(64 << 20, 23);
        String digest = OciClient.sha256(real);
        try (StubUpstream stub = new StubUpstream()) {
            stub.on("GET /v2/library/big/blobs/" + digest, x -> {
                x.getResponseHeaders().add("Content-Type", "application/octet-stream");
                x.sendResponseHeaders(200, real.length);
                try (OutputStream out = x.getResponseBody()) {
                    for (int at = 0; at < real.length; at += 1 << 20) {
                        out.write(real, at, Math.min(1 << 20, real.length - at));
                        out.flush();
                        Thread.sleep(30);
                    }
                }
            });
            long threadsBefore = MirrorFetchEdgesTest.mirrorThreads();
            try (RunningCairn cairn = RunningCairn.start(mirrors("hub", stub.url()))) {
                URI uri = URI.create("http://" + cairn.hostPort() + "/v2/hub/library/big/blobs/" + digest);
                for (int i = 0; i < 5; i++) {
                    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                    HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofInputStream());
                    try (InputStream in = r.body()) {
                        in.readNBytes((i + 1) << 20);
                    }
                    http.shutdownNow();
                }
                Thread.sleep(5_000);
                Outcome whole = rawGet(uri.toString());
                assertThat(whole.status()).isEqualTo(200);
                assertThat(OciClient.sha256(whole.body())).isEqualTo(digest);
                assertThat(stub.count("GET /v2/library/big/blobs/")).as("fetched once, for the ones that hung up too").isEqualTo(1);
                Thread.sleep(500);
                assertThat(scratchFiles(cairn)).isEmpty();
                assertThat(MirrorFetchEdgesTest.stagingFiles(cairn)).isEmpty();
                assertThat(MirrorUpstreamFaultsTest.openScratchDescriptors()).isZero();
                assertThat(MirrorFetchEdgesTest.mirrorThreads()).isEqualTo(threadsBefore);
            }
        }
    }
}
