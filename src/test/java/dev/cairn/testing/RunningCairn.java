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
 *
 * <p>Where its blobs and records live follows {@link TestBackend#current()}: files and SQLite under the
 * data directory by default; with {@code -Dcairn.test.backend=s3-postgres}, a {@link SharedStore} of its
 * own (a key prefix in S3Proxy, a PostgreSQL database), removed when the node is closed. {@link
 * #startOn(SharedStore, Map)} starts further nodes on one store, as a scale-out deployment runs them.
 */
public final class RunningCairn implements AutoCloseable {
    private final Path dataDir;
    private final Map<String, String> settings;
    private final Optional<SharedStore> store;
    private final boolean ownsStore;
    private Cairn cairn;

    private RunningCairn(Path dataDir, Map<String, String> settings, Optional<SharedStore> store, boolean ownsStore) throws Exception {
        this.dataDir = dataDir;
        this.settings = settings;
        this.store = store;
        this.ownsStore = ownsStore;
        this.cairn = Cairn.start(config(0));
    }

    /**
     * Starts a node on 127.0.0.1 with a fresh data directory; {@code settings} are config keys → values.
     * On the s3-postgres backend they come on top of the store's keys, so a test's own settings win.
     */
    public static RunningCairn start(Map<String, String> settings) throws Exception {
        if (TestBackend.current() == TestBackend.S3_POSTGRES) {
            SharedStore store = SharedStore.fresh();
            try {
                return startOn(store, settings, true);
            } catch (Exception | Error e) {
                try {
                    store.drop();
                } catch (Exception dropFailed) {
                    e.addSuppressed(dropFailed);
                }
                throw e;
            }
        }
        return new RunningCairn(Files.createTempDirectory("cairn-test-"), new LinkedHashMap<>(settings), Optional.empty(), false);
    }

    public static RunningCairn start() throws Exception {
        return start(Map.of());
    }

    /**
     * Starts a node, with a data directory of its own, whose blobs and records live in {@code store}, which
     * other nodes may share. Closing the node leaves the store as it is: drop it when every node is done.
     */
    public static RunningCairn startOn(SharedStore store, Map<String, String> settings) throws Exception {
        return startOn(store, settings, false);
    }

    private static RunningCairn startOn(SharedStore store, Map<String, String> settings, boolean ownsStore) throws Exception {
        Map<String, String> merged = new LinkedHashMap<>(store.cairnSettings());
        merged.putAll(settings);
        return new RunningCairn(Files.createTempDirectory("cairn-test-"), merged, Optional.of(store), ownsStore);
    }

    private CairnConfig config(int port) {
        Map<String, String> flags = new LinkedHashMap<>(settings);
        flags.put("listen", "127.0.0.1:" + port);
        flags.put("data-dir", dataDir.toString());
        flags.putIfAbsent("log.access", "false");
        return ConfigLoader.load(Optional.empty(), Map.of(), flags).config();
    }

    /** Stops the node and starts it again on the same port and data. */
    /** Restarts the node on the same data directory with these settings changed (a smaller budget, say). */
    public void restartWith(Map<String, String> changes) throws Exception {
        settings.putAll(changes);
        restart();
    }

    public void restart() throws Exception {
        restart(() -> { });
    }

    /** Work done to the stores while the node is down (what a crash would leave, say). */
    @FunctionalInterface
    public interface WhileDown {
        void run() throws Exception;
    }

    /** Stops the node, runs {@code whileDown}, and starts it again on the same port and data. */
    public void restart(WhileDown whileDown) throws Exception {
        int port = cairn.port();
        cairn.close();
        whileDown.run();
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

    /** The S3 prefix and PostgreSQL database this node keeps its blobs and records in; empty on the embedded backend. */
    public Optional<SharedStore> sharedStore() {
        return store;
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
            try {
                if (ownsStore) store.orElseThrow().drop();
            } catch (java.sql.SQLException e) {
                throw new IOException("removing the node's S3 prefix and database failed", e);
            } finally {
                TempFiles.deleteRecursively(dataDir);
            }
        }
    }
}
