package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.SharedStore;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two nodes on S3 + PostgreSQL: node B serves a manifest (its use still in B's batch), node A gives it older times
 * (as an import does) and collects under budget pressure. B's reader was promised the grace window: the manifest
 * must stay readable (retired), with or without the backdating; on one node the backdating is refused outright.
 * Written by a reviewer as a probe; the cross-node case failed (404) before the last use was floored on shared stores.
 */
class ScaleOutBackdateTest {
    private static final int MIB = 1 << 20;

    private void run(boolean backdate, boolean readOnA) throws Exception {
        SharedStore store = SharedStore.fresh();
        Map<String, String> common = new HashMap<>(Map.of("retention.max-bytes", "3MiB", "retention.grace", "60s",
                "storage.s3.part-size", "5MiB", "metadata.postgres.pool-size", "4", "retention.gc-interval", "1h"));
        try (RunningCairn a = RunningCairn.startOn(store, common); RunningCairn b = RunningCairn.startOn(store, common)) {
            OciClient ca = new OciClient(a);
            OciClient cb = new OciClient(b);
            OciClient.Image img = ca.prepareImage("team/x", "application/vnd.oci.image.config.v1+json", SeededBytes.of(MIB, 11));
            String digest = ca.pushManifest("team/x", "v1", OCI_MANIFEST, img.manifest());
            // B serves it: a build is now reading it, its use batched in B's memory
            HttpResponse<byte[]> served = (readOnA ? ca : cb).get("/v2/team/x/manifests/" + digest, "Accept", OCI_MANIFEST);
            assertThat(served.statusCode()).isEqualTo(200);
            if (backdate) {
                ca.put("/api/v1/repositories/team/x/entries/" + digest + "/times",
                        OciClient.json(Map.of("pushedAt", "2020-01-01T00:00:00Z", "lastUsed", "2020-01-01T00:00:00Z")),
                        "Content-Type", "application/json");
            }
            // pressure: push more than the budget in another repository, then collect on A
            for (int i = 0; i < 3; i++) {
                OciClient.Image other = ca.prepareImage("team/y", "application/vnd.oci.image.config.v1+json", SeededBytes.of(MIB, 100 + i));
                ca.pushManifest("team/y", "t" + i, OCI_MANIFEST, other.manifest());
            }
            a.node().keeper().collect(false);
            HttpResponse<byte[]> again = cb.get("/v2/team/x/manifests/" + digest, "Accept", OCI_MANIFEST);
            HttpResponse<byte[]> layer = cb.get("/v2/team/x/blobs/" + img.layerDigests().getFirst());
            HttpResponse<byte[]> config = cb.get("/v2/team/x/blobs/" + img.configDigest());
            assertThat(layer.statusCode()).as("layer of the manifest B served, within grace").isEqualTo(200);
            assertThat(again.statusCode()).as("manifest B served, within grace (retired, readable)").isEqualTo(200);
        } finally {
            store.drop();
        }
    }

    /** Same-node: A's own batched use is flushed before the backdate, whose guard then refuses it. */
    @Test
    void sameNodeReadThenBackdateHolds() throws Exception {
        run(true, true);
    }

    @Test
    void controlWithoutBackdate() throws Exception {
        run(false, false);
    }

    @Test
    void backdateAfterAnotherNodesReadThenCollect() throws Exception {
        run(true, false);
    }
}
