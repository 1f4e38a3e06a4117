package dev.cairn.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.BaseImage;
import dev.cairn.testing.CairnCli;
import dev.cairn.testing.DebianTools;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A cache moved between two Cairns as files, with the real Debian skopeo on both ends: skopeo pushes a
 * two-layer image and a two-platform index into one Cairn, {@code cairn export} writes them to a zstd tar,
 * {@code cairn import} puts that into a second, empty Cairn, and skopeo pulls from the second the very bytes
 * it pushed into the first: the same manifest digests, every platform, every layer verified by skopeo.
 */
class TransferIT {
    private static final Duration LIMIT = Duration.ofMinutes(2);

    @Test
    void skopeoPullsFromTheImportedCacheWhatItPushedIntoTheExportedOne() throws Exception {
        String skopeo = DebianTools.skopeo();
        String umoci = DebianTools.umoci();
        Path layout = BaseImage.buildLayout();
        Path work = Files.createTempDirectory("cairn-transfer-it-");
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            // a second layer, then an arm64 variant of the image, then an index over both
            Path bundle = work.resolve("bundle");
            Processes.runOk(List.of(umoci, "unpack", "--image", layout + ":base", bundle.toString()), LIMIT);
            Files.writeString(bundle.resolve("rootfs/etc/motd"), "moved as a file\n");
            Processes.runOk(List.of(umoci, "repack", "--image", layout + ":base", bundle.toString()), LIMIT);
            Processes.runOk(List.of(umoci, "config", "--image", layout + ":base", "--architecture", "arm64", "--tag", "arm"), LIMIT);
            JsonNode index = OciClient.JSON.readTree(layout.resolve("index.json").toFile());
            List<Map<String, Object>> platforms = new ArrayList<>();
            for (JsonNode d : index.path("manifests")) {
                String ref = d.path("annotations").path("org.opencontainers.image.ref.name").asText();
                Map<String, Object> platform = OciClient.descriptor(d.path("mediaType").asText(), d.path("digest").asText(), d.path("size").asLong());
                platform.put("platform", Map.of("architecture", ref.equals("arm") ? "arm64" : "amd64", "os", "linux"));
                platforms.add(platform);
            }
            assertThat(platforms).hasSize(2);
            byte[] multi = OciClient.json(Map.of("schemaVersion", 2, "mediaType", OciClient.OCI_INDEX, "manifests", platforms));
            String multiDigest = OciClient.sha256(multi);
            Files.write(layout.resolve("blobs/sha256/" + multiDigest.substring(7)), multi);
            var indexJson = (com.fasterxml.jackson.databind.node.ObjectNode) index;
            indexJson.withArray("manifests").addObject().put("mediaType", OciClient.OCI_INDEX).put("digest", multiDigest)
                    .put("size", multi.length).putObject("annotations").put("org.opencontainers.image.ref.name", "multi");
            Files.write(layout.resolve("index.json"), OciClient.JSON.writeValueAsBytes(indexJson));

            String from = source.hostPort();
            Processes.runOk(List.of(skopeo, "copy", "--quiet", "--dest-tls-verify=false", "oci:" + layout + ":base",
                    "docker://" + from + "/team/app:1"), LIMIT);
            Processes.runOk(List.of(skopeo, "copy", "--quiet", "--all", "--dest-tls-verify=false", "oci:" + layout + ":multi",
                    "docker://" + from + "/team/multi:1"), LIMIT);
            String appRaw = skopeoRaw(skopeo, from + "/team/app:1");
            assertThat(OciClient.JSON.readTree(appRaw).path("layers")).hasSize(2);

            Path archive = work.resolve("cache.tar.zst");
            CairnCli.Run export = CairnCli.run("export", "--server", "http://" + from, "-o", archive.toString(), "team/app:1", "team/multi:1");
            assertThat(export.exit()).as(export.err()).isZero();
            CairnCli.Run imported = CairnCli.run("import", "--server", "http://" + target.hostPort(), archive.toString());
            assertThat(imported.exit()).as(imported.err()).isZero();
            assertThat(imported.out()).contains("2 entries");

            String to = target.hostPort();
            assertThat(skopeoRaw(skopeo, to + "/team/app:1")).isEqualTo(appRaw);
            assertThat(skopeoRaw(skopeo, to + "/team/multi:1")).isEqualTo(new String(multi, StandardCharsets.UTF_8));
            // skopeo checks every blob it pulls against its digest: a pull of every platform is the byte-for-byte check
            Path pulled = work.resolve("pulled");
            Processes.runOk(List.of(skopeo, "copy", "--quiet", "--all", "--src-tls-verify=false", "docker://" + to + "/team/multi:1",
                    "oci:" + pulled + ":multi"), LIMIT);
            Processes.runOk(List.of(skopeo, "copy", "--quiet", "--src-tls-verify=false", "docker://" + to + "/team/app:1",
                    "oci:" + pulled + ":app"), LIMIT);
            try (var blobs = Files.list(layout.resolve("blobs/sha256"))) {
                for (Path blob : blobs.toList()) {
                    Path copy = pulled.resolve("blobs/sha256").resolve(blob.getFileName());
                    if (Files.exists(copy)) assertThat(Files.mismatch(blob, copy)).as(blob.getFileName().toString()).isEqualTo(-1);
                }
            }
            JsonNode pulledIndex = OciClient.JSON.readTree(pulled.resolve("index.json").toFile());
            assertThat(pulledIndex.path("manifests").findValuesAsText("digest")).contains(multiDigest);
        } finally {
            TempFiles.deleteRecursively(work);
            TempFiles.deleteRecursively(layout.getParent());
        }
    }

    private static String skopeoRaw(String skopeo, String reference) throws Exception {
        return Processes.runOk(List.of(skopeo, "inspect", "--raw", "--tls-verify=false", "docker://" + reference), LIMIT).output();
    }
}
