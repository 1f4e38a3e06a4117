package dev.cairn.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Distribution (Debian's docker-registry) on a loopback port of its own, its storage in a temporary directory: an
 * upstream registry for the mirror's tests. Its access log (one line a request) tells what the mirror asked of it.
 * {@link #stop()} and {@link #startAgain()} keep the storage and the port.
 */
public final class DistributionRegistry implements AutoCloseable {
    private final Path dir;
    private final int port;
    private Process process;
    private int starts;

    private DistributionRegistry(Path dir, int port) {
        this.dir = dir;
        this.port = port;
    }

    public static DistributionRegistry start() throws IOException, InterruptedException {
        String binary = DebianTools.require("/usr/bin/docker-registry", "docker-registry");
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path dir = Files.createTempDirectory("cairn-upstream-");
        Files.writeString(dir.resolve("config.yml"), """
                version: 0.1
                log:
                  level: info
                storage:
                  filesystem:
                    rootdirectory: %s
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:%d
                """.formatted(dir.resolve("storage"), port));
        DistributionRegistry registry = new DistributionRegistry(dir, port);
        registry.launch(binary);
        return registry;
    }

    private void launch(String binary) throws IOException, InterruptedException {
        Path log = dir.resolve("registry-" + (++starts) + ".log");
        process = new ProcessBuilder(binary, "serve", dir.resolve("config.yml").toString()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) throw new AssertionError("docker-registry exited; see " + log);
            try {
                if (http.send(HttpRequest.newBuilder(URI.create(url() + "/v2/")).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) return;
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(50);
        }
        throw new AssertionError("docker-registry did not answer within 30 s; see " + log);
    }

    public int port() {
        return port;
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    public String hostPort() {
        return "127.0.0.1:" + port;
    }

    /** The requests it logged so far whose request line contains {@code fragment} ("GET /v2/library/x/blobs/"). */
    public long requests(String fragment) throws IOException {
        long n = 0;
        try (var logs = Files.list(dir)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().startsWith("registry-")).toList()) {
                List<String> lines = Files.readAllLines(log);
                n += lines.stream().filter(l -> l.contains("\"" + fragment) || l.contains(" " + fragment)).filter(l -> l.contains("HTTP/1.1\"")).count();
            }
        }
        return n;
    }

    public void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            process.waitFor();
        }
    }

    /** Starts it again after {@link #stop()}, on the same port and storage. */
    public void startAgain() throws IOException, InterruptedException {
        launch(DebianTools.require("/usr/bin/docker-registry", "docker-registry"));
    }

    @Override
    public void close() throws Exception {
        stop();
        TempFiles.deleteRecursively(dir);
    }
}
