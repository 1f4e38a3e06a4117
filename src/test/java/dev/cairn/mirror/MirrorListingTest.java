package dev.cairn.mirror;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.DistributionRegistry;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A mirrored repository lists what its upstream holds, not only what was pulled through it: its tags, page by page
 * (Distribution as the upstream), and a manifest's referrers (a stub upstream with the referrers API); while the
 * upstream fails, the tags held here, marked stale.
 */
class MirrorListingTest {
    private static List<String> names(JsonNode tags) {
        List<String> out = new ArrayList<>();
        tags.path("tags").forEach(t -> out.add(t.asText()));
        return out;
    }

    @Test
    void aMirroredRepositoryListsTheUpstreamsTagsAndWhileItFailsThoseHeldHere() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start(); RunningCairn cairn = RunningCairn.start(MirrorTest.mirrorOf(upstream, "1h"))) {
            OciClient up = new OciClient(upstream.hostPort());
            byte[] manifest = up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 1)).manifest();
            for (String tag : List.of("v1", "v2", "v3")) up.pushManifest("library/app", tag, OCI_MANIFEST, manifest);
            OciClient client = new OciClient(cairn);
            MirrorScaleTest.pull(client, "hub/library/app", "v1");

            assertThat(names(OciClient.json(client.get("/v2/hub/library/app/tags/list")))).as("the upstream's, not only v1")
                    .containsExactly("v1", "v2", "v3");
            HttpResponse<byte[]> first = client.get("/v2/hub/library/app/tags/list?n=2");
            assertThat(names(OciClient.json(first))).containsExactly("v1", "v2");
            assertThat(first.headers().firstValue("Link")).hasValueSatisfying(link -> assertThat(link).contains("last=v2").contains("rel=\"next\""));
            assertThat(names(OciClient.json(client.get("/v2/hub/library/app/tags/list?n=2&last=v2")))).containsExactly("v3");
            assertThat(client.get("/v2/hub/library/none/tags/list").statusCode()).as("what neither holds").isEqualTo(404);

            upstream.stop();
            HttpResponse<byte[]> stale = client.get("/v2/hub/library/app/tags/list");
            assertThat(stale.statusCode()).isEqualTo(200);
            assertThat(names(OciClient.json(stale))).as("what is held here").containsExactly("v1");
            assertThat(stale.headers().firstValue("Cairn-Mirror-Stale")).isPresent();
            assertThat(client.get("/v2/hub/library/other/tags/list").statusCode()).as("nothing held, upstream down").isEqualTo(503);
        }
    }

    @Test
    void aMirroredManifestsReferrersAreTheUpstreams() throws Exception {
        try (StubUpstream stub = new StubUpstream()) {
            String subject = OciClient.sha256(SeededBytes.of(100, 1));
            String signature = OciClient.sha256(SeededBytes.of(100, 2));
            byte[] index = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(
                    Map.of("mediaType", OCI_MANIFEST, "digest", signature, "size", 100, "artifactType", "application/vnd.dev.cosign.simplesigning.v1+json",
                            "annotations", Map.of("dev.sigstore.cosign", "yes")),
                    Map.of("mediaType", OCI_MANIFEST, "digest", "not-a-digest", "size", 1))));
            stub.on("GET /v2/library/app/referrers/" + subject, x -> StubUpstream.send(x, 200, OCI_INDEX, index));
            try (RunningCairn cairn = RunningCairn.start(MirrorUpstreamFaultsTest.mirrors("hub", stub.url()))) {
                OciClient client = new OciClient(cairn);
                HttpResponse<byte[]> answer = client.get("/v2/hub/library/app/referrers/" + subject);
                assertThat(answer.statusCode()).as("an index with a descriptor that is not one is the upstream's fault: " + OciClient.text(answer))
                        .isEqualTo(200);
                JsonNode manifests = OciClient.json(answer).path("manifests");
                assertThat(manifests.size()).as("the bad descriptor is refused with the list: what is held here answers").isZero();

                stub.on("GET /v2/library/app/referrers/" + subject, x -> StubUpstream.send(x, 200, OCI_INDEX, OciClient.json(Map.of(
                        "schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(Map.of("mediaType", OCI_MANIFEST, "digest", signature,
                                "size", 100, "artifactType", "application/vnd.dev.cosign.simplesigning.v1+json"))))));
                JsonNode listed = OciClient.json(client.get("/v2/hub/library/app/referrers/" + subject)).path("manifests");
                assertThat(listed.size()).isEqualTo(1);
                assertThat(listed.get(0).path("digest").asText()).isEqualTo(signature);
                assertThat(listed.get(0).path("artifactType").asText()).isEqualTo("application/vnd.dev.cosign.simplesigning.v1+json");
                assertThat(OciClient.json(client.get("/v2/hub/library/app/referrers/" + subject + "?artifactType=application/spdx+json"))
                        .path("manifests").size()).as("filtered").isZero();
            }
        }
    }
}
