package dev.cairn.it;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The README's first command: bin/cairn serve starts, prints its configuration, and SIGTERM stops it cleanly. */
class LauncherIT {
    private static final Path ROOT = Path.of("").toAbsolutePath();

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void binCairnServesPrintsItsConfigurationAndStopsOnSigterm() throws Exception {
        Path work = Files.createTempDirectory("cairn-launcher-");
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path log = work.resolve("serve.log");
        Process serve = new ProcessBuilder(ROOT.resolve("bin/cairn").toString(), "serve",
                "--listen", "127.0.0.1:" + port, "--data", work.resolve("data").toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            OciClient client = new OciClient("127.0.0.1:" + port);
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            boolean up = false;
            while (!up && System.nanoTime() < deadline && serve.isAlive()) {
                try {
                    up = client.get("/v2/").statusCode() == 200;
                } catch (AssertionError notYet) {
                    Thread.sleep(200);
                }
            }
            assertThat(up).as("bin/cairn serve answers /v2/; log:\n" + Files.readString(log)).isTrue();
            String started = Files.readString(log);
            assertThat(started).contains("effective configuration", "listen = 127.0.0.1:" + port + "  (flag)",
                    "registry.max-manifest-bytes = 16MiB  (default)");
            client.pushBlob("launcher/app", "bytes".getBytes());

            // bin/cairn execs the JVM, so this SIGTERM reaches Cairn itself
            serve.destroy();
            assertThat(serve.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(serve.exitValue()).as(Files.readString(log)).isIn(0, 143);
            assertThat(Files.readString(log)).contains("draining in-flight requests", "stopped");
            assertThat(Files.exists(work.resolve("data/cairn.db"))).isTrue();
        } finally {
            serve.destroyForcibly();
            TempFiles.deleteRecursively(work);
        }
    }

    @Test
    void configCheckValidatesAndReportsTheMode() throws Exception {
        Path work = Files.createTempDirectory("cairn-config-");
        try {
            Path good = work.resolve("good.yaml");
            Files.writeString(good, "listen: 127.0.0.1:7000\nregistry:\n  max-manifest-bytes: 32MiB\n");
            Process ok = new ProcessBuilder(ROOT.resolve("bin/cairn").toString(), "config", "check", "--config", good.toString())
                    .redirectErrorStream(true).start();
            String okOut = new String(ok.getInputStream().readAllBytes());
            assertThat(ok.waitFor()).as(okOut).isZero();
            assertThat(okOut).contains("configuration is valid", "mode: embedded", "registry.max-manifest-bytes = 32MiB");

            Path bad = work.resolve("bad.yaml");
            Files.writeString(bad, "registry:\n  max-manifest-bytes: huge\n");
            Process refused = new ProcessBuilder(List.of(ROOT.resolve("bin/cairn").toString(), "config", "check", "--config", bad.toString()))
                    .redirectErrorStream(true).start();
            String badOut = new String(refused.getInputStream().readAllBytes());
            assertThat(refused.waitFor()).isEqualTo(2);
            assertThat(badOut).contains("registry.max-manifest-bytes");
        } finally {
            TempFiles.deleteRecursively(work);
        }
    }
}
