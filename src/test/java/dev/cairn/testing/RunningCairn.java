package dev.cairn.testing;

import dev.cairn.Cairn;
import dev.cairn.config.CairnConfig;
import dev.cairn.config.ConfigLoader;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A real Cairn node in this JVM, on a loopback port it picked, over a data directory of its own.
 * Close it to stop it; {@link #restart()} stops and starts it again on the same data.
 */
public final class RunningCairn implements AutoCloseable {
    private final Path dataDir;
    private final Map<String, String> settings;
    private Cairn cairn;

    private RunningCairn(Path dataDir, Map<String, String> settings) throws Exception {
        this.dataDir = dataDir;
        this.settings = settings;
        this.cairn = Cairn.start(config(0));
    }

    /** Starts a node on 127.0.0.1 with a fresh data directory; {@code settings} are config keys → values. */
    public static RunningCairn start(Map<String, String> settings) throws Exception {
        return new RunningCairn(Files.createTempDirectory("cairn-test-"), new LinkedHashMap<>(settings));
    }

    public static RunningCairn start() throws Exception {
        return start(Map.of());
    }

    private CairnConfig config(int port) {
        Map<String, String> flags = new LinkedHashMap<>(settings);
        flags.put("listen", "127.0.0.1:" + port);
        flags.put("data-dir", dataDir.toString());
        flags.putIfAbsent("log.access", "false");
        return ConfigLoader.load(Optional.empty(), Map.of(), flags).config();
    }

    /** Stops the node and starts it again on the same port and data. */
    public void restart() throws Exception {
        int port = cairn.port();
        cairn.close();
        cairn = Cairn.start(config(port));
    }

    public int port() {
        return cairn.port();
    }

    /** {@code 127.0.0.1:PORT}, as clients write a registry host. */
    public String hostPort() {
        return "127.0.0.1:" + port();
    }

    public URI uri(String path) {
        return URI.create("http://" + hostPort() + path);
    }

    public Path dataDir() {
        return dataDir;
    }

    public Cairn node() {
        return cairn;
    }

    @Override
    public void close() throws IOException {
        try {
            cairn.close();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("stopping Cairn failed", e);
        } finally {
            TempFiles.deleteRecursively(dataDir);
        }
    }
}
