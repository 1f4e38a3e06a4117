package dev.cairn;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.OneCairnPerClass;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.descriptor;
import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.json;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/** Manifests: end-3, end-7, end-9, for every supported media type, and referrers (end-12). */
class ManifestApiTest extends OneCairnPerClass {
    static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    static final String DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    static final String DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
    static final String DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";


    @Test
    void ociManifestByTagAndByDigest() {
        OciClient.Image image = client.prepareImage("m/oci", "application/vnd.oci.image.config.v1+json", "layer".getBytes());
        HttpResponse<byte[]> put = client.put("/v2/m/oci/manifests/v1", image.manifest(), "Content-Type", OCI_MANIFEST);
        assertThat(put.statusCode()).isEqualTo(201);
        assertThat(put.headers().firstValue("Docker-Content-Digest")).hasValue(image.digest());
        assertThat(put.headers().firstValue("Location")).hasValue("/v2/m/oci/manifests/" + image.digest());

        for (String ref : List.of("v1", image.digest())) {
            HttpResponse<byte[]> get = client.get("/v2/m/oci/manifests/" + ref, "Accept", OCI_MANIFEST);
            assertThat(get.statusCode()).isEqualTo(200);
            assertThat(get.body()).isEqualTo(image.manifest());
            assertThat(get.headers().firstValue("Content-Type")).hasValue(OCI_MANIFEST);
            assertThat(get.headers().firstValue("Docker-Content-Digest")).hasValue(image.digest());

            HttpResponse<byte[]> head = client.head("/v2/m/oci/manifests/" + ref, "Accept", OCI_MANIFEST);
            assertThat(head.statusCode()).isEqualTo(200);
            assertThat(head.body()).isEmpty();
            assertThat(head.headers().firstValue("Content-Length")).hasValue(String.valueOf(image.manifest().length));
            assertThat(head.headers().firstValue("Docker-Content-Digest")).hasValue(image.digest());
        }
    }

    @Test
    void putByDigestVerifiesTheDigest() {
        OciClient.Image image = client.prepareImage("m/bydigest", "application/vnd.oci.image.config.v1+json", "l".getBytes());
        HttpResponse<byte[]> ok = client.put("/v2/m/bydigest/manifests/" + image.digest(), image.manifest(), "Content-Type", OCI_MANIFEST);
        assertThat(ok.statusCode()).isEqualTo(201);
        HttpResponse<byte[]> wrong = client.put("/v2/m/bydigest/manifests/" + sha256("other".getBytes()), image.manifest(),
                "Content-Type", OCI_MANIFEST);
        assertThat(wrong.statusCode()).isEqualTo(400);
        assertThat(errorCode(wrong)).isEqualTo("DIGEST_INVALID");
        assertThat(client.get("/v2/m/bydigest/manifests/" + sha256("other".getBytes())).statusCode()).isEqualTo(404);
    }

    @Test
    void dockerSchema2ManifestAndManifestList() {
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes();
        byte[] layer = "docker layer".getBytes();
        String configDigest = client.pushBlob("m/docker", config);
        String layerDigest = client.pushBlob("m/docker", layer);
        byte[] manifest = json(Map.of("schemaVersion", 2, "mediaType", DOCKER_MANIFEST,
                "config", descriptor(DOCKER_CONFIG, configDigest, config.length),
                "layers", List.of(descriptor(DOCKER_LAYER, layerDigest, layer.length))));
        String digest = client.pushManifest("m/docker", "amd64", DOCKER_MANIFEST, manifest);

        Map<String, Object> entry = new LinkedHashMap<>(descriptor(DOCKER_MANIFEST, digest, manifest.length));
        entry.put("platform", Map.of("architecture", "amd64", "os", "linux"));
        byte[] list = json(Map.of("schemaVersion", 2, "mediaType", DOCKER_LIST, "manifests", List.of(entry)));
        String listDigest = client.pushManifest("m/docker", "latest", DOCKER_LIST, list);

        HttpResponse<byte[]> get = client.get("/v2/m/docker/manifests/latest", "Accept", DOCKER_LIST, "Accept", DOCKER_MANIFEST);
        assertThat(get.statusCode()).isEqualTo(200);
        assertThat(get.headers().firstValue("Content-Type")).hasValue(DOCKER_LIST);
        assertThat(get.headers().firstValue("Docker-Content-Digest")).hasValue(listDigest);
        assertThat(client.get("/v2/m/docker/manifests/amd64", "Accept", DOCKER_MANIFEST).body()).isEqualTo(manifest);
    }

