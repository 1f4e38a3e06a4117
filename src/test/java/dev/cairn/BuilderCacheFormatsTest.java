package dev.cairn;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.OneCairnPerClass;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_INDEX;
import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.json;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every builder's cache document is accepted as it is and served back byte for byte: the shapes below
 * are the ones BuildKit, buildah/podman, docker and kaniko push.
 */
class BuilderCacheFormatsTest extends OneCairnPerClass {
    static final String BUILDKIT_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0";
    static final String OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
    static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    static final String DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
    static final String DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";


    private static Map<String, Object> layer(String mediaType, String digest, long size, String createdAt) {
        Map<String, Object> d = new LinkedHashMap<>(OciClient.descriptor(mediaType, digest, size));
        d.put("annotations", Map.of("buildkit/createdat", createdAt, "containerd.io/uncompressed", sha256(digest.getBytes())));
        return d;
    }

    private static byte[] cacheConfig(List<String> layerDigests) {
        StringBuilder layers = new StringBuilder();
        for (int i = 0; i < layerDigests.size(); i++) {
            if (i > 0) layers.append(',');
            layers.append("{\"blob\":\"").append(layerDigests.get(i)).append("\"").append(i > 0 ? ",\"parent\":" + (i - 1) : "").append('}');
        }
        return ("{\"layers\":[" + layers + "],\"records\":[{\"digest\":\"" + sha256("op".getBytes())
                + "\",\"results\":[{\"layer\":0,\"createdAt\":\"2026-11-23T00:00:00Z\"}]}]}").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void buildkitCacheIndexWhoseEntriesAreLayerBlobs() {
        // type=registry,mode=max with image-manifest=false: an OCI index listing layer blobs and the cache config
        String repo = "cache/buildkit-index";
        byte[] l1 = "layer one".getBytes();
        byte[] l2 = "layer two".getBytes();
        String d1 = client.pushBlob(repo, l1);
        String d2 = client.pushBlob(repo, l2);
        byte[] config = cacheConfig(List.of(d1, d2));
        String configDigest = client.pushBlob(repo, config);
        byte[] index = json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(
                layer(OCI_LAYER, d1, l1.length, "2026-11-23T00:00:00Z"),
                layer(OCI_LAYER, d2, l2.length, "2026-11-23T00:00:01Z"),
                OciClient.descriptor(BUILDKIT_CACHE_CONFIG, configDigest, config.length))));
        String digest = client.pushManifest(repo, "cache", OCI_INDEX, index);

        HttpResponse<byte[]> get = client.get("/v2/" + repo + "/manifests/cache", "Accept", OCI_INDEX);
        assertThat(get.body()).isEqualTo(index);
        assertThat(get.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
        // an import then HEADs every listed blob
        for (String d : List.of(d1, d2, configDigest)) {
            assertThat(client.head("/v2/" + repo + "/blobs/" + d).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void buildkitCacheIndexWithAMissingLayerIsRefused() {
        String repo = "cache/buildkit-partial";
        byte[] l1 = "present".getBytes();
        String d1 = client.pushBlob(repo, l1);
        byte[] index = json(Map.of("schemaVersion", 2, "mediaType", OCI_INDEX, "manifests", List.of(
                layer(OCI_LAYER, d1, l1.length, "2026-11-23T00:00:00Z"),
                layer(OCI_LAYER, sha256("absent".getBytes()), 6, "2026-11-23T00:00:00Z"))));
        HttpResponse<byte[]> r = client.put("/v2/" + repo + "/manifests/cache", index, "Content-Type", OCI_INDEX);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(errorCode(r)).isEqualTo("MANIFEST_BLOB_UNKNOWN");
    }

    @Test
    void buildkitImageManifestCacheIncludingAnEmptyLayerList() {
        // image-manifest=true: an OCI image manifest whose config is the BuildKit cache config
        String repo = "cache/buildkit-manifest";
        byte[] l1 = "cached layer".getBytes();
        String d1 = client.pushBlob(repo, l1);
        byte[] config = cacheConfig(List.of(d1));
        String configDigest = client.pushBlob(repo, config);
        byte[] withLayers = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                "config", OciClient.descriptor(BUILDKIT_CACHE_CONFIG, configDigest, config.length),
                "layers", List.of(layer(OCI_LAYER, d1, l1.length, "2026-11-23T00:00:00Z"))));
        client.pushManifest(repo, "cache", OCI_MANIFEST, withLayers);
        assertThat(client.get("/v2/" + repo + "/manifests/cache").body()).isEqualTo(withLayers);

        byte[] emptyConfig = cacheConfig(List.of());
        String emptyConfigDigest = client.pushBlob(repo, emptyConfig);
        byte[] empty = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                "config", OciClient.descriptor(BUILDKIT_CACHE_CONFIG, emptyConfigDigest, emptyConfig.length),
                "layers", List.of()));
        String digest = client.pushManifest(repo, "empty", OCI_MANIFEST, empty);
        HttpResponse<byte[]> get = client.get("/v2/" + repo + "/manifests/empty");
        assertThat(get.body()).isEqualTo(empty);
        assertThat(get.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
    }

