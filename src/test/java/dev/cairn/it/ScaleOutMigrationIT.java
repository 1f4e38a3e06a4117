package dev.cairn.it;

import dev.cairn.testing.Postgres;
import dev.cairn.testing.S3Server;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Nodes that start together on a fresh database: one migrates the schema, the others wait on the
 * migration's advisory lock (4242001) and then find nothing to do. The test makes "together" certain
 * rather than likely: it holds the lock itself until every node is waiting for it, then lets go.
 */
class ScaleOutMigrationIT {
    private static final long MIGRATION_LOCK = 4242001;

    private static List<String> waitingForTheMigrationLock(Connection c) throws SQLException {
        List<String> waiting = new ArrayList<>();
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT a.application_name FROM pg_locks l "
                + "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1 "
                + "AND l.classid = 0 AND l.objid = " + MIGRATION_LOCK
                + " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 1")) {
            while (r.next()) waiting.add(r.getString(1));
        }
        return waiting;
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void threeNodesStartingTogetherOnAFreshDatabaseAllStart() throws Exception {
        Postgres postgres = Postgres.shared();
        try (ScaleOutNodes nodes = ScaleOutNodes.prepare(S3Server.shared(), postgres);
             Connection holder = postgres.connect(nodes.jdbcUrl())) {
            try (Statement s = holder.createStatement()) {
                s.execute("SELECT pg_advisory_lock(" + MIGRATION_LOCK + ")");
            }
            CompletableFuture<Void> starting = CompletableFuture.runAsync(() -> {
                try {
                    nodes.startNodes(3, Map.of());
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            List<String> all = List.of(ScaleOutNodes.applicationName(1), ScaleOutNodes.applicationName(2), ScaleOutNodes.applicationName(3));
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (!waitingForTheMigrationLock(holder).equals(all)) {
                assertThat(System.nanoTime()).as("all three nodes waiting for the migration lock; waiting now: "
                        + waitingForTheMigrationLock(holder)).isLessThan(deadline);
                assertThat(starting).as("no node gives up while another holds the lock").isNotDone();
                Thread.sleep(100);
            }
            try (Statement s = holder.createStatement()) {
                s.execute("SELECT pg_advisory_unlock(" + MIGRATION_LOCK + ")");
            }
            starting.get(90, TimeUnit.SECONDS); // fails with every node's output if one did not start
            for (int n = 1; n <= 3; n++) {
                assertThat(nodes.client(n).get("/readyz").statusCode()).as("node " + n).isEqualTo(200);
            }
        }
    }
}
