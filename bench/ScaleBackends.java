import dev.cairn.testing.Postgres;
import dev.cairn.testing.S3Server;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The shared backends of a fleet's node for bench/run --scale's PostgreSQL mode (SCALE_METADATA=postgres): a real
 * PostgreSQL server and a real S3 API server (S3Proxy over files), each on a port of its own on 127.0.0.1, started
 * through the same fixtures the tests use (dev.cairn.testing, so the test classes and their dependencies must be on
 * the class path), under java.io.tmpdir. PostgreSQL runs with fsync on, as a real server does.
 *
 * <p>Prints the node's settings as environment assignments ({@code CAIRN_...=...}, one a line), then {@code ready}.
 * Then reads commands on standard input, answering each with a line: {@code seeding} makes the database's commits
 * stop waiting for their WAL to reach the disk (the PostgreSQL counterpart of seeding through eatmydata);
 * {@code durable} takes that back and runs a checkpoint, so everything seeded is on disk before anything is measured;
 * {@code size} answers with the database's size in bytes. End of input stops both servers and removes their files.
 */
public final class ScaleBackends {
    public static void main(String[] args) throws Exception {
        try (Postgres postgres = Postgres.startOwn(Map.of("fsync", "on", "synchronous_commit", "on"));
             S3Server s3 = S3Server.start()) {
            String jdbcUrl = postgres.newDatabase();
            String database = jdbcUrl.substring(jdbcUrl.lastIndexOf('/') + 1);
            Map<String, String> settings = new LinkedHashMap<>(postgres.cairnSettings(jdbcUrl));
            settings.putAll(s3.cairnSettings(""));
            settings.forEach((key, value) -> System.out.println(
                    "CAIRN_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_') + "=" + value));
            System.out.println("ready");
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String command; (command = in.readLine()) != null; ) {
                try (Connection c = postgres.admin("postgres"); Statement s = c.createStatement()) {
                    String answer = "";
                    switch (command.strip()) {
                        // a database's setting wins over the server's command line for the sessions opened after it
                        case "seeding" -> s.execute("ALTER DATABASE " + database + " SET synchronous_commit = off");
                        case "durable" -> {
                            s.execute("ALTER DATABASE " + database + " RESET synchronous_commit");
                            s.execute("CHECKPOINT");
                            var fsync = s.executeQuery("SHOW fsync");
                            fsync.next();
                            if (!fsync.getString(1).equals("on")) throw new IllegalStateException("fsync is " + fsync.getString(1));
                        }
                        case "size" -> {
                            var rows = s.executeQuery("SELECT pg_database_size('" + database + "')");
                            rows.next();
                            answer = " " + rows.getLong(1);
                        }
                        default -> throw new IllegalArgumentException("unknown command " + command);
                    }
                    System.out.println("ok " + command.strip() + answer);
                } catch (Exception e) {
                    System.out.println("failed " + command.strip() + ": " + e);
                }
                System.out.flush();
            }
        }
    }
}
