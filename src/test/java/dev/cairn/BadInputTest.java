package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RawHttp;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.StoreSnapshot;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static dev.cairn.testing.OciClient.descriptor;
import static dev.cairn.testing.OciClient.errorCode;
import static dev.cairn.testing.OciClient.json;
import static dev.cairn.testing.OciClient.sha256;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * DESIGN.md invariant 5: bad input gets the OCI error code and a 4xx, never a 500, and leaves the
 * store byte-for-byte unchanged (every blob and upload file, every metadata row).
 */
class BadInputTest {
    static RunningCairn cairn;
    static OciClient client;
    static OciClient.Image image;
    static String openUpload;
    StoreSnapshot before;

    @BeforeAll
    static void start() throws Exception {
        cairn = RunningCairn.start(Map.of("registry.max-manifest-bytes", "64KiB"));
        client = new OciClient(cairn);
        image = client.prepareImage("bad/app", "application/vnd.oci.image.config.v1+json", "layer".getBytes());
        client.pushManifest("bad/app", "v1", OCI_MANIFEST, image.manifest());
        openUpload = client.post("/v2/bad/app/blobs/uploads/", null).headers().firstValue("Location").orElseThrow();
        client.patch(openUpload, "first".getBytes(), "Content-Range", "0-4");
    }

    @AfterAll
    static void stop() throws Exception {
        cairn.close();
    }

    @BeforeEach
    void snapshot() throws Exception {
        before = StoreSnapshot.of(cairn);
    }

    @AfterEach
    void storeIsUnchanged() throws Exception {
        assertThat(StoreSnapshot.of(cairn).changesSince(before)).as("changes to the store").isEmpty();
    }

    private static void assertOciError(HttpResponse<byte[]> r, int status, String code) {
        assertThat(r.statusCode()).as(OciClient.text(r)).isEqualTo(status);
        assertThat(errorCode(r)).isEqualTo(code);
    }

    private static void assertRawOciError(String response, int status, String code) {
        assertThat(RawHttp.status(response)).as(response).isEqualTo(status);
        assertThat(RawHttp.body(response)).contains("\"code\":\"" + code + "\"");
    }

    @Test
    void invalidRepositoryNames() throws Exception {
        String longName = "a".repeat(200) + "/" + "b".repeat(60);
        for (String name : List.of("Upper/Case", "a//b", "a/", "-lead", "a/-b", longName, "a/b.", "a__-b")) {
            assertOciError(client.post("/v2/" + name + "/blobs/uploads/", null), 400, "NAME_INVALID");
        }
        for (String path : List.of("/v2/a/../b/blobs/uploads/", "/v2/a/./b/blobs/uploads/", "/v2/../../etc/blobs/uploads/",
                "/v2/a%2f..%2fb/blobs/uploads/", "/v2/a/%2e%2e/b/blobs/uploads/")) {
            assertRawOciError(RawHttp.post(cairn.port(), path), 400, "NAME_INVALID");
        }
        assertRawOciError(RawHttp.get(cairn.port(), "/v2/a/../bad/app/manifests/v1"), 400, "NAME_INVALID");
    }

    @Test
    void requestLinesJettyRefusesSayWhatWasWrong() throws Exception {
        String climbing = RawHttp.get(cairn.port(), "/v2/../../etc/passwd");
        assertRawOciError(climbing, 400, "NAME_INVALID");
        assertThat(RawHttp.body(climbing)).contains("climbs above the root");
        String badEscape = RawHttp.get(cairn.port(), "/v2/team/%zzapp/manifests/v1");
        assertRawOciError(badEscape, 400, "NAME_INVALID");
        assertThat(RawHttp.body(badEscape)).contains("malformed percent-encoding", "not 'z'");
    }

