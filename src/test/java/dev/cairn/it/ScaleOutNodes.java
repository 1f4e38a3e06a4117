package dev.cairn.it;

import dev.cairn.testing.CairnProcess;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Postgres;
import dev.cairn.testing.Processes;
import dev.cairn.testing.S3Server;
import dev.cairn.testing.TempFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The scale-out topology on loopback: identical Cairn nodes, each a process of its own (so a test can
 * kill -9 one), sharing one key prefix in an S3 bucket and one PostgreSQL database, both fresh. Node n
 * connects with the JDBC {@code ApplicationName} {@code cairn-node-n}, so a test can tell from
 * {@code pg_stat_activity} which node a database session (and the advisory locks it holds) belongs to.
 * Closing stops the nodes and removes their files, their objects and their database.
 */
final class ScaleOutNodes implements AutoCloseable {
    private final S3Server s3;
    private final Postgres postgres;
    private final String prefix;
    private final String jdbcUrl;
    private final Path root;
    private final List<CairnProcess> nodes = new ArrayList<>();

    private ScaleOutNodes(S3Server s3, Postgres postgres, String prefix, String jdbcUrl, Path root) {
        this.s3 = s3;
        this.postgres = postgres;
        this.prefix = prefix;
        this.jdbcUrl = jdbcUrl;
        this.root = root;
    }

    /** A fresh key prefix and a fresh database, and no node yet. */
    static ScaleOutNodes prepare(S3Server s3, Postgres postgres) throws Exception {
        return new ScaleOutNodes(s3, postgres, "scale-out-" + UUID.randomUUID(), postgres.newDatabase(),
                Files.createTempDirectory("cairn-scale-out-"));
    }

    /**
     * Starts {@code count} nodes with the shared stores' keys plus {@code settings} (config keys → values):
     * node 1 first, which migrates the fresh database, then the others side by side. (Nodes that start
     * together on a fresh database are {@link ScaleOutMigrationIT}'s subject.)
     */
    static ScaleOutNodes start(S3Server s3, Postgres postgres, int count, Map<String, String> settings) throws Exception {
        ScaleOutNodes cluster = prepare(s3, postgres);
        try {
            long started = System.nanoTime();
            cluster.startNodes(1, settings);
            if (count > 1) cluster.startNodes(count - 1, settings);
            System.out.printf(Locale.ROOT, "%d scale-out node(s) started in %.1f s%n", count, (System.nanoTime() - started) / 1e9);
        } catch (Exception | Error e) {
            cluster.close();
            throw e;
        }
        return cluster;
    }

    /**
     * Starts {@code count} more nodes at once (a node's JVM takes seconds to start) and returns when all
     * listen; if one does not, fails with the output of each, and the nodes that did start stay in the cluster.
     */
    void startNodes(int count, Map<String, String> settings) throws Exception {
        int first = nodes.size() + 1;
        List<Future<CairnProcess>> starting = new ArrayList<>();
        try (ExecutorService parallel = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int n = first; n < first + count; n++) {
                Map<String, String> keys = new LinkedHashMap<>(s3.cairnSettings(prefix));
                keys.putAll(postgres.cairnSettings(jdbcUrl + "?ApplicationName=" + applicationName(n)));
                keys.putAll(settings);
                Path home = Files.createDirectories(root.resolve("node-" + n));
                starting.add(parallel.submit(() -> CairnProcess.start(home.resolve("data"), environment(keys))));
            }
        }
        Throwable failure = null;
        for (Future<CairnProcess> node : starting) {
            try {
                nodes.add(node.get());
            } catch (ExecutionException e) {
                if (failure == null) failure = e.getCause();
            }
        }
        if (failure != null) {
            for (int n = first; n < first + count; n++) {
                Path log = root.resolve("node-" + n).resolve("cairn-1.log");
                if (Files.exists(log)) {
                    failure.addSuppressed(new AssertionError("node " + n + "'s output:\n"
                            + Processes.tail(Files.readString(log, StandardCharsets.UTF_8), 6000)));
                }
            }
            if (failure instanceof Exception e) throw e;
            throw (Error) failure;
        }
    }

    /** The name node {@code n}'s database sessions carry in {@code pg_stat_activity.application_name}. */
    static String applicationName(int n) {
        return "cairn-node-" + n;
    }

    /** Config keys as Cairn reads them from the environment: {@code storage.s3.part-size} is {@code CAIRN_STORAGE_S3_PART_SIZE}. */
    static Map<String, String> environment(Map<String, String> settings) {
        Map<String, String> env = new LinkedHashMap<>();
        settings.forEach((key, value) -> env.put("CAIRN_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_'), value));
        return env;
    }

    /** Node {@code n}, counted from 1. */
    CairnProcess node(int n) {
        return nodes.get(n - 1);
    }

    OciClient client(int n) {
        return new OciClient(node(n).hostPort());
    }

    /** The database all nodes share (without the per-node application name). */
    String jdbcUrl() {
        return jdbcUrl;
    }

    /** The key prefix in the bucket under which the nodes keep everything, without a trailing slash. */
    String prefix() {
        return prefix;
    }

    /** One access log line: what a node answered to one request, and how many body bytes it sent. */
    record Request(String method, String path, int status, long sent) {
        private static final Pattern LINE = Pattern.compile(
                "^\\S+ INFO +access - (\\S+) \\S+ (\\S+) (\\d{3}) sent=(\\d+) received=\\d+ \\d+ms$");

        static Optional<Request> parse(String line) {
            Matcher m = LINE.matcher(line);
            return m.matches() ? Optional.of(new Request(m.group(1), m.group(2), Integer.parseInt(m.group(3)), Long.parseLong(m.group(4))))
                    : Optional.empty();
        }

        boolean isBlobRead() {
            return method.equals("GET") && path.matches("/v2/.+/blobs/sha256:[0-9a-f]{64}");
        }
    }

    /** The requests node {@code n} has answered so far, from its access log (text format, {@code log.access} on). */
    List<Request> requests(int n) throws IOException {
        return Files.readAllLines(node(n).log(), StandardCharsets.UTF_8).stream()
                .map(Request::parse).flatMap(Optional::stream).toList();
    }

    @Override
    public void close() throws Exception {
        Exception failure = null;
        for (CairnProcess node : nodes) {
            try {
                node.close();
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        try {
            if (s3.running()) s3.deleteAll(prefix + "/");
            if (postgres.running()) postgres.dropDatabase(jdbcUrl);
        } catch (Exception e) {
            failure = e;
        } finally {
            TempFiles.deleteRecursively(root);
        }
        if (failure != null) throw failure;
    }
}