    @Test
    void buildahPerStepCacheTagsAre64Hex() {
        // buildah/podman --cache-to push one image per step, tagged with the step's 64-hex cache key
        String repo = "cache/buildah";
        OciClient.Image image = client.prepareImage(repo, "application/vnd.oci.image.config.v1+json", "step layer".getBytes());
        String tag = sha256("step key".getBytes()).substring(7);
        client.pushManifest(repo, tag, OCI_MANIFEST, image.manifest());
        assertThat(client.get("/v2/" + repo + "/manifests/" + tag).body()).isEqualTo(image.manifest());
        JsonNode tags = json(client.get("/v2/" + repo + "/tags/list"));
        assertThat(tags.path("tags").get(0).asText()).isEqualTo(tag);
    }

    @Test
    void dockerInlineCacheConfigIsKeptVerbatim() {
        // BUILDKIT_INLINE_CACHE=1: the cache record travels inside the image config under moby.buildkit.cache.v0
        String repo = "app/inline";
        byte[] layerBytes = "inline layer".getBytes();
        String layerDigest = client.pushBlob(repo, layerBytes);
        String inlineCache = java.util.Base64.getEncoder().encodeToString(cacheConfig(List.of(layerDigest)));
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + sha256("diff".getBytes()) + "\"]},"
                + "\"moby.buildkit.cache.v0\":\"" + inlineCache + "\"}").getBytes(StandardCharsets.UTF_8);
        String configDigest = client.pushBlob(repo, config);
        byte[] manifest = json(Map.of("schemaVersion", 2, "mediaType", DOCKER_MANIFEST,
                "config", OciClient.descriptor(DOCKER_CONFIG, configDigest, config.length),
                "layers", List.of(OciClient.descriptor(DOCKER_LAYER, layerDigest, layerBytes.length))));
        client.pushManifest(repo, "main", DOCKER_MANIFEST, manifest);
        HttpResponse<byte[]> configBack = client.get("/v2/" + repo + "/blobs/" + configDigest);
        assertThat(new String(configBack.body(), StandardCharsets.UTF_8)).contains("\"moby.buildkit.cache.v0\":\"" + inlineCache + "\"");
        assertThat(client.get("/v2/" + repo + "/manifests/main", "Accept", DOCKER_MANIFEST).body()).isEqualTo(manifest);
    }

    @Test
    void kanikoCacheImagesTaggedByCacheKey() {
        // kaniko --cache-repo: one Docker schema 2 image per cached RUN, tagged with the cache key
        String repo = "cache/kaniko";
        byte[] layerBytes = "kaniko run layer".getBytes();
        String layerDigest = client.pushBlob(repo, layerBytes);
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2026-11-23T00:00:00Z\","
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + sha256("k".getBytes()) + "\"]}}").getBytes(StandardCharsets.UTF_8);
        String configDigest = client.pushBlob(repo, config);
        byte[] manifest = json(Map.of("schemaVersion", 2, "mediaType", DOCKER_MANIFEST,
                "config", OciClient.descriptor(DOCKER_CONFIG, configDigest, config.length),
                "layers", List.of(OciClient.descriptor(DOCKER_LAYER, layerDigest, layerBytes.length))));
        String key = sha256("RUN apt-get install -y curl".getBytes()).substring(7);
        client.pushManifest(repo, key, DOCKER_MANIFEST, manifest);
        // kaniko looks a key up with a HEAD/GET by tag before deciding to run the step
        assertThat(client.head("/v2/" + repo + "/manifests/" + key, "Accept", DOCKER_MANIFEST).statusCode()).isEqualTo(200);
        assertThat(client.head("/v2/" + repo + "/manifests/" + sha256("other step".getBytes()).substring(7)).statusCode()).isEqualTo(404);
    }
}
