package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.CodedOutputStream;
import dev.cairn.testing.CairnCli;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Build-tool caches moved by {@code cairn export} and {@code cairn import} beside the images: ccache's and Gradle's
 * keys, Bazel's action results with the CAS blobs they name (one of them held by its result alone, its CAS key
 * gone), Turborepo's artifacts with their build time and signature; keys keep their times, an export counts no
 * hit, a second import writes nothing, and an archive that lacks a key's content is refused with nothing written.
 */
class KeyedTransferTest {
    private static final String OLD_PUSH = "2026-01-01T00:00:00Z";
    private static final String OLD_USE = "2026-02-01T00:00:00Z";

    /** Everything the source holds under keys, written through each tool's own front. */
    private record Source(byte[] object, byte[] output1, byte[] output2, String action) {
    }

    private static Source fill(RunningCairn source) throws IOException {
        OciClient c = new OciClient(source);
        byte[] object = SeededBytes.of(70_000, 1);
        assertThat(c.put("/cache/ccache/a1/b2c3R", object).statusCode()).isEqualTo(201);
        assertThat(c.put("/cache/ccache/d4/e5f6M", SeededBytes.of(30_000, 2)).statusCode()).isEqualTo(201);
        assertThat(c.put("/cache/ccache/same/content", object).statusCode()).as("a second key, the same bytes").isEqualTo(201);
        assertThat(c.put("/cache/gradle/dir/with%20space.bin", SeededBytes.of(5_000, 3)).statusCode()).isEqualTo(201);
        byte[] output1 = SeededBytes.of(40_000, 4);
        byte[] output2 = SeededBytes.of(50_000, 5);
        assertThat(c.put("/bazel/bz/cas/" + hex(output1), output1).statusCode()).isEqualTo(200);
        assertThat(c.put("/bazel/bz/cas/" + hex(output2), output2).statusCode()).isEqualTo(200);
        String action = hex("the action".getBytes());
        assertThat(c.put("/bazel/bz/ac/" + action, actionResult(output1, output2)).statusCode()).isEqualTo(200);
        // output2's CAS key evicted: the action result alone holds it now
        assertThat(source.node().metadata().deleteEntry("bazel-cas", RepositoryName.of("bz"), hex(output2), Instant.now())).isTrue();
        assertThat(c.put("/v8/artifacts/abc123?slug=web", SeededBytes.of(9_000, 6), "x-artifact-duration", "1234",
                "x-artifact-tag", "signed-by-turbo").statusCode()).isIn(200, 202);
        OciClient.Image image = c.prepareImage("team/app", "application/vnd.oci.image.config.v1+json", SeededBytes.of(20_000, 7));
        c.pushManifest("team/app", "1", OCI_MANIFEST, image.manifest());
        HttpResponse<byte[]> moved = c.post("/api/v1/keyed/cache/ccache/times", OciClient.json(Map.of("entries", List.of(
                Map.of("key", "a1/b2c3R", "pushedAt", OLD_PUSH, "lastUsed", OLD_USE)))), "Content-Type", "application/json");
        assertThat(moved.statusCode()).isEqualTo(200);
        assertThat(OciClient.json(moved).path("backdated").asInt()).isEqualTo(1);
        return new Source(object, output1, output2, action);
    }

    @Test
    void buildToolCachesRoundTripWithTheirTimesAndASecondImportWritesNothing(@TempDir Path work) throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            Source s = fill(source);
            Map<String, List<String>> before = listings(source);
            Path archive = work.resolve("all.tar.zst");
            CairnCli.Run export = CairnCli.run("export", "--server", server(source), "**", "-o", archive.toString());
            assertThat(export.exit()).as(export.err()).isZero();
            assertThat(export.out()).contains("exported cache ccache: 3 keys", "exported bazel-ac bz: 1 keys", "exported turbo web: 1 keys",
                    "1 entries, 7 build-tool cache keys");
            assertThat(listings(source)).as("an export reads without recording a use").isEqualTo(before);
            assertThat(namespaceStats(source, "cache", "ccache").path("hits").asLong()).as("nor counting a hit").isZero();

