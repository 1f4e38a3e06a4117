package dev.cairn;

import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.S3Server;
import dev.cairn.testing.SharedStore;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A HEAD that let a client skip an upload protects the blob from a collection on any node, not only on the
 * node that answered it: a use of a blob the database saw used long ago is written through at once.
 */
class ScaleOutLastUseTest {
    private static S3Server s3;
    private static SharedStore store;
    private static List<RunningCairn> nodes;
    private static List<OciClient> clients;

    @BeforeAll
    static void start() throws Exception {
        store = SharedStore.fresh();
        s3 = store.s3();
        Map<String, String> settings = Map.of("metadata.postgres.pool-size", "4", "storage.s3.part-size", "5MiB",
                // The default is 10s: the window below is at most that long in production; 1h makes the test deterministic.
                "registry.last-use-flush-interval", "1h",
                "retention.grace", "1s", "retention.gc-interval", "1h");
        nodes = store.startNodes(2, settings);
        clients = nodes.stream().map(OciClient::new).toList();
    }

    @AfterAll
    static void stop() throws Exception {
        for (RunningCairn node : nodes) node.close();
        store.drop();
    }

    /** A runner HEADs its layers, skips uploading them, then pushes the manifest: a collection in between must not break that. */
    private static int skipUploadsThenPushManifest(OciClient pusher, OciClient headVia, RunningCairn collector, String repository, long seed)
            throws Exception {
        OciClient.Image image = pusher.prepareImage(repository, "application/vnd.oci.image.config.v1+json", SeededBytes.of(3000, seed));
        Thread.sleep(1500); // the blobs are older than the grace window and no manifest references them yet
        assertThat(headVia.head("/v2/" + repository + "/blobs/" + image.configDigest()).statusCode()).isEqualTo(200);
        for (String layer : image.layerDigests()) {
            assertThat(headVia.head("/v2/" + repository + "/blobs/" + layer).statusCode()).isEqualTo(200); // "Layer already exists"
        }
        collector.node().keeper().collect(false);
        HttpResponse<byte[]> pushed = headVia.put("/v2/" + repository + "/manifests/v1", image.manifest(),
                "Content-Type", OciClient.OCI_MANIFEST);
        return pushed.statusCode();
    }

    @Test
    void onOneNodeAHeadJustBeforeACollectionProtectsTheBlob() throws Exception {
        assertThat(skipUploadsThenPushManifest(clients.get(0), clients.get(0), nodes.get(0), "team/same-node", 1)).isEqualTo(201);
    }

    @Test
    void aHeadOnAnotherNodeJustBeforeACollectionProtectsTheBlobToo() throws Exception {
        // Today: 400 MANIFEST_BLOB_UNKNOWN -- node 0's collection never saw node 1's HEADs (still in node 1's memory).
        assertThat(skipUploadsThenPushManifest(clients.get(0), clients.get(1), nodes.get(0), "team/two-nodes", 2)).isEqualTo(201);
    }
}
