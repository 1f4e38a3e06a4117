package dev.cairn.mirror;

import com.sun.net.httpserver.HttpServer;
import dev.cairn.testing.DistributionRegistry;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The pull-through mirror against a real upstream, Distribution (Debian's docker-registry): a pull stores the
 * image and a second pull asks the upstream for no blob; a moved tag is seen after the TTL and not before; with the
 * upstream stopped, and with one that answers 429, a cached tag is served marked stale and an uncached one fails at
 * once with an OCI error; concurrent cold pulls make one upstream fetch per blob; an index pulls whole; a push into
 * the mirror is refused and changes nothing.
 */
class MirrorTest {
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX;

    static Map<String, String> mirrorOf(DistributionRegistry upstream, String ttl) {
        return Map.of("mirrors", "[{prefix: hub, upstream: '" + upstream.url() + "', ttl: " + ttl + ", max-stale: 1h}]");
    }

    /** Pulls an image as a client does: the manifest by tag, then its config and layers, each checked; returns the manifest's digest. */
    private static String pull(OciClient client, String repository, String tag) {
        String result = MirrorScaleTest.pull(client, repository, tag);
        assertThat(result).as("a pull of " + repository + ":" + tag).matches("sha256:[0-9a-f]{64}");
        return result;
    }

    @Test
    void aPullStoresTheImageAndTheNextPullAsksTheUpstreamForNoBlob() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); RunningCairn cairn = RunningCairn.start(mirrorOf(upstream, "1h"))) {
            OciClient up = new OciClient(upstream.hostPort());
            OciClient.Image image = up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json",
                    SeededBytes.of(600_000, 1), SeededBytes.of(300_000, 2));
            String digest = up.pushManifest("library/app", "v1", OCI_MANIFEST, image.manifest());
            OciClient client = new OciClient(cairn);

            assertThat(pull(client, "hub/library/app", "v1")).isEqualTo(digest);
            long blobReads = upstream.requests("GET /v2/library/app/blobs/");
            assertThat(blobReads).as("each blob once (the client's read and the mirror's own share one fetch)").isEqualTo(3);
            assertThat(pull(client, "hub/library/app", "v1")).isEqualTo(digest);
            assertThat(pull(client, "hub/library/app", digest)).isEqualTo(digest);
            assertThat(upstream.requests("GET /v2/library/app/blobs/")).as("the second pull reads no blob upstream").isEqualTo(blobReads);
            assertThat(upstream.requests("HEAD /v2/library/app/manifests/v1")).as("nor checks the tag within its TTL").isEqualTo(1);

            // read-only: a push, a blob upload or a deletion is refused, and nothing changes
            HttpResponse<byte[]> push = client.put("/v2/hub/library/app/manifests/v1", image.manifest(), "Content-Type", OCI_MANIFEST);
            assertThat(push.statusCode()).isEqualTo(403);
            assertThat(OciClient.errorCode(push)).isEqualTo("DENIED");
            assertThat(client.post("/v2/hub/library/app/blobs/uploads/", new byte[0]).statusCode()).isEqualTo(403);
            assertThat(client.delete("/v2/hub/library/app/manifests/" + digest).statusCode()).isEqualTo(403);
            assertThat(OciClient.sha256(client.get("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT).body())).isEqualTo(digest);
            assertThat(client.get("/v2/hub/library/none/manifests/v1", "Accept", ACCEPT).statusCode()).as("what the upstream lacks").isEqualTo(404);

            var stats = OciClient.json(client.get("/api/v1/stats")).path("mirrors").get(0);
            assertThat(stats.path("prefix").asText()).isEqualTo("hub");
            assertThat(stats.path("fetched").asLong()).isEqualTo(1);
            assertThat(stats.path("cached").asLong()).isGreaterThanOrEqualTo(2);
        }
    }

    @Test
    void aMovedTagIsSeenAfterItsTtlAndACachedOneIsServedStaleWhileTheUpstreamIsDownOrRateLimits() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); RunningCairn cairn = RunningCairn.start(mirrorOf(upstream, "2s"))) {
            OciClient up = new OciClient(upstream.hostPort());
            String first = up.pushManifest("library/app", "v1", OCI_MANIFEST,
                    up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(50_000, 1)).manifest());
            OciClient client = new OciClient(cairn);
            assertThat(pull(client, "hub/library/app", "v1")).isEqualTo(first);
            String moved = up.pushManifest("library/app", "v1", OCI_MANIFEST,
                    up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(50_000, 2)).manifest());
            assertThat(pull(client, "hub/library/app", "v1")).as("within the TTL: as cached").isEqualTo(first);
            Thread.sleep(2_500);
            assertThat(pull(client, "hub/library/app", "v1")).as("after it: moved").isEqualTo(moved);

            upstream.stop();
            Thread.sleep(2_500);
            HttpResponse<byte[]> stale = client.get("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT);
            assertThat(stale.statusCode()).isEqualTo(200);
            assertThat(OciClient.sha256(stale.body())).isEqualTo(moved);
            assertThat(stale.headers().firstValue("Cairn-Mirror-Stale")).as("marked stale").isPresent();
            long started = System.nanoTime();
            HttpResponse<byte[]> never = client.get("/v2/hub/library/other/manifests/v1", "Accept", ACCEPT);
            assertThat(never.statusCode()).isEqualTo(503);
            assertThat(OciClient.errorCode(never)).isEqualTo("UNAVAILABLE");
            assertThat(System.nanoTime() - started).as("fails fast").isLessThan(10_000_000_000L);

            // an upstream that rate-limits everything, on the same address
            HttpServer limiting = HttpServer.create(new InetSocketAddress("127.0.0.1", upstream.port()), 16);
            limiting.createContext("/", exchange -> {
                exchange.getResponseHeaders().add("Retry-After", "30");
                exchange.getResponseHeaders().add("Content-Type", "application/json");
                byte[] body = "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"pull rate limit\"}]}".getBytes();
                exchange.sendResponseHeaders(429, body.length);
                exchange.getResponseBody().write(body);
                exchange.close();
            });
            limiting.start();
            try {
                Thread.sleep(2_500);
                HttpResponse<byte[]> stillServed = client.get("/v2/hub/library/app/manifests/v1", "Accept", ACCEPT);
                assertThat(stillServed.statusCode()).isEqualTo(200);
                assertThat(stillServed.headers().firstValue("Cairn-Mirror-Stale")).isPresent();
                HttpResponse<byte[]> limited = client.get("/v2/hub/library/other/manifests/v1", "Accept", ACCEPT);
                assertThat(limited.statusCode()).isEqualTo(429);
                assertThat(OciClient.errorCode(limited)).isEqualTo("TOOMANYREQUESTS");
            } finally {
                limiting.stop(0);
            }
            String metrics = new String(client.get("/metrics").body());
            assertThat(metrics).contains("cairn_mirror_upstream_failures_total{mirror=\"hub\",reason=\"unreachable\"}")
                    .contains("cairn_mirror_upstream_failures_total{mirror=\"hub\",reason=\"rate-limited\"}")
                    .contains("cairn_mirror_manifests_total{how=\"stale\",mirror=\"hub\"}");
        }
    }

    /**
     * An upstream that lets no one in without credentials (a Cairn in token mode): the mirror pulls with the user its
     * rule names and the password from the variable it names (HOME here: a variable the test's process has), by the
     * token dance as a Docker client does it: the registry's challenge, the credentials to the token realm only, the
     * registry's requests with the bearer token (seen on a wiretap between the mirror and the upstream).
     */
    @Test
    void anUpstreamThatNeedsCredentialsIsPulledThroughWithThem(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        String password = System.getenv("HOME");
        java.nio.file.Path htpasswd = dev.cairn.testing.TestUsers.htpasswd(dir.resolve("htpasswd"), Map.of("mirror", password));
        try (RunningCairn upstream = RunningCairn.start(Map.of("auth.mode", "token", "auth.htpasswd", htpasswd.toString(),
                "auth.rules", "[{users: [mirror], repositories: 'public/**', actions: [pull]}]"))) {
            var into = new dev.cairn.transfer.NodeRegistry(upstream.node().registry());
            byte[] layer = SeededBytes.of(100_000, 21);
            byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes();
            var repository = dev.cairn.values.RepositoryName.of("public/app");
            for (byte[] blob : List.of(layer, config)) {
                into.pushBlob(repository, dev.cairn.values.Digest.sha256(blob), blob.length, new java.io.ByteArrayInputStream(blob));
            }
            byte[] manifest = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                    "config", OciClient.descriptor("application/vnd.oci.image.config.v1+json", OciClient.sha256(config), config.length),
                    "layers", List.of(OciClient.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", OciClient.sha256(layer), layer.length))));
            into.pushManifest(repository, new dev.cairn.values.Reference.ByTag(new dev.cairn.values.Tag("v1")), OCI_MANIFEST, manifest);
            assertThat(new OciClient(upstream).get("/v2/public/app/manifests/v1").statusCode()).as("the upstream wants credentials").isEqualTo(401);
            try (RunningCairn anonymous = RunningCairn.start(Map.of("mirrors", "[{prefix: tok, upstream: 'http://" + upstream.hostPort() + "'}]"))) {
                HttpResponse<byte[]> refused = new OciClient(anonymous).get("/v2/tok/public/app/manifests/v1", "Accept", ACCEPT);
                assertThat(refused.statusCode()).as("without them the upstream's refusal is a miss, as Docker Hub's for what it lacks")
                        .isEqualTo(404);
                assertThat(OciClient.errorCode(refused)).isEqualTo("MANIFEST_UNKNOWN");
                assertThat(OciClient.text(refused)).contains("401");
            }
            try (Wiretap tap = new Wiretap(upstream.hostPort());
                 RunningCairn cairn = RunningCairn.start(Map.of("mirrors", "[{prefix: tok, upstream: '" + tap.url()
                         + "', credentials: {user: mirror, password-env: HOME}}]"))) {
                assertThat(pull(new OciClient(cairn), "tok/public/app", "v1")).isEqualTo(OciClient.sha256(manifest));
                List<String> registryRequests = tap.seen.stream().filter(r -> r.contains(" /v2/")).toList();
                assertThat(registryRequests).as("the first asks without credentials and is challenged").first().asString().endsWith(" none");
                assertThat(registryRequests).as("the rest carry the token").anyMatch(r -> r.contains("/blobs/") && r.endsWith(" Bearer"));
                assertThat(registryRequests).as("the password never goes to the registry").noneMatch(r -> r.endsWith(" Basic"));
            }
        }
    }

    @Test
    void twentyColdPullsAtOnceMakeOneUpstreamFetchPerBlobAndAnIndexPullsWhole() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); RunningCairn cairn = RunningCairn.start(mirrorOf(upstream, "1h"))) {
            OciClient up = new OciClient(upstream.hostPort());
            OciClient.Image image = up.prepareImage("library/big", "application/vnd.oci.image.config.v1+json",
                    SeededBytes.of(4 << 20, 11), SeededBytes.of(3 << 20, 12), SeededBytes.of(2 << 20, 13));
            String digest = up.pushManifest("library/big", "v1", OCI_MANIFEST, image.manifest());
            ExecutorService pool = Executors.newFixedThreadPool(20);
            try {
                List<Future<String>> pulls = new ArrayList<>();
                for (int i = 0; i < 20; i++) pulls.add(pool.submit(() -> pull(new OciClient(cairn), "hub/library/big", "v1")));
                for (Future<String> p : pulls) assertThat(p.get()).isEqualTo(digest);
            } finally {
                pool.shutdownNow();
            }
            for (String blob : image.layerDigests()) {
                assertThat(upstream.requests("GET /v2/library/big/blobs/" + blob)).as(blob + " fetched once").isEqualTo(1);
            }

            List<Map<String, Object>> platforms = new ArrayList<>();
            for (String arch : List.of("amd64", "arm64")) {
                OciClient.Image one = up.prepareImage("library/multi", "application/vnd.oci.image.config.v1+json", SeededBytes.of(30_000, arch.hashCode()));
                up.pushManifest("library/multi", one.digest(), OCI_MANIFEST, one.manifest());
                Map<String, Object> d = OciClient.descriptor(OCI_MANIFEST, one.digest(), one.manifest().length);
                d.put("platform", Map.of("architecture", arch, "os", "linux"));
                platforms.add(d);
            }
            byte[] index = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", platforms));
            String indexDigest = up.pushManifest("library/multi", "latest", OCI_INDEX, index);
            OciClient client = new OciClient(cairn);
            HttpResponse<byte[]> got = client.get("/v2/hub/library/multi/manifests/latest", "Accept", ACCEPT);
            assertThat(OciClient.sha256(got.body())).isEqualTo(indexDigest);
            for (Map<String, Object> platform : platforms) {
                assertThat(pull(client, "hub/library/multi", (String) platform.get("digest"))).isEqualTo(platform.get("digest"));
            }
        }
    }
}
