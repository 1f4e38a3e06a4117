package dev.cairn.cli;

import dev.cairn.testing.CairnCli;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.cairn.testing.OciClient.OCI_MANIFEST;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code cairn import} killed with SIGKILL while its blobs are going, in a process of its own, then run again:
 * the second run sends only what had not arrived, completes every entry, and the target holds each blob once.
 */
class ImportKilledMidwayTest {
    private static final int IMAGES = 6;
    private static final int LAYERS = 40;
    private static final int LAYER_BYTES = 256 << 10;

    @Test
    void anImportKilledMidwayAndRunAgainCompletesAndStoresEachBlobOnce(@TempDir Path work) throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            OciClient from = new OciClient(source);
            Map<String, String> pushed = new LinkedHashMap<>();
            int blobs = 0;
            for (int i = 0; i < IMAGES; i++) {
                byte[][] layers = new byte[LAYERS][];
                for (int l = 0; l < LAYERS; l++) layers[l] = SeededBytes.of(LAYER_BYTES, i * 1000L + l);
                OciClient.Image image = from.prepareImage("team/big", "application/vnd.oci.image.config.v1+json", layers);
                pushed.put("v" + i, from.pushManifest("team/big", "v" + i, OCI_MANIFEST, image.manifest()));
                blobs += LAYERS + 1;
            }
            Path layout = work.resolve("layout");
            CairnCli.Run export = CairnCli.run("export", "--server", "http://" + source.hostPort(), "team/big", "-o", layout.toString());
            assertThat(export.exit()).as(export.err()).isZero();

            String java = ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
            Process importing = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    "dev.cairn.cli.CairnCommand", "import", "--server", "http://" + target.hostPort(), layout.toString())
                    .redirectErrorStream(true).redirectOutput(work.resolve("import.log").toFile()).start();
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (target.node().metadata().blobCount() < 10 && importing.isAlive() && System.nanoTime() < deadline) Thread.sleep(2);
            importing.destroyForcibly(); // SIGKILL: no shutdown hook, uploads cut off wherever they were
            importing.waitFor();
            long arrived = target.node().metadata().blobCount();
            assertThat(arrived).as("killed while blobs were going (see import.log)").isBetween(10L, (long) blobs - 1);
            assertThat(new OciClient(target).get("/v2/team/big/manifests/v" + (IMAGES - 1), "Accept", OCI_MANIFEST).statusCode())
                    .as("no entry linked before its blobs").isEqualTo(404);

            CairnCli.Run again = CairnCli.run("import", "--server", "http://" + target.hostPort(), layout.toString());
            assertThat(again.exit()).as(again.err()).isZero();
            assertThat(again.out()).contains((blobs - arrived) + " blobs sent").contains(arrived + " already there");
            OciClient to = new OciClient(target);
            for (var e : pushed.entrySet()) {
                assertThat(OciClient.sha256(to.get("/v2/team/big/manifests/" + e.getKey(), "Accept", OCI_MANIFEST).body())).isEqualTo(e.getValue());
            }
            assertThat(target.node().metadata().blobCount()).as("each blob once").isEqualTo(blobs);
            assertThat(target.node().metadata().storedBytes()).as("and its bytes once, as the source holds them")
                    .isEqualTo(source.node().metadata().storedBytes());
        }
    }
}