    @Test
    void ociIndexOfManifests() {
        OciClient.Image a = client.prepareImage("m/index", "application/vnd.oci.image.config.v1+json", "a".getBytes());
        OciClient.Image b = client.prepareImage("m/index", "application/vnd.oci.image.config.v1+json", "b".getBytes());
        client.pushManifest("m/index", a.digest(), OCI_MANIFEST, a.manifest());
        client.pushManifest("m/index", b.digest(), OCI_MANIFEST, b.manifest());
        byte[] index = json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(
                descriptor(OCI_MANIFEST, a.digest(), a.manifest().length), descriptor(OCI_MANIFEST, b.digest(), b.manifest().length))));
        String digest = client.pushManifest("m/index", "multi", OCI_INDEX, index);
        HttpResponse<byte[]> get = client.get("/v2/m/index/manifests/multi", "Accept", OCI_INDEX);
        assertThat(get.body()).isEqualTo(index);
        assertThat(get.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
    }

    @Test
    void manifestReferencingMissingContentIsRefused() {
        OciClient.Image image = client.prepareImage("m/missing", "application/vnd.oci.image.config.v1+json", "x".getBytes());
        String absent = sha256("absent layer".getBytes());
        byte[] manifest = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                "config", descriptor("application/vnd.oci.image.config.v1+json", image.configDigest(), 10),
                "layers", List.of(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", absent, 12))));
        HttpResponse<byte[]> r = client.put("/v2/m/missing/manifests/t", manifest, "Content-Type", OCI_MANIFEST);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(errorCode(r)).isEqualTo("MANIFEST_BLOB_UNKNOWN");
        assertThat(json(r).path("errors").get(0).path("detail").path("digest").asText()).isEqualTo(absent);
        assertThat(client.get("/v2/m/missing/manifests/t").statusCode()).isEqualTo(404);

        // an index entry must be in the repository too
        byte[] index = json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX,
                "manifests", List.of(descriptor(OCI_MANIFEST, absent, 12))));
        HttpResponse<byte[]> ri = client.put("/v2/m/missing/manifests/i", index, "Content-Type", OCI_INDEX);
        assertThat(ri.statusCode()).isEqualTo(400);
        assertThat(errorCode(ri)).isEqualTo("MANIFEST_BLOB_UNKNOWN");

        // blobs of another repository do not count
        byte[] layer = "only elsewhere".getBytes();
        String elsewhere = client.pushBlob("m/other-repo", layer);
        byte[] cross = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                "config", descriptor("application/vnd.oci.image.config.v1+json", image.configDigest(), 10),
                "layers", List.of(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", elsewhere, layer.length))));
        assertThat(client.put("/v2/m/missing/manifests/c", cross, "Content-Type", OCI_MANIFEST).statusCode()).isEqualTo(400);
    }

    @Test
    void deletingATagKeepsTheManifestAndDeletingTheDigestRemovesBoth() {
        OciClient.Image image = client.prepareImage("m/delete", "application/vnd.oci.image.config.v1+json", "d".getBytes());
        client.pushManifest("m/delete", "one", OCI_MANIFEST, image.manifest());
        client.pushManifest("m/delete", "two", OCI_MANIFEST, image.manifest());

        assertThat(client.delete("/v2/m/delete/manifests/one").statusCode()).isEqualTo(202);
        assertThat(client.get("/v2/m/delete/manifests/one").statusCode()).isEqualTo(404);
        assertThat(client.get("/v2/m/delete/manifests/two").statusCode()).isEqualTo(200);
        assertThat(client.get("/v2/m/delete/manifests/" + image.digest()).statusCode()).isEqualTo(200);

        assertThat(client.delete("/v2/m/delete/manifests/" + image.digest()).statusCode()).isEqualTo(202);
        HttpResponse<byte[]> gone = client.get("/v2/m/delete/manifests/" + image.digest());
        assertThat(gone.statusCode()).isEqualTo(404);
        assertThat(errorCode(gone)).isEqualTo("MANIFEST_UNKNOWN");
        assertThat(client.get("/v2/m/delete/manifests/two").statusCode()).isEqualTo(404);
        assertThat(client.delete("/v2/m/delete/manifests/" + image.digest()).statusCode()).isEqualTo(404);
    }

    @Test
    void retaggingMovesTheTag() {
        OciClient.Image first = client.prepareImage("m/retag", "application/vnd.oci.image.config.v1+json", "1".getBytes());
        OciClient.Image second = client.prepareImage("m/retag", "application/vnd.oci.image.config.v1+json", "2".getBytes());
        client.pushManifest("m/retag", "latest", OCI_MANIFEST, first.manifest());
        client.pushManifest("m/retag", "latest", OCI_MANIFEST, second.manifest());
        assertThat(client.get("/v2/m/retag/manifests/latest").headers().firstValue("Docker-Content-Digest")).hasValue(second.digest());
        assertThat(client.get("/v2/m/retag/manifests/" + first.digest()).statusCode()).isEqualTo(200);
    }

    @Test
    void contentNegotiationFollowsAccept() {
        OciClient.Image image = client.prepareImage("m/accept", "application/vnd.oci.image.config.v1+json", "n".getBytes());
        client.pushManifest("m/accept", "t", OCI_MANIFEST, image.manifest());
        assertThat(client.get("/v2/m/accept/manifests/t").statusCode()).isEqualTo(200);
        assertThat(client.get("/v2/m/accept/manifests/t", "Accept", "*/*").statusCode()).isEqualTo(200);
        assertThat(client.get("/v2/m/accept/manifests/t", "Accept", DOCKER_MANIFEST + ", " + OCI_MANIFEST + ";q=0.9").statusCode())
                .isEqualTo(200);
        HttpResponse<byte[]> refused = client.get("/v2/m/accept/manifests/t", "Accept", DOCKER_MANIFEST);
        assertThat(refused.statusCode()).isEqualTo(404);
        assertThat(errorCode(refused)).isEqualTo("MANIFEST_UNKNOWN");
    }

    @Test
    void artifactWithSubjectReportsOciSubjectAndAppearsInReferrers() {
        OciClient.Image subject = client.prepareImage("m/ref", "application/vnd.oci.image.config.v1+json", "s".getBytes());
        client.pushManifest("m/ref", "app", OCI_MANIFEST, subject.manifest());

        byte[] empty = "{}".getBytes(StandardCharsets.UTF_8);
        String emptyDigest = client.pushBlob("m/ref", empty);
        String sbomType = "application/vnd.example.sbom.v1";
        String sigType = "application/vnd.example.signature.v1";
        String[] digests = new String[2];
        String[] types = {sbomType, sigType};
        for (int i = 0; i < 2; i++) {
            Map<String, Object> artifact = new LinkedHashMap<>();
            artifact.put("schemaVersion", 2);
            artifact.put("mediaType", OCI_MANIFEST);
            artifact.put("artifactType", types[i]);
            artifact.put("config", descriptor("application/vnd.oci.empty.v1+json", emptyDigest, empty.length));
            artifact.put("layers", List.of(descriptor("application/vnd.oci.empty.v1+json", emptyDigest, empty.length)));
            artifact.put("subject", descriptor(OCI_MANIFEST, subject.digest(), subject.manifest().length));
            artifact.put("annotations", Map.of("org.example.kind", "k" + i));
            byte[] bytes = json(artifact);
            HttpResponse<byte[]> put = client.put("/v2/m/ref/manifests/" + sha256(bytes), bytes, "Content-Type", OCI_MANIFEST);
            assertThat(put.statusCode()).isEqualTo(201);
            assertThat(put.headers().firstValue("OCI-Subject")).hasValue(subject.digest());
            digests[i] = sha256(bytes);
        }

        HttpResponse<byte[]> all = client.get("/v2/m/ref/referrers/" + subject.digest());
        assertThat(all.statusCode()).isEqualTo(200);
        assertThat(all.headers().firstValue("Content-Type")).hasValue(OCI_INDEX);
        assertThat(all.headers().firstValue("OCI-Filters-Applied")).isEmpty();
        JsonNode index = json(all);
        assertThat(index.path("schemaVersion").asInt()).isEqualTo(2);
        assertThat(index.path("mediaType").asText()).isEqualTo(OCI_INDEX);
        assertThat(index.path("manifests")).hasSize(2);
        assertThat(index.path("manifests").findValuesAsText("digest")).containsExactlyInAnyOrder(digests);
        assertThat(index.path("manifests").findValuesAsText("artifactType")).containsExactlyInAnyOrder(sbomType, sigType);
        assertThat(index.path("manifests").get(0).path("annotations").path("org.example.kind").asText()).startsWith("k");

        HttpResponse<byte[]> filtered = client.get("/v2/m/ref/referrers/" + subject.digest() + "?artifactType=" + sbomType);
        assertThat(filtered.headers().firstValue("OCI-Filters-Applied")).hasValue("artifactType");
        assertThat(json(filtered).path("manifests")).hasSize(1);
        assertThat(json(filtered).path("manifests").get(0).path("digest").asText()).isEqualTo(digests[0]);

        // no referrers: an empty index, never a 404
        HttpResponse<byte[]> none = client.get("/v2/m/ref/referrers/" + sha256("nothing".getBytes()));
        assertThat(none.statusCode()).isEqualTo(200);
        assertThat(json(none).path("manifests")).isEmpty();
        assertThat(client.get("/v2/m/no-such-repo/referrers/" + subject.digest()).statusCode()).isEqualTo(200);

        HttpResponse<byte[]> bad = client.get("/v2/m/ref/referrers/sha256:nope");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(errorCode(bad)).isEqualTo("DIGEST_INVALID");
    }

    @Test
    void referrerMayArriveBeforeItsSubject() {
        byte[] empty = "{}".getBytes(StandardCharsets.UTF_8);
        String emptyDigest = client.pushBlob("m/early", empty);
        String future = sha256("a subject pushed later".getBytes());
        Map<String, Object> artifact = new LinkedHashMap<>();
        artifact.put("schemaVersion", 2);
        artifact.put("mediaType", OCI_MANIFEST);
        artifact.put("config", descriptor("application/vnd.example.config", emptyDigest, empty.length));
        artifact.put("layers", List.of());
        artifact.put("subject", descriptor(OCI_MANIFEST, future, 100));
        byte[] bytes = json(artifact);
        assertThat(client.put("/v2/m/early/manifests/" + sha256(bytes), bytes, "Content-Type", OCI_MANIFEST).statusCode()).isEqualTo(201);
        JsonNode index = json(client.get("/v2/m/early/referrers/" + future));
        assertThat(index.path("manifests")).hasSize(1);
        assertThat(index.path("manifests").get(0).path("artifactType").asText()).isEqualTo("application/vnd.example.config");
    }

    @Test
    void oversizedManifestIs413AndNotStored() throws Exception {
        try (RunningCairn small = RunningCairn.start(Map.of("registry.max-manifest-bytes", "4KiB"))) {
            OciClient smallClient = new OciClient(small);
            OciClient.Image image = smallClient.prepareImage("m/big", "application/vnd.oci.image.config.v1+json", "x".getBytes());
            Map<String, Object> manifest = OciClient.jsonMap(image.manifest());
            manifest.put("annotations", Map.of("padding", "p".repeat(5000)));
            byte[] big = json(manifest);
            HttpResponse<byte[]> r = smallClient.put("/v2/m/big/manifests/t", big, "Content-Type", OCI_MANIFEST);
            assertThat(r.statusCode()).isEqualTo(413);
            assertThat(errorCode(r)).isEqualTo("MANIFEST_INVALID");
            assertThat(smallClient.get("/v2/m/big/manifests/t").statusCode()).isEqualTo(404);
            // under the limit it is fine
            assertThat(smallClient.put("/v2/m/big/manifests/t", image.manifest(), "Content-Type", OCI_MANIFEST).statusCode()).isEqualTo(201);
        }
    }
}
