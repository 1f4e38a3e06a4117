package dev.cairn.mirror;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/** What requests sharing one check or fetch of the upstream do to each other and to the counts (a reviewer's tests; both failed on 8c5801a). */
class MirrorSharedChecksTest {
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX;

    /**
     * Ten cold pulls of one tag share one HEAD upstream, which fails: one upstream failure in /api/v1/stats (and in the
     * metric and the log), where each request that shared it once counted it again.
     */
    @Test
    void oneFailedCheckSharedByTenPullsCountsAsOneUpstreamFailure() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            MirrorUpstreamFaultsTest.image(stub, "library/app", "v1", SeededBytes.of(5_000, 7));
            stub.on("HEAD /v2/library/app/manifests/v1", x -> {
                Thread.sleep(800);
                StubUpstream.send(x, 503, "application/json", "{}".getBytes());
            });
            try (RunningCairn cairn = RunningCairn.start(MirrorUpstreamFaultsTest.mirrors("hub", stub.url()))) {
                ExecutorService pool = Executors.newFixedThreadPool(10);
                try {
                    List<Future<Integer>> all = new ArrayList<>();
                    for (int i = 0; i < 10; i++) {
                        all.add(pool.submit(() -> new OciClient(cairn).get("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT).statusCode()));
                    }
                    for (Future<Integer> f : all) assertThat(f.get()).isEqualTo(503);
                } finally {
                    pool.shutdownNow();
                }
                assertThat(stub.count("HEAD /v2/library/app/manifests/v1")).as("one check upstream").isEqualTo(1);
                var stats = OciClient.json(new OciClient(cairn).get("/api/v1/stats")).path("mirrors").get(0);
                assertThat(stats.path("upstreamFailures").asLong()).as("one upstream request failed: " + stats).isEqualTo(1);
            }
        }
    }

    /**
     * A tag's check needs only the digest the upstream's HEAD states. describe() now also wants a Content-Type and a
     * Content-Length on the HEAD, and without them falls back to a manifest GET: against an upstream whose HEAD says
     * only Docker-Content-Digest, every check after the TTL is a manifest GET (a counted pull on Docker Hub), which
     * before 8c5801a was a HEAD alone.
     */
    @Test
    void aTagCheckAgainstAHeadThatStatesOnlyTheDigestCostsNoManifestGet() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            byte[] manifest = MirrorUpstreamFaultsTest.image(stub, "library/app", "v1", SeededBytes.of(5_000, 8));
            String digest = OciClient.sha256(manifest);
            stub.on("HEAD /v2/library/app/manifests/v1", x -> {
                x.getResponseHeaders().add("Docker-Content-Digest", digest);
                x.sendResponseHeaders(200, -1);
            });
            Map<String, String> settings = Map.of("mirrors", "[{prefix: hub, upstream: '" + stub.url() + "', ttl: 1s, max-stale: 1h}]");
            try (RunningCairn cairn = RunningCairn.start(settings)) {
                OciClient client = new OciClient(cairn);
                assertThat(client.get("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT).statusCode()).isEqualTo(200);
                long getsAfterFirstPull = stub.count("GET /v2/library/app/manifests/v1");
                for (int i = 0; i < 3; i++) {
                    Thread.sleep(1_500);
                    assertThat(client.get("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT).statusCode()).isEqualTo(200);
                }
                assertThat(stub.count("HEAD /v2/library/app/manifests/v1")).as("three checks after the TTL").isGreaterThanOrEqualTo(4);
                assertThat(stub.count("GET /v2/library/app/manifests/v1") - getsAfterFirstPull)
                        .as("manifest GETs of the tag for three checks of an unchanged tag: " + stub.requests).isZero();
            }
        }
    }
}