            CairnCli.Run imported = CairnCli.run("import", "--server", server(target), archive.toString());
            assertThat(imported.exit()).as(imported.err()).isZero();
            assertThat(imported.out()).contains("8 build-tool cache keys written");
            Map<String, List<String>> after = listings(target);
            for (String namespace : List.of("cache ccache", "cache gradle", "turbo web", "bazel-ac bz")) {
                assertThat(after.get(namespace)).as(namespace + ": keys, contents, times, notes and holds").isEqualTo(before.get(namespace));
            }
            assertThat(after.get("bazel-cas bz")).as("the output only the result held is a CAS key again").hasSize(2);
            assertThat(after.get("cache ccache").toString()).contains("a1/b2c3R " + Digest.sha256(s.object()) + " 70000 " + OLD_PUSH + " " + OLD_USE);

            OciClient to = new OciClient(target);
            assertThat(to.get("/cache/ccache/same/content").body()).isEqualTo(s.object());
            assertThat(to.get("/cache/gradle/dir/with%20space.bin").statusCode()).isEqualTo(200);
            HttpResponse<byte[]> artifact = to.get("/v8/artifacts/abc123?slug=web");
            assertThat(artifact.statusCode()).isEqualTo(200);
            assertThat(artifact.headers().firstValue("x-artifact-duration")).hasValue("1234");
            assertThat(artifact.headers().firstValue("x-artifact-tag")).hasValue("signed-by-turbo");
            assertThat(to.get("/bazel/bz/ac/" + s.action()).statusCode()).isEqualTo(200);
            assertThat(to.get("/bazel/bz/cas/" + hex(s.output2())).body()).isEqualTo(s.output2());
            assertThat(to.get("/v2/team/app/manifests/1", "Accept", OCI_MANIFEST).statusCode()).isEqualTo(200);

            CairnCli.Run again = CairnCli.run("import", "--server", server(target), archive.toString());
            assertThat(again.exit()).as(again.err()).isZero();
            assertThat(again.out()).contains("0 build-tool cache keys written (0B), 8 already there");