    @Test
    void unknownAlgorithmAndMalformedDigests() {
        byte[] body = "content".getBytes();
        for (String digest : List.of("md5:9a0364b9e99bb480dd25e1f0284c8555", "sha256:xyz", "sha256:" + "A".repeat(64),
                "sha256:" + "a".repeat(63), "nocolon", "sha256:")) {
            assertOciError(client.post("/v2/bad/app/blobs/uploads/?digest=" + digest, body), 400, "DIGEST_INVALID");
            // a read of what cannot exist is "not found", as in Distribution and the conformance suite
            assertOciError(client.get("/v2/bad/app/blobs/" + digest), 404, "BLOB_UNKNOWN");
            assertThat(client.head("/v2/bad/app/blobs/" + digest).statusCode()).isEqualTo(404);
        }
        assertOciError(client.get("/v2/a/manifests/sha256:totallywrong"), 404, "MANIFEST_UNKNOWN");
        assertOciError(client.delete("/v2/bad/app/manifests/sha256:totallywrong"), 404, "MANIFEST_UNKNOWN");
    }

    @Test
    void aManifestReferenceThatIsNeitherTagNorDigestIsNotFoundOnReadAndInvalidOnPush() {
        // (a push names the tag it creates: an invalid one is the spec's MANIFEST_INVALID, there being no TAG_INVALID in it)
        for (String reference : List.of(".INVALID_MANIFEST_NAME", "-starts-with-dash", "a".repeat(129))) {
            assertOciError(client.get("/v2/bad/app/manifests/" + reference), 404, "MANIFEST_UNKNOWN");
            assertThat(client.head("/v2/bad/app/manifests/" + reference).statusCode()).isEqualTo(404);
            assertOciError(client.delete("/v2/bad/app/manifests/" + reference), 404, "MANIFEST_UNKNOWN");
            assertOciError(client.put("/v2/bad/app/manifests/" + reference, "{\"schemaVersion\":2}".getBytes(),
                    "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 400, "MANIFEST_INVALID");
        }
    }

    @Test
    void digestMismatchOnMonolithicPush() {
        assertOciError(client.post("/v2/bad/app/blobs/uploads/?digest=" + sha256("other".getBytes()), "content".getBytes()),
                400, "DIGEST_INVALID");
    }

    @Test
    void putWithoutDigestLeavesTheSessionAsItWas() {
        assertOciError(client.put(openUpload, "more".getBytes()), 400, "DIGEST_INVALID");
    }

    @Test
    void manifestsReferencingMissingBlobs() {
        byte[] manifest = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                "config", descriptor("application/vnd.oci.image.config.v1+json", image.configDigest(), 10),
                "layers", List.of(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", sha256("gone".getBytes()), 4))));
        assertOciError(client.put("/v2/bad/app/manifests/v1", manifest, "Content-Type", OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN");
        assertOciError(client.put("/v2/bad/app/manifests/new", manifest, "Content-Type", OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN");
    }

    @Test
    void urlsDoNotExcuseAMissingConfigOrIndexEntry() {
        String missing = sha256("missing but with urls".getBytes());
        Map<String, Object> config = new LinkedHashMap<>(descriptor("application/vnd.oci.image.config.v1+json", missing, 10));
        config.put("urls", List.of("https://example.invalid/config"));
        byte[] manifest = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST, "config", config, "layers", List.of()));
        assertOciError(client.put("/v2/bad/app/manifests/urls", manifest, "Content-Type", OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN");
        Map<String, Object> layer = new LinkedHashMap<>(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", missing, 10));
        layer.put("urls", List.of("https://example.invalid/layer"));
        byte[] withLayer = json(Map.of("schemaVersion", 2, "mediaType", OCI_MANIFEST,
                "config", descriptor("application/vnd.oci.image.config.v1+json", image.configDigest(), 10), "layers", List.of(layer)));
        assertOciError(client.put("/v2/bad/app/manifests/urls", withLayer, "Content-Type", OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN");
    }

    @Test
    void malformedManifests() {
        String config = "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + image.configDigest() + "\",\"size\":1}";
        List<String> bodies = List.of(
                "", "not json", "{", "[]", "null", "{\"schemaVersion\":2,",
                "{\"schemaVersion\":1,\"config\":" + config + ",\"layers\":[]}",
                "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"layers\":[]}",
                "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":" + config + "}",
                "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":" + config + ",\"layers\":[{\"mediaType\":\"x\",\"digest\":\"sha256:zz\",\"size\":1}]}",
                "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":" + config + ",\"layers\":[{\"mediaType\":\"x\",\"digest\":\"" + image.configDigest() + "\",\"size\":-1}]}",
                "{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":" + config + ",\"layers\":[],\"layers\":[]}",
                "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":{}}",
                "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.unknown\",\"config\":" + config + ",\"layers\":[]}");
        for (String body : bodies) {
            assertOciError(client.put("/v2/bad/app/manifests/v1", body.getBytes(), "Content-Type", OCI_MANIFEST), 400, "MANIFEST_INVALID");
        }
        // Content-Type and the document's mediaType disagree
        assertOciError(client.put("/v2/bad/app/manifests/v1", image.manifest(), "Content-Type",
                "application/vnd.oci.image.index.v1+json"), 400, "MANIFEST_INVALID");
        // deeply nested JSON is refused, not a stack overflow
        String deep = "{\"schemaVersion\":2,\"annotations\":" + "[".repeat(5000) + "]".repeat(5000) + "}";
        assertOciError(client.put("/v2/bad/app/manifests/v1", deep.getBytes(), "Content-Type", OCI_MANIFEST), 400, "MANIFEST_INVALID");
    }

    @Test
    void invalidTag() {
        assertOciError(client.put("/v2/bad/app/manifests/-tag", image.manifest(), "Content-Type", OCI_MANIFEST), 400, "MANIFEST_INVALID");
        assertOciError(client.put("/v2/bad/app/manifests/" + "t".repeat(129), image.manifest(), "Content-Type", OCI_MANIFEST),
                400, "MANIFEST_INVALID");
    }

    @Test
    void manifestOverTheLimit() throws Exception {
        Map<String, Object> manifest = OciClient.jsonMap(image.manifest());
        manifest.put("annotations", Map.of("padding", "p".repeat(70_000)));
        assertOciError(client.put("/v2/bad/app/manifests/v1", json(manifest), "Content-Type", OCI_MANIFEST), 413, "MANIFEST_INVALID");
    }

    @Test
    void badRanges() {
        assertOciError(client.get("/v2/bad/app/blobs/" + image.configDigest(), "Range", "bytes=99999-"), 416, "RANGE_INVALID");
        assertOciError(client.get("/v2/bad/app/blobs/" + image.configDigest(), "Range", "lines=1-2"), 416, "RANGE_INVALID");
    }

    @Test
    void patchToAnUnknownSession() {
        assertOciError(client.patch("/v2/bad/app/blobs/uploads/00000000-0000-4000-8000-000000000000", "x".getBytes()),
                404, "BLOB_UPLOAD_UNKNOWN");
        assertOciError(client.patch("/v2/bad/app/blobs/uploads/..%2f..%2fcairn.db", "x".getBytes()), 404, "BLOB_UPLOAD_UNKNOWN");
    }

    @Test
    void chunkOutOfOrder() {
        HttpResponse<byte[]> r = client.patch(openUpload, "later".getBytes(), "Content-Range", "100-104");
        assertThat(r.statusCode()).isEqualTo(416);
        assertThat(r.headers().firstValue("Range")).hasValue("0-4");
        assertThat(client.patch(openUpload, "again".getBytes(), "Content-Range", "0-4").statusCode()).isEqualTo(416);
    }

    @Test
    void deletesOfThingsThatDoNotExist() {
        assertOciError(client.delete("/v2/bad/app/manifests/never"), 404, "MANIFEST_UNKNOWN");
        assertOciError(client.delete("/v2/bad/app/blobs/" + sha256("never".getBytes())), 404, "BLOB_UNKNOWN");
        assertOciError(client.delete("/v2/bad/nothing/manifests/" + image.digest()), 404, "MANIFEST_UNKNOWN");
    }
}
