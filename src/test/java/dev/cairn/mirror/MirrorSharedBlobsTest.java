package dev.cairn.mirror;

import dev.cairn.testing.DistributionRegistry;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A blob Cairn holds is not fetched again for another mirrored repository whose upstream holds it too (base images
 * share layers): the upstream's HEAD says so, and the copy is linked. Without that word it is not shared, not even
 * with a repository of another mirror that names its digest. A HEAD of a blob not held is answered from the
 * upstream's HEAD and fetches nothing.
 */
class MirrorSharedBlobsTest {
    @Test
    void aLayerHeldForOneImageIsLinkedForAnotherTheUpstreamHoldsItInAndFetchedOnce() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); DistributionRegistry other = DistributionRegistry.start();
             RunningCairn cairn = RunningCairn.start(Map.of("mirrors", "[{prefix: hub, upstream: '" + upstream.url() + "', ttl: 1h},"
                     + " {prefix: other, upstream: '" + other.url() + "', ttl: 1h}]"))) {
            OciClient up = new OciClient(upstream.hostPort());
            byte[] shared = SeededBytes.of(300_000, 1);
            String sharedDigest = OciClient.sha256(shared);
            up.pushManifest("library/node", "22", OCI_MANIFEST,
                    up.prepareImage("library/node", "application/vnd.oci.image.config.v1+json", shared, SeededBytes.of(1_000, 2)).manifest());
            String slim = up.pushManifest("library/node", "22-slim", OCI_MANIFEST,
                    up.prepareImage("library/node", "application/vnd.oci.image.config.v1+json", shared).manifest());
            String python = up.pushManifest("library/python", "3", OCI_MANIFEST,
                    up.prepareImage("library/python", "application/vnd.oci.image.config.v1+json", shared, SeededBytes.of(1_000, 3)).manifest());
            OciClient client = new OciClient(cairn);

            MirrorScaleTest.pull(client, "hub/library/node", "22");
            assertThat(MirrorScaleTest.pull(client, "hub/library/node", "22-slim")).isEqualTo(slim);
            assertThat(MirrorScaleTest.pull(client, "hub/library/python", "3")).isEqualTo(python);
            assertThat(upstream.requests("GET /v2/library/node/blobs/" + sharedDigest)).as("fetched for node").isEqualTo(1);
            assertThat(upstream.requests("GET /v2/library/python/blobs/" + sharedDigest)).as("python's is the copy held for node").isZero();
            assertThat(upstream.requests("HEAD /v2/library/python/blobs/" + sharedDigest)).as("once the upstream said it holds it there")
                    .isPositive();

            // another mirror's repository that names the digest: its upstream does not hold it, so it is not served
            HttpResponse<byte[]> elsewhere = client.get("/v2/other/library/node/blobs/" + sharedDigest);
            assertThat(elsewhere.statusCode()).isEqualTo(404);
            assertThat(OciClient.errorCode(elsewhere)).isEqualTo("BLOB_UNKNOWN");

            // a HEAD of a blob not held: the upstream's answer, nothing fetched
            byte[] cold = SeededBytes.of(500_000, 4);
            String coldDigest = up.pushBlob("library/ruby", cold);
            HttpResponse<byte[]> head = client.head("/v2/hub/library/ruby/blobs/" + coldDigest);
            assertThat(head.statusCode()).isEqualTo(200);
            assertThat(head.headers().firstValueAsLong("Content-Length")).hasValue(cold.length);
            assertThat(head.headers().firstValue("Docker-Content-Digest")).hasValue(coldDigest);
            assertThat(upstream.requests("GET /v2/library/ruby/blobs/" + coldDigest)).as("a HEAD pulls nothing").isZero();
            assertThat(client.head("/v2/hub/library/ruby/blobs/" + OciClient.sha256(SeededBytes.of(10, 5))).statusCode()).isEqualTo(404);
            assertThat(OciClient.sha256(client.get("/v2/hub/library/ruby/blobs/" + coldDigest).body())).isEqualTo(coldDigest);
        }
    }
}
