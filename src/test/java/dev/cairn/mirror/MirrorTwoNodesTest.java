package dev.cairn.mirror;

import dev.cairn.testing.DistributionRegistry;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.SharedStore;
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

/** Two nodes on one store (S3Proxy + PostgreSQL) mirroring one upstream at once: every pull whole, each blob fetched once a node. */
class MirrorTwoNodesTest {
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX;

    @Test
    void twoNodesPullingOneColdImageAtOnce() throws Exception {
        SharedStore store = SharedStore.fresh();
        try (DistributionRegistry upstream = DistributionRegistry.start()) {
            List<RunningCairn> nodes = store.startNodes(2, Map.of("mirrors", "[{prefix: hub, upstream: '" + upstream.url() + "', ttl: 1h, max-stale: 1h}]"));
            try {
                OciClient up = new OciClient(upstream.hostPort());
                OciClient.Image image = up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json",
                        SeededBytes.of(3 << 20, 1), SeededBytes.of(1 << 20, 2));
                String digest = up.pushManifest("library/app", "v1", OCI_MANIFEST, image.manifest());
                ExecutorService pool = Executors.newFixedThreadPool(20);
                List<String> wrong = new ArrayList<>();
                try {
                    List<Future<String>> pulls = new ArrayList<>();
                    for (int i = 0; i < 20; i++) {
                        RunningCairn node = nodes.get(i % 2);
                        pulls.add(pool.submit(() -> MirrorScaleTest.pull(new OciClient(node), "hub/library/app", "v1")));
                    }
                    for (Future<String> p : pulls) if (!p.get().equals(digest)) wrong.add(p.get());
                } finally {
                    pool.shutdownNow();
                }
                Thread.sleep(2000);
                long before = upstream.requests("GET /v2/library/app/blobs/");
                // each node again, and a third read of every blob from each: nothing more upstream
                for (RunningCairn node : nodes) assertThat(MirrorScaleTest.pull(new OciClient(node), "hub/library/app", "v1")).isEqualTo(digest);
                assertThat(wrong).isEmpty();
                assertThat(upstream.requests("GET /v2/library/app/blobs/")).isEqualTo(before);
                for (RunningCairn node : nodes) {
                    var stats = OciClient.json(new OciClient(node).get("/api/v1/stats"));
                    var gc = OciClient.json(new OciClient(node).post("/api/v1/gc?dry-run=true", new byte[0]));
                }
            } finally {
                for (RunningCairn node : nodes) node.close();
            }
        } finally {
            store.drop();
        }
    }
}