            // --since: the key last used in February stays behind
            CairnCli.Run recent = CairnCli.run("export", "--server", server(source), "--since", "30d", "ccache", "-o", work.resolve("recent").toString());
            assertThat(recent.exit()).as(recent.err()).isZero();
            assertThat(recent.out()).contains("exported cache ccache: 2 keys");
        }
    }

    @Test
    void anArchiveLackingAKeysContentIsRefusedWithNothingWritten(@TempDir Path work) throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            Source s = fill(source);
            Path layout = work.resolve("layout");
            assertThat(CairnCli.run("export", "--server", server(source), "**", "-o", layout.toString()).exit()).isZero();
            Files.delete(layout.resolve("blobs/sha256/" + Digest.sha256(s.output1()).hex()));

            CairnCli.Run refused = CairnCli.run("import", "--server", server(target), layout.toString());
            assertThat(refused.exit()).isEqualTo(1);
            assertThat(refused.err()).contains("lacks the content " + Digest.sha256(s.output1()), "bazel-cas bz " + hex(s.output1()));
            assertThat(listings(target)).as("no key written").isEmpty();
            assertThat(new OciClient(target).get("/v2/team/app/manifests/1", "Accept", OCI_MANIFEST).statusCode())
                    .as("nor an image").isEqualTo(404);

            // the content back, and a manifest of keys of a kind this Cairn does not keep (named by its new digest)
            Files.write(layout.resolve("blobs/sha256/" + hex(s.output1())), s.output1());
            Path manifest = chunkOf(layout, "turbo");
            byte[] renamed = Files.readString(manifest).replace("\"dev.cairn.kind\":\"turbo\"", "\"dev.cairn.kind\":\"sccache\"").getBytes();
            Files.write(layout.resolve("blobs/sha256/" + hex(renamed)), renamed);
            Path index = layout.resolve("index.json");
            String oldDigest = "sha256:" + manifest.getFileName();
            Files.writeString(index, Files.readString(index).replace(oldDigest, "sha256:" + hex(renamed))
                    .replace("\"size\" : " + Files.size(manifest) + ",", "\"size\" : " + renamed.length + ","));
            CairnCli.Run unknown = CairnCli.run("import", "--server", server(target), layout.toString());
            assertThat(unknown.exit()).isEqualTo(1);
            assertThat(unknown.err()).contains("holds keys of kind sccache, which this Cairn does not keep");
            assertThat(listings(target)).isEmpty();
        }
    }

    /**
     * An archive whose keys are path tricks ("../other/key", a key that would resolve to an image's manifest): the
     * import refuses it before writing anything, where it once wrote outside the namespace the archive names (even an
     * image tag), as a reviewer showed. Malformed paths under the keyed API are 4xx answers.
     */
    @Test
    void anArchiveWhoseKeysClimbOutOfTheirNamespaceIsRefusedWithNothingWritten(@TempDir Path work) throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            OciClient from = new OciClient(source);
            OciClient to = new OciClient(target);
            OciClient.Image image = to.prepareImage("evil", "application/vnd.oci.image.config.v1+json", "layer".getBytes());
            assertThat(from.put("/cache/ccache/a/b", "planted-content".getBytes()).statusCode()).isEqualTo(201);
            assertThat(from.put("/cache/ccache/c/d", image.manifest()).statusCode()).isEqualTo(201);
            Path layout = work.resolve("layout");
            assertThat(CairnCli.run("export", "--server", server(source), "ccache", "-o", layout.toString()).exit()).isZero();
            rewriteKeys(layout, "a/b", "../victim/planted", "c/d", "../../v2/evil/manifests/pwned");

            CairnCli.Run imported = CairnCli.run("import", "--server", server(target), layout.toString());
            assertThat(imported.exit()).isEqualTo(1);
            assertThat(imported.err()).contains("names a key Cairn would not write");
            assertThat(to.get("/cache/victim/planted").statusCode()).isEqualTo(404);
            assertThat(to.get("/v2/evil/manifests/pwned", "Accept", OCI_MANIFEST).statusCode()).isEqualTo(404);
            assertThat(listings(target)).isEmpty();

            for (String path : new String[]{"/api/v1/keyed/cache", "/api/v1/keyed/cache/ccache", "/api/v1/keyed/cache/ccache/entries/x",
                    "/api/v1/keyed//ccache/entries"}) {
                assertThat(to.get(path).statusCode()).as("GET " + path).isBetween(400, 499);
            }
        }
    }

    /** Many keys holding the same bytes (empty outputs, one object under two names) beside others: each written, from one pass. */
    @Test
    void keysSharingTheirContentAllArriveFromACompressedArchive(@TempDir Path work) throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            OciClient c = new OciClient(source);
            assertThat(c.put("/cache/gradle/big/one", SeededBytes.of(2 << 20, 9)).statusCode()).isEqualTo(201);
            for (int i = 0; i < 50; i++) assertThat(c.put("/cache/gradle/same/" + i, "the same bytes".getBytes()).statusCode()).isEqualTo(201);
            Path archive = work.resolve("gradle.tar.zst");
            assertThat(CairnCli.run("export", "--server", server(source), "gradle", "-o", archive.toString()).exit()).isZero();
            CairnCli.Run imported = CairnCli.run("import", "--server", server(target), archive.toString());
            assertThat(imported.exit()).as(imported.err()).isZero();
            assertThat(imported.out()).contains("51 build-tool cache keys written");
            OciClient to = new OciClient(target);
            for (int i = 0; i < 50; i++) assertThat(to.get("/cache/gradle/same/" + i).body()).isEqualTo("the same bytes".getBytes());
        }
    }

    /** Renames keys in the layout's manifests of keys, naming each manifest by its new digest in index.json. */
    private static void rewriteKeys(Path layout, String... fromTo) throws Exception {
        Path index = layout.resolve("index.json");
        var idx = (com.fasterxml.jackson.databind.node.ObjectNode) OciClient.JSON.readTree(index.toFile());
        for (JsonNode d : idx.path("manifests")) {
            if (!d.path("annotations").has("dev.cairn.kind")) continue;
            Path blob = layout.resolve("blobs/sha256/" + Digest.parse(d.path("digest").asText()).hex());
            var m = (com.fasterxml.jackson.databind.node.ObjectNode) OciClient.JSON.readTree(blob.toFile());
            for (JsonNode layer : m.path("layers")) {
                var a = (com.fasterxml.jackson.databind.node.ObjectNode) layer.path("annotations");
                for (int i = 0; i < fromTo.length; i += 2) if (a.path("dev.cairn.key").asText().equals(fromTo[i])) a.put("dev.cairn.key", fromTo[i + 1]);
            }
            byte[] bytes = OciClient.JSON.writeValueAsBytes(m);
            Digest digest = Digest.sha256(bytes);
            Files.write(layout.resolve("blobs/sha256/" + digest.hex()), bytes);
            ((com.fasterxml.jackson.databind.node.ObjectNode) d).put("digest", digest.toString());
            ((com.fasterxml.jackson.databind.node.ObjectNode) d).put("size", bytes.length);
        }
        Files.write(index, OciClient.JSON.writeValueAsBytes(idx));
    }

    /** The blob file of the manifest of keys of {@code kind}. */
    private static Path chunkOf(Path layout, String kind) throws IOException {
        for (JsonNode d : OciClient.JSON.readTree(layout.resolve("index.json").toFile()).path("manifests")) {
            if (kind.equals(d.path("annotations").path("dev.cairn.kind").asText())) {
                return layout.resolve("blobs/sha256/" + Digest.parse(d.path("digest").asText()).hex());
            }
        }
        throw new AssertionError("no manifest of " + kind + " keys");
    }

    /** Every key of every kind and namespace, as the admin API lists them: "kind namespace" to one line a key. */
    private static Map<String, List<String>> listings(RunningCairn node) {
        OciClient c = new OciClient(node);
        Map<String, List<String>> all = new TreeMap<>();
        for (JsonNode n : OciClient.json(c.get("/api/v1/keyed")).path("namespaces")) {
            String kind = n.path("kind").asText();
            String namespace = n.path("namespace").asText();
            List<String> lines = new ArrayList<>();
            for (JsonNode e : OciClient.json(c.get("/api/v1/keyed/" + kind + "/" + namespace + "/entries")).path("entries")) {
                lines.add(e.path("key").asText() + " " + e.path("digest").asText() + " " + e.path("size").asLong() + " "
                        + e.path("pushedAt").asText() + " " + e.path("lastUsed").asText() + " " + e.path("costMillis").asText("-") + " "
                        + e.path("signature").asText("-") + " " + e.path("holds"));
            }
            all.put(kind + " " + namespace, lines);
        }
        return all;
    }

    private static JsonNode namespaceStats(RunningCairn node, String kind, String namespace) {
        for (JsonNode n : OciClient.json(new OciClient(node).get("/api/v1/stats")).path("namespaces")) {
            if (n.path("kind").asText().equals(kind) && n.path("namespace").asText().equals(namespace)) return n;
        }
        throw new AssertionError("no stats for " + kind + " " + namespace);
    }

    private static String server(RunningCairn node) {
        return "http://" + node.hostPort();
    }

    private static String hex(byte[] content) {
        return Digest.sha256(content).hex();
    }

    /** ActionResult { output_files = 2 (OutputFile { path = 1; digest = 2 (Digest { hash = 1; size_bytes = 2 }) }) } */
    private static byte[] actionResult(byte[]... outputs) throws IOException {
        ByteArrayOutputStream result = new ByteArrayOutputStream();
        CodedOutputStream r = CodedOutputStream.newInstance(result);
        int i = 0;
        for (byte[] output : outputs) {
            ByteArrayOutputStream digest = new ByteArrayOutputStream();
            CodedOutputStream d = CodedOutputStream.newInstance(digest);
            d.writeString(1, hex(output));
            d.writeInt64(2, output.length);
            d.flush();
            ByteArrayOutputStream file = new ByteArrayOutputStream();
            CodedOutputStream f = CodedOutputStream.newInstance(file);
            f.writeString(1, "out" + i++);
            f.writeByteArray(2, digest.toByteArray());
            f.flush();
            r.writeByteArray(2, file.toByteArray());
        }
        r.flush();
        return result.toByteArray();
    }
}
