package dev.cairn.mirror;

import dev.cairn.testing.DistributionRegistry;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

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

/** The mirror at ten times MirrorTest's scale, against Distribution: 200 cold pulls at once, an image of 100 layers, 1,000 tags past their TTL. */
class MirrorScaleTest {
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX;

    /** Pulls as a client does, and says what went wrong rather than failing (for many pulls at once): the manifest's digest when all went well. */
    static String pull(OciClient client, String repository, String tag) {
        HttpResponse<byte[]> manifest = client.get("/v2/" + repository + "/manifests/" + tag, "Accept", ACCEPT);
        if (manifest.statusCode() != 200) return "manifest " + manifest.statusCode() + " " + OciClient.text(manifest);
        var document = OciClient.json(manifest);
        List<String> blobs = new ArrayList<>();
        blobs.add(document.path("config").path("digest").asText());
        document.path("layers").forEach(l -> blobs.add(l.path("digest").asText()));
        for (String blob : blobs) {
            HttpResponse<byte[]> b = client.get("/v2/" + repository + "/blobs/" + blob);
            if (b.statusCode() != 200) return blob + " " + b.statusCode() + " " + OciClient.text(b);
            if (!OciClient.sha256(b.body()).equals(blob)) return blob + " wrong bytes";
        }
        return OciClient.sha256(manifest.body());
    }

    @Test
    void twoHundredColdPullsOfOneImageAtOnce() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); RunningCairn cairn = RunningCairn.start(MirrorTest.mirrorOf(upstream, "1h"))) {
            OciClient up = new OciClient(upstream.hostPort());
            OciClient.Image image = up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json",
                    SeededBytes.of(1 << 20, 1), SeededBytes.of(512 << 10, 2), SeededBytes.of(256 << 10, 3));
            String digest = up.pushManifest("library/app", "v1", OCI_MANIFEST, image.manifest());
            ExecutorService pool = Executors.newFixedThreadPool(200);
            List<String> wrong = new ArrayList<>();
            long started = System.nanoTime();
            try {
                List<Future<String>> pulls = new ArrayList<>();
                for (int i = 0; i < 200; i++) pulls.add(pool.submit(() -> pull(new OciClient(cairn), "hub/library/app", "v1")));
                for (Future<String> p : pulls) if (!p.get().equals(digest)) wrong.add(p.get());
            } finally {
                pool.shutdownNow();
            }
            assertThat(wrong).isEmpty();
            for (String blob : image.layerDigests()) {
                assertThat(upstream.requests("GET /v2/library/app/blobs/" + blob)).as(blob + " fetched once").isEqualTo(1);
            }
            assertThat(upstream.requests("GET /v2/library/app/manifests/")).as("manifest GETs upstream for 200 cold pulls").isEqualTo(1);
        }
    }

    @Test
    void anImageOfAHundredLayers() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); RunningCairn cairn = RunningCairn.start(MirrorTest.mirrorOf(upstream, "1h"))) {
            OciClient up = new OciClient(upstream.hostPort());
            byte[][] layers = new byte[100][];
            for (int i = 0; i < 100; i++) layers[i] = SeededBytes.of(20_000 + i, 100 + i);
            OciClient.Image image = up.prepareImage("library/many", "application/vnd.oci.image.config.v1+json", layers);
            String digest = up.pushManifest("library/many", "v1", OCI_MANIFEST, image.manifest());
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<String>> pulls = new ArrayList<>();
                for (int i = 0; i < 4; i++) pulls.add(pool.submit(() -> pull(new OciClient(cairn), "hub/library/many", "v1")));
                for (Future<String> p : pulls) assertThat(p.get()).isEqualTo(digest);
            } finally {
                pool.shutdownNow();
            }
            long total = upstream.requests("GET /v2/library/many/blobs/");
            assertThat(total).as("each of 101 blobs once").isEqualTo(101);
        }
    }

    @Test
    void aThousandTagsCheckedAtOnceAfterTheirTtl() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); RunningCairn cairn = RunningCairn.start(MirrorTest.mirrorOf(upstream, "3s"))) {
            OciClient up = new OciClient(upstream.hostPort());
            OciClient.Image image = up.prepareImage("library/tags", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1000, 7));
            for (int i = 0; i < 1000; i++) up.pushManifest("library/tags", "t" + i, OCI_MANIFEST, image.manifest());
            ExecutorService pool = Executors.newFixedThreadPool(100);
            try {
                List<Future<Integer>> first = new ArrayList<>();
                for (int i = 0; i < 1000; i++) {
                    int n = i;
                    first.add(pool.submit(() -> new OciClient(cairn).get("/v2/hub/library/tags/manifests/t" + n, "Accept", ACCEPT).statusCode()));
                }
                for (Future<Integer> f : first) assertThat(f.get()).isEqualTo(200);
                Thread.sleep(3500);
                long headsBefore = upstream.requests("HEAD /v2/library/tags/manifests/");
                long getsBefore = upstream.requests("GET /v2/library/tags/manifests/");
                long started = System.nanoTime();
                List<Future<HttpResponse<byte[]>>> again = new ArrayList<>();
                for (int i = 0; i < 1000; i++) {
                    int n = i;
                    again.add(pool.submit(() -> new OciClient(cairn).get("/v2/hub/library/tags/manifests/t" + n, "Accept", ACCEPT)));
                }
                List<String> failed = new ArrayList<>();
                long stale = 0;
                for (Future<HttpResponse<byte[]>> f : again) {
                    HttpResponse<byte[]> r = f.get();
                    if (r.statusCode() != 200) failed.add(r.statusCode() + " " + OciClient.text(r));
                    if (r.headers().firstValue("Cairn-Mirror-Stale").isPresent()) stale++;
                }
                assertThat(failed).isEmpty();
                assertThat(stale).isZero();
                assertThat(upstream.requests("HEAD /v2/library/tags/manifests/") - headsBefore).isEqualTo(1000);
                assertThat(upstream.requests("GET /v2/library/tags/manifests/") - getsBefore).as("no GET: the tags did not move").isZero();
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
