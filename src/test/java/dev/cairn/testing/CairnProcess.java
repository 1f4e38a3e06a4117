package dev.cairn.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Cairn in a process of its own, so a test can kill it the hard way (SIGKILL) and start it again on the
 * same data and port. Its output goes to {@code <data>/../cairn-<n>.log}.
 */
public final class CairnProcess implements AutoCloseable {
    private final Path dataDir;
    private final int port;
    private final Map<String, String> environment;
    private Process process;
    private int starts;

    private CairnProcess(Path dataDir, int port, Map<String, String> environment) {
        this.dataDir = dataDir;
        this.port = port;
        this.environment = Map.copyOf(environment);
    }

    public static CairnProcess start(Path dataDir) throws IOException, InterruptedException {
        return start(dataDir, Map.of());
    }

    /**
     * Starts Cairn with extra environment variables, which is how a test sets config keys
     * ({@code retention.grace} is {@code CAIRN_RETENTION_GRACE}); every restart gets the same ones.
     */
    public static CairnProcess start(Path dataDir, Map<String, String> environment) throws IOException, InterruptedException {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        CairnProcess cairn = new CairnProcess(dataDir, port, environment);
        cairn.launch();
        return cairn;
    }

    private void launch() throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), "dev.cairn.cli.CairnCommand", "serve",
                "--listen", "127.0.0.1:" + port, "--data", dataDir.toString()));
        Path log = dataDir.resolveSibling("cairn-" + (++starts) + ".log");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(environment);
        process = builder.start();
        // generous: on a busy two-core machine a JVM starting beside others may take tens of seconds
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new AssertionError("Cairn exited with " + process.exitValue() + "; see " + log);
            }
            try (Socket ignored = new Socket("127.0.0.1", port)) {
                return;
            } catch (IOException notYet) {
                Thread.sleep(100);
            }
        }
        kill(); // not left running behind the failure
        throw new AssertionError("Cairn did not listen on " + port + " within 60 s; see " + log);
    }

    /** SIGKILL: no shutdown hook, no flush, no cleanup. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    public void restart() throws IOException, InterruptedException {
        if (process.isAlive()) kill();
        launch();
    }

    public String hostPort() {
        return "127.0.0.1:" + port;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** Where the current run writes its output (the access log too, unless {@code log.access} is off). */
    public Path log() {
        return dataDir.resolveSibling("cairn-" + starts + ".log");
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) kill();
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
