package dev.cairn.mirror;

import dev.cairn.testing.DistributionRegistry;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The default mirror (prefix ""), for clients that send no prefix (dockerd's registry-mirrors asks for
 * {@code /v2/library/busybox/...}), beside Cairn's own repositories on the same names: a repository is the mirror's
 * once it holds what the upstream sent, and then read-only; one clients pushed into first is theirs, and its misses
 * never go upstream. A push's own questions (HEAD of its blobs, GET of a tag it is about to write) do not make a
 * new repository the mirror's.
 */
class MirrorDefaultTest {
    private static final String ACCEPT = OCI_MANIFEST + ", " + OCI_INDEX;

    @Test
    void theDefaultMirrorAnswersNamesWithoutAPrefixAndLeavesPushedRepositoriesToTheirClients() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start();
             RunningCairn cairn = RunningCairn.start(Map.of("mirrors", "[{prefix: hub, upstream: '" + upstream.url() + "', ttl: 1h},"
                     + " {prefix: '', upstream: '" + upstream.url() + "', ttl: 1h}]"))) {
            OciClient up = new OciClient(upstream.hostPort());
            OciClient.Image image = up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json",
                    SeededBytes.of(200_000, 1), SeededBytes.of(100_000, 2));
            String digest = up.pushManifest("library/app", "v1", OCI_MANIFEST, image.manifest());
            OciClient client = new OciClient(cairn);

            // a name without a prefix: the default mirror's
            assertThat(MirrorScaleTest.pull(client, "library/app", "v1")).isEqualTo(digest);
            assertThat(MirrorScaleTest.pull(client, "hub/library/app", "v1")).as("the prefixed mirror still answers its names").isEqualTo(digest);
            HttpResponse<byte[]> push = client.put("/v2/library/app/manifests/v2", image.manifest(), "Content-Type", OCI_MANIFEST);
            assertThat(push.statusCode()).as("a mirrored repository takes no pushes").isEqualTo(403);
            assertThat(OciClient.errorCode(push)).isEqualTo("DENIED");
            assertThat(client.post("/v2/library/app/blobs/uploads/", new byte[0]).statusCode()).isEqualTo(403);
            assertThat(client.get("/v2/library/app/manifests/v2", "Accept", ACCEPT).statusCode()).isEqualTo(404);

            // a push into a new repository asks first what is there, as clients do; none of that makes it the mirror's
            byte[] layer = SeededBytes.of(50_000, 3);
            String layerDigest = OciClient.sha256(layer);
            assertThat(client.get("/v2/team/app/manifests/main", "Accept", ACCEPT).statusCode()).as("not upstream either").isEqualTo(404);
            assertThat(client.head("/v2/team/app/blobs/" + layerDigest).statusCode()).isEqualTo(404);
            long askedBefore = upstream.requests("/v2/team/app/blobs/");
            assertThat(askedBefore).as("a blob of a repository that holds nothing mirrored is never fetched").isZero();
            OciClient.Image own = client.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", layer);
            String ownDigest = client.pushManifest("team/app", "main", OCI_MANIFEST, own.manifest());
            assertThat(OciClient.sha256(client.get("/v2/team/app/manifests/main", "Accept", ACCEPT).body())).isEqualTo(ownDigest);

            // the clients' repository: its misses are answered here, the upstream is not asked
            long askedOfTeam = upstream.requests("/v2/team/app/");
            assertThat(client.get("/v2/team/app/manifests/other", "Accept", ACCEPT).statusCode()).isEqualTo(404);
            assertThat(client.head("/v2/team/app/manifests/other", "Accept", ACCEPT).statusCode()).isEqualTo(404);
            assertThat(client.get("/v2/team/app/blobs/" + OciClient.sha256(SeededBytes.of(10, 9))).statusCode()).isEqualTo(404);
            assertThat(upstream.requests("/v2/team/app/")).isEqualTo(askedOfTeam);

            // even when the upstream has that name: the pushed images win, whatever it holds
            up.pushManifest("team/app", "main", OCI_MANIFEST,
                    up.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 4)).manifest());
            assertThat(OciClient.sha256(client.get("/v2/team/app/manifests/main", "Accept", ACCEPT).body())).isEqualTo(ownDigest);

            var rows = OciClient.json(client.get("/api/v1/stats")).path("mirrors");
            assertThat(rows.size()).isEqualTo(2);
            var fallback = rows.get(0).path("prefix").asText().isEmpty() ? rows.get(0) : rows.get(1);
            assertThat(fallback.path("prefix").asText()).isEmpty();
            assertThat(fallback.path("fetched").asLong()).isEqualTo(1);
        }
    }

    /**
     * A default mirror limited to some names ({@code repositories: ["library/**"]}): others never go upstream, so a
     * name someone registered upstream cannot be served in place of, nor lock out, the images a team pushes under it.
     */
    @Test
    void aDefaultMirrorLimitedToSomeNamesLeavesTheOthersToPushes() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start();
             RunningCairn cairn = RunningCairn.start(Map.of("mirrors", "[{prefix: '', upstream: '" + upstream.url()
                     + "', ttl: 1h, repositories: ['library/**']}]"))) {
            OciClient up = new OciClient(upstream.hostPort());
            String official = up.pushManifest("library/app", "v1", OCI_MANIFEST,
                    up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 1)).manifest());
            up.pushManifest("team/app", "v1", OCI_MANIFEST,
                    up.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 2)).manifest());
            OciClient client = new OciClient(cairn);
            assertThat(MirrorScaleTest.pull(client, "library/app", "v1")).isEqualTo(official);
            long seeded = upstream.requests("/v2/team/app/");
            assertThat(client.get("/v2/team/app/manifests/v1", "Accept", ACCEPT).statusCode()).as("not a name the mirror answers").isEqualTo(404);
            assertThat(upstream.requests("/v2/team/app/")).as("the upstream is never asked for it").isEqualTo(seeded);
            assertThat(client.post("/v2/library/new/blobs/uploads/", new byte[0]).statusCode())
                    .as("a name it lists is the mirror's, pulled or not: no push shadows the upstream's image").isEqualTo(403);
            String own = client.pushManifest("team/app", "v1", OCI_MANIFEST,
                    client.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 3)).manifest());
            assertThat(OciClient.sha256(client.get("/v2/team/app/manifests/v1", "Accept", ACCEPT).body())).isEqualTo(own);
        }
    }

    @Test
    void whoWroteARepositoryFirstIsRememberedAcrossARestart() throws Exception {
        try (DistributionRegistry upstream = DistributionRegistry.start()) {
            OciClient up = new OciClient(upstream.hostPort());
            String digest = up.pushManifest("library/app", "v1", OCI_MANIFEST,
                    up.prepareImage("library/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 1)).manifest());
            Map<String, String> config = Map.of("mirrors", "[{prefix: '', upstream: '" + upstream.url() + "', ttl: 1h}]");
            try (RunningCairn cairn = RunningCairn.start(config)) {
                OciClient client = new OciClient(cairn);
                assertThat(MirrorScaleTest.pull(client, "library/app", "v1")).isEqualTo(digest);
                client.pushManifest("team/app", "main", OCI_MANIFEST,
                        client.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 2)).manifest());
                cairn.restart(() -> up.pushManifest("team/app", "other", OCI_MANIFEST,
                        up.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(1_000, 3)).manifest()));
                assertThat(client.put("/v2/library/app/manifests/v2", new byte[]{'{', '}'}, "Content-Type", OCI_MANIFEST).statusCode())
                        .as("still the mirror's").isEqualTo(403);
                assertThat(client.get("/v2/team/app/manifests/other", "Accept", ACCEPT).statusCode())
                        .as("still the clients': the upstream's tag of that name is not theirs").isEqualTo(404);
            }
        }
    }
}
