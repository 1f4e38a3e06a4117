package dev.cairn.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.BaseImage;
import dev.cairn.testing.DebianTools;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The real Debian {@code skopeo} against a real Cairn on a loopback port, over plain HTTP: copies in
 * (OCI and Docker schema 2), copies out (oci: and dir:), inspect, delete, list-tags and a copy between
 * two repositories, which skopeo performs with cross-repository mounts.
 */
class SkopeoIT {
    private static final Duration LIMIT = Duration.ofMinutes(1);
    private static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    private static final String DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
    private static final String DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    static RunningCairn cairn;
    static OciClient client;
    static Path work;
    static Path layout;
    static Path policy;
    static Path authFile;

    /** What umoci wrote into the layout: the manifest's bytes and digest, its config and layers. */
    static byte[] layoutManifest;
    static String layoutManifestDigest;
    static String configDigest;
    static List<String> layerDigests;

    @BeforeAll
    static void start() throws Exception {
        DebianTools.skopeo();
        work = Files.createTempDirectory("cairn-skopeo-it-");
        // Hermetic client settings: accept any image, and no credentials from the machine's auth files.
        policy = Files.writeString(work.resolve("policy.json"), "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}");
        authFile = Files.writeString(work.resolve("auth.json"), "{}");
        layout = BaseImage.buildLayout();

        JsonNode index = OciClient.JSON.readTree(Files.readAllBytes(layout.resolve("index.json")));
        assertThat(index.path("manifests")).hasSize(1);
        layoutManifestDigest = index.path("manifests").get(0).path("digest").asText();
        layoutManifest = Files.readAllBytes(blobPath(layout, layoutManifestDigest));
        JsonNode manifest = OciClient.JSON.readTree(layoutManifest);
        configDigest = manifest.path("config").path("digest").asText();
        layerDigests = new ArrayList<>();
        manifest.path("layers").forEach(l -> layerDigests.add(l.path("digest").asText()));
        assertThat(layerDigests).isNotEmpty();

        cairn = RunningCairn.start();
        client = new OciClient(cairn);
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (cairn != null) cairn.close();
        } finally {
            if (layout != null) TempFiles.deleteRecursively(layout.getParent());
            if (work != null) TempFiles.deleteRecursively(work);
        }
    }

    // ---- copy into Cairn ----

    @Test
    void copiesAnOciLayoutInAsOciUnchanged() throws Exception {
        push("copy-in/oci", "v1", "oci");

        HttpResponse<byte[]> r = client.get("/v2/copy-in/oci/manifests/v1", "Accept", OciClient.OCI_MANIFEST);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValue(OciClient.OCI_MANIFEST);
        // Same format, same compression: skopeo sends umoci's manifest byte for byte.
        assertThat(r.body()).isEqualTo(layoutManifest);
        assertThat(r.headers().firstValue("Docker-Content-Digest")).hasValue(layoutManifestDigest);
        assertThat(OciClient.sha256(r.body())).isEqualTo(layoutManifestDigest);

        assertBlobsServed("copy-in/oci", configDigest, layerDigests);
        HttpResponse<byte[]> byDigest = client.get("/v2/copy-in/oci/manifests/" + layoutManifestDigest,
                "Accept", OciClient.OCI_MANIFEST);
        assertThat(byDigest.statusCode()).isEqualTo(200);
        assertThat(byDigest.body()).isEqualTo(layoutManifest);
    }

    @Test
    void copiesAnOciLayoutInAsDockerSchema2() throws Exception {
        push("copy-in/docker", "v2s2", "v2s2");

        HttpResponse<byte[]> r = client.get("/v2/copy-in/docker/manifests/v2s2", "Accept", DOCKER_MANIFEST);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValue(DOCKER_MANIFEST);
        assertThat(r.headers().firstValue("Docker-Content-Digest")).hasValue(OciClient.sha256(r.body()));
        JsonNode manifest = OciClient.json(r);
        assertThat(manifest.path("schemaVersion").asInt()).isEqualTo(2);
        assertThat(manifest.path("mediaType").asText()).isEqualTo(DOCKER_MANIFEST);
        assertThat(manifest.path("config").path("mediaType").asText()).isEqualTo(DOCKER_CONFIG);
        // The conversion rewrites media types only: the config and the gzip layers are the same blobs.
        assertThat(manifest.path("config").path("digest").asText()).isEqualTo(configDigest);
        List<String> layers = new ArrayList<>();
        manifest.path("layers").forEach(l -> {
            assertThat(l.path("mediaType").asText()).isEqualTo(DOCKER_LAYER);
            layers.add(l.path("digest").asText());
        });
        assertThat(layers).containsExactlyElementsOf(layerDigests);
        assertBlobsServed("copy-in/docker", configDigest, layerDigests);
    }

    // ---- copy out of Cairn ----

    @Test
    void copiesOutToAnOciLayoutWithTheSameDigests() throws Exception {
        push("copy-out/oci", "v1", "oci");
        Path out = work.resolve("out-oci");
        skopeo("copy", "--quiet", "--src-tls-verify=false", docker("copy-out/oci:v1"), "oci:" + out + ":pulled");

        JsonNode index = OciClient.JSON.readTree(Files.readAllBytes(out.resolve("index.json")));
        assertThat(index.path("manifests")).hasSize(1);
        JsonNode entry = index.path("manifests").get(0);
        assertThat(entry.path("digest").asText()).isEqualTo(layoutManifestDigest);
        assertThat(entry.path("annotations").path("org.opencontainers.image.ref.name").asText()).isEqualTo("pulled");

        Set<String> expected = new HashSet<>(layerDigests);
        expected.add(configDigest);
        expected.add(layoutManifestDigest);
        assertThat(blobDigests(out)).containsExactlyInAnyOrderElementsOf(expected);
        for (String digest : expected) {
            byte[] pulled = Files.readAllBytes(blobPath(out, digest));
            assertThat(OciClient.sha256(pulled)).as("content of %s", digest).isEqualTo(digest);
            assertThat(pulled).as("blob %s", digest).isEqualTo(Files.readAllBytes(blobPath(layout, digest)));
        }
    }

    @Test
    void copiesOutToADirWithTheServedManifestAndBlobs() throws Exception {
        push("copy-out/dir", "v2s2", "v2s2");
        HttpResponse<byte[]> served = client.get("/v2/copy-out/dir/manifests/v2s2", "Accept", DOCKER_MANIFEST);
        assertThat(served.statusCode()).isEqualTo(200);

        Path out = work.resolve("out-dir");
        skopeo("copy", "--quiet", "--src-tls-verify=false", docker("copy-out/dir:v2s2"), "dir:" + out);

        assertThat(Files.readAllBytes(out.resolve("manifest.json"))).isEqualTo(served.body());
        List<String> blobs = new ArrayList<>(layerDigests);
        blobs.add(configDigest);
        for (String digest : blobs) {
            Path file = out.resolve(digest.substring("sha256:".length()));
            assertThat(file).as("dir: blob %s", digest).isRegularFile();
            byte[] pulled = Files.readAllBytes(file);
            assertThat(OciClient.sha256(pulled)).isEqualTo(digest);
            assertThat(pulled).isEqualTo(Files.readAllBytes(blobPath(layout, digest)));
        }
    }

    // ---- inspect ----

    @Test
    void inspectReportsTheDigestAndRawBytesCairnServes() throws Exception {
        push("inspect/oci", "v1", "oci");
        push("inspect/docker", "v1", "v2s2");

        for (String repository : List.of("inspect/oci", "inspect/docker")) {
            HttpResponse<byte[]> served = client.get("/v2/" + repository + "/manifests/v1",
                    "Accept", OciClient.OCI_MANIFEST + ", " + DOCKER_MANIFEST);
            assertThat(served.statusCode()).isEqualTo(200);
            String digest = served.headers().firstValue("Docker-Content-Digest").orElseThrow();
            assertThat(OciClient.sha256(served.body())).isEqualTo(digest);

            HttpResponse<byte[]> head = client.head("/v2/" + repository + "/manifests/v1",
                    "Accept", OciClient.OCI_MANIFEST + ", " + DOCKER_MANIFEST);
            assertThat(head.statusCode()).isEqualTo(200);
            assertThat(head.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
            assertThat(head.headers().firstValueAsLong("Content-Length")).hasValue(served.body().length);

            JsonNode inspected = OciClient.JSON.readTree(
                    skopeo("inspect", "--tls-verify=false", docker(repository + ":v1")).output());
            assertThat(inspected.path("Digest").asText()).as(repository).isEqualTo(digest);
            assertThat(inspected.path("Name").asText()).isEqualTo(cairn.hostPort() + "/" + repository);
            assertThat(texts(inspected.path("RepoTags"))).containsExactly("v1");
            assertThat(texts(inspected.path("Layers"))).containsExactlyElementsOf(layerDigests);
            assertThat(inspected.path("Architecture").asText()).isEqualTo("amd64");
            assertThat(inspected.path("Os").asText()).isEqualTo("linux");

            String raw = skopeo("inspect", "--raw", "--tls-verify=false", docker(repository + ":v1")).output();
            assertThat(raw.getBytes(StandardCharsets.UTF_8)).as("%s --raw", repository).isEqualTo(served.body());

            String rawByDigest = skopeo("inspect", "--raw", "--tls-verify=false", docker(repository + "@" + digest)).output();
            assertThat(rawByDigest.getBytes(StandardCharsets.UTF_8)).isEqualTo(served.body());

            String config = skopeo("inspect", "--config", "--raw", "--tls-verify=false", docker(repository + ":v1")).output();
            assertThat(config.getBytes(StandardCharsets.UTF_8)).isEqualTo(Files.readAllBytes(blobPath(layout, configDigest)));
        }
    }

    // ---- delete ----

    @Test
    void deleteByTagRemovesTheManifest() throws Exception {
        push("delete/by-tag", "t1", "oci");
        push("delete/kept", "t1", "oci"); // the same image in another repository must survive
        assertThat(client.get("/v2/delete/by-tag/manifests/t1").statusCode()).isEqualTo(200);

        skopeo("delete", "--tls-verify=false", docker("delete/by-tag:t1"));

        assertManifestUnknown("/v2/delete/by-tag/manifests/t1");
        assertManifestUnknown("/v2/delete/by-tag/manifests/" + layoutManifestDigest);
        assertThat(tags("delete/by-tag")).doesNotContain("t1");

        HttpResponse<byte[]> kept = client.get("/v2/delete/kept/manifests/t1");
        assertThat(kept.statusCode()).isEqualTo(200);
        assertThat(kept.body()).isEqualTo(layoutManifest);
        assertBlobsServed("delete/kept", configDigest, layerDigests);
    }

    @Test
    void deleteByDigestRemovesTheManifestAndTheTagsOnIt() throws Exception {
        push("delete/by-digest", "d1", "oci");
        push("delete/by-digest", "d2", "oci");
        assertThat(tags("delete/by-digest")).containsExactlyInAnyOrder("d1", "d2");

        skopeo("delete", "--tls-verify=false", docker("delete/by-digest@" + layoutManifestDigest));

        assertManifestUnknown("/v2/delete/by-digest/manifests/" + layoutManifestDigest);
        assertManifestUnknown("/v2/delete/by-digest/manifests/d1");
        assertManifestUnknown("/v2/delete/by-digest/manifests/d2");
        assertThat(tags("delete/by-digest")).isEmpty();

        // skopeo itself now sees nothing there.
        Processes.Result inspect = skopeoRun("inspect", "--raw", "--tls-verify=false", docker("delete/by-digest:d1"));
        assertThat(inspect.exitCode()).isNotZero();
        assertThat(inspect.output()).containsIgnoringCase("manifest unknown");
    }

    // ---- copy between repositories ----

    @Test
    void copiesBetweenRepositoriesWithCrossRepositoryMounts() throws Exception {
        push("mount/a", "x", "oci");

        Processes.Result copy = skopeo("--debug", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                docker("mount/a:x"), docker("mount/b:x"));
        String log = copy.output();
        for (String layer : layerDigests) {
            String encoded = layer.replace(":", "%3A");
            assertThat(log).as("skopeo tried to mount %s from mount/a", layer)
                    .contains("POST http://" + cairn.hostPort() + "/v2/mount/b/blobs/uploads/?from=mount%2Fa&mount=" + encoded);
            assertThat(log).as("the layer was not uploaded again").doesNotContain("Upload of layer " + layer + " complete");
        }
        assertThat(log).contains("... mount OK");

        HttpResponse<byte[]> a = client.get("/v2/mount/a/manifests/x");
        HttpResponse<byte[]> b = client.get("/v2/mount/b/manifests/x");
        assertThat(b.statusCode()).isEqualTo(200);
        assertThat(b.body()).isEqualTo(a.body());
        assertThat(b.headers().firstValue("Docker-Content-Digest")).hasValue(layoutManifestDigest);
        assertBlobsServed("mount/b", configDigest, layerDigests);

        // And skopeo can read the copy back from b alone.
        Path out = work.resolve("out-mounted");
        skopeo("copy", "--quiet", "--src-tls-verify=false", docker("mount/b:x"), "dir:" + out);
        for (String layer : layerDigests) {
            assertThat(OciClient.sha256(Files.readAllBytes(out.resolve(layer.substring("sha256:".length()))))).isEqualTo(layer);
        }
    }

    // ---- list-tags ----

    @Test
    void listTagsShowsThePushedTags() throws Exception {
        push("tags/repo", "v1", "oci");
        push("tags/repo", "v2", "v2s2");
        push("tags/repo", "latest", "oci");
        push("tags/other", "elsewhere", "oci");

        JsonNode listed = OciClient.JSON.readTree(skopeo("list-tags", "--tls-verify=false", docker("tags/repo")).output());
        assertThat(listed.path("Repository").asText()).isEqualTo(cairn.hostPort() + "/tags/repo");
        assertThat(texts(listed.path("Tags"))).containsExactlyInAnyOrder("v1", "v2", "latest");
        assertThat(tags("tags/repo")).containsExactlyInAnyOrder("v1", "v2", "latest");

        Processes.Result missing = skopeoRun("list-tags", "--tls-verify=false", docker("tags/never-pushed"));
        assertThat(missing.exitCode()).as(missing.output()).isNotZero();
    }

    // ---- plain HTTP after the TLS probe ----

    @Test
    void plainHttpWorksAfterSkopeosTlsProbe() throws Exception {
        push("probe/repo", "v1", "oci");
        String log = skopeo("--debug", "inspect", "--raw", "--tls-verify=false", docker("probe/repo:v1")).output();
        // skopeo tries https first; Cairn answers the ClientHello in plain HTTP, so Go reports exactly
        // this and falls back to http on the same port.
        assertThat(log).contains("Ping https://" + cairn.hostPort() + "/v2/ err")
                .contains("server gave HTTP response to HTTPS client")
                .contains("Ping http://" + cairn.hostPort() + "/v2/ status 200");

        // A real TLS ClientHello on the plain port: an HTTP 400, and the server keeps serving.
        String answer = sendClientHello();
        assertThat(answer).startsWith("HTTP/1.1 400");
        assertThat(client.get("/v2/").statusCode()).isEqualTo(200);
        HttpResponse<byte[]> r = client.get("/v2/probe/repo/manifests/v1");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(layoutManifest);
    }

    // ---- helpers ----

    /** skopeo copy of the umoci layout into {@code repository:tag}, as {@code format} (oci or v2s2). */
    static void push(String repository, String tag, String format) throws Exception {
        skopeo("copy", "--quiet", "--dest-tls-verify=false", "--format", format,
                "oci:" + layout + ":base", docker(repository + ":" + tag));
    }

    static String docker(String reference) {
        return "docker://" + cairn.hostPort() + "/" + reference;
    }

    static Processes.Result skopeo(String... args) throws IOException, InterruptedException {
        List<String> command = command(args);
        return Processes.run(command, Map.of("REGISTRY_AUTH_FILE", authFile.toString()), null, LIMIT).requireSuccess(command);
    }

    static Processes.Result skopeoRun(String... args) throws IOException, InterruptedException {
        return Processes.run(command(args), Map.of("REGISTRY_AUTH_FILE", authFile.toString()), null, LIMIT);
    }

    private static List<String> command(String... args) {
        List<String> command = new ArrayList<>(List.of(DebianTools.skopeo(), "--policy", policy.toString()));
        command.addAll(List.of(args));
        return command;
    }

    static void assertBlobsServed(String repository, String config, List<String> layers) throws IOException {
        List<String> all = new ArrayList<>(layers);
        all.add(config);
        for (String digest : all) {
            HttpResponse<byte[]> r = client.get("/v2/" + repository + "/blobs/" + digest);
            assertThat(r.statusCode()).as("GET blob %s in %s", digest, repository).isEqualTo(200);
            assertThat(OciClient.sha256(r.body())).isEqualTo(digest);
            assertThat(r.headers().firstValue("Docker-Content-Digest")).hasValue(digest);
            assertThat(r.body()).isEqualTo(Files.readAllBytes(blobPath(layout, digest)));
        }
    }

    static void assertManifestUnknown(String path) {
        HttpResponse<byte[]> r = client.get(path, "Accept", OciClient.OCI_MANIFEST + ", " + DOCKER_MANIFEST);
        assertThat(r.statusCode()).as("GET %s", path).isEqualTo(404);
        assertThat(OciClient.errorCode(r)).isEqualTo("MANIFEST_UNKNOWN");
    }

    static List<String> tags(String repository) {
        HttpResponse<byte[]> r = client.get("/v2/" + repository + "/tags/list");
        assertThat(r.statusCode()).isEqualTo(200);
        return texts(OciClient.json(r).path("tags"));
    }

    static List<String> texts(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(v -> values.add(v.asText()));
        return values;
    }

    static Path blobPath(Path ociLayout, String digest) {
        int colon = digest.indexOf(':');
        return ociLayout.resolve("blobs").resolve(digest.substring(0, colon)).resolve(digest.substring(colon + 1));
    }

    static Set<String> blobDigests(Path ociLayout) throws IOException {
        try (Stream<Path> files = Files.list(ociLayout.resolve("blobs/sha256"))) {
            Set<String> digests = new HashSet<>();
            files.forEach(f -> digests.add("sha256:" + f.getFileName()));
            return digests;
        }
    }

    /** Sends the ClientHello a real TLS client would send to Cairn's plain-HTTP port; returns what came back. */
    static String sendClientHello() throws Exception {
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, null, null);
        SSLEngine engine = tls.createSSLEngine("127.0.0.1", cairn.port());
        engine.setUseClientMode(true);
        engine.beginHandshake();
        ByteBuffer hello = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.wrap(ByteBuffer.allocate(0), hello);
        hello.flip();
        byte[] bytes = new byte[hello.remaining()];
        hello.get(bytes);
        assertThat(bytes[0]).as("a TLS handshake record").isEqualTo((byte) 0x16);

        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", cairn.port()), 5000);
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(bytes);
            socket.getOutputStream().flush();
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[4096];
            try {
                for (int n; (n = in.read(buffer)) > 0; ) {
                    received.write(buffer, 0, n);
                    if (received.toString(StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) break;
                }
            } catch (SocketTimeoutException e) {
                // whatever arrived is the answer
            }
            return received.toString(StandardCharsets.ISO_8859_1);
        }
    }
}
