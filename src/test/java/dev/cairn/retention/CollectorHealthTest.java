package dev.cairn.retention;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.DigestLocks;
import dev.cairn.registry.LastUseRecorder;
import dev.cairn.storage.FileBlobStore;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.cairn.retention.RetentionTest.push;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A collector that fails says so everywhere an operator looks, keeps trying, and recovers. */
class CollectorHealthTest {

    @Test
    void aFailingCollectionIsCountedShownAndRetriedUntilItSucceeds() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.gc-interval", "1h"))) {
            OciClient client = new OciClient(cairn);
            push(client, "health/app", "v1", 1, 10_000);
            assertThat(cairn.node().keeper().collect(false).dryRun()).isFalse();
            assertThat(cairn.node().keeper().health().lastSuccess()).isPresent();

            // A metadata fault every collection trips on (its first phase reads the shared settings) and nothing the
            // stats, readiness or metrics read does: the settings table is gone.
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + cairn.dataDir().resolve("cairn.db"));
                 Statement s = c.createStatement()) {
                s.executeUpdate("ALTER TABLE settings RENAME TO settings_away");
            }
            HttpResponse<byte[]> gc = client.post("/api/v1/gc", new byte[0]);
            assertThat(gc.statusCode()).isEqualTo(500);
            assertThat(OciClient.errorCode(gc)).as("a fault on Cairn's side, never UNSUPPORTED").isEqualTo("UNKNOWN");
            cairn.node().keeper().requestRun(); // the background collector trips too (after its backoff), and carries on
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (cairn.node().keeper().health().failuresInARow() < 2 && System.nanoTime() < deadline) Thread.sleep(50);
            CollectorHealth failing = cairn.node().keeper().health();
            assertThat(failing.failuresInARow()).isGreaterThanOrEqualTo(2);
            assertThat(failing.failingSince()).isPresent();
            assertThat(failing.lastError()).hasValueSatisfying(e -> assertThat(e).contains("settings"));

            JsonNode stats = OciClient.JSON.readTree(client.get("/api/v1/stats").body());
            assertThat(stats.path("collector").path("state").asText()).isEqualTo("failing");
            assertThat(stats.path("collector").path("failingSince").asText()).isEqualTo(failing.failingSince().get().toString());
            HttpResponse<byte[]> ready = client.get("/readyz");
            assertThat(ready.statusCode()).as("it still serves").isEqualTo(200);
            assertThat(new String(ready.body())).contains("collector failing since " + failing.failingSince().get());
            String metrics = OciClient.text(client.get("/metrics"));
            assertThat(metrics).contains("cairn_collector_failing 1.0");
            assertThat(metrics).containsPattern("cairn_gc_failures_total [2-9]");

            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + cairn.dataDir().resolve("cairn.db"));
                 Statement s = c.createStatement()) {
                s.executeUpdate("ALTER TABLE settings_away RENAME TO settings");
            }
            assertThat(client.post("/api/v1/gc", new byte[0]).statusCode()).isEqualTo(200);
            assertThat(cairn.node().keeper().health().failingSince()).isEmpty();
            assertThat(new String(client.get("/readyz").body())).isEqualTo("ready\n");
            assertThat(OciClient.text(client.get("/metrics"))).contains("cairn_collector_failing 0.0");
            assertThat(OciClient.JSON.readTree(client.get("/api/v1/stats").body()).path("collector").path("state").asText()).isEqualTo("ok");
        }
    }

    /**
     * The backoff after failures never makes a push under the hard limit wait out the backoff: a push waiting for
     * room gets a run at once, and an operator's failing retries do not lengthen the automatic backoff.
     */
    @Test
    void aPushWaitingForRoomDoesNotWaitOutTheBackoff() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.max-bytes", "1000000", "retention.hard-limit", "true",
                "retention.grace", "0s", "retention.gc-interval", "5m"))) {
            OciClient client = new OciClient(cairn);
            push(client, "old/a", "v1", 1, 500_000);
            String db = "jdbc:sqlite:" + cairn.dataDir().resolve("cairn.db");
            try (Connection c = DriverManager.getConnection(db); Statement s = c.createStatement()) {
                s.executeUpdate("ALTER TABLE keyed_entries RENAME TO keyed_entries_away");
            }
            push(client, "old/b", "v1", 2, 460_000); // past the high watermark: the run it wakes fails
            for (int i = 0; i < 5; i++) {
                assertThatThrownBy(() -> cairn.node().keeper().collect(false)).isInstanceOf(CollectionFailure.class);
            }
            assertThat(cairn.node().keeper().health().failuresInARow()).isGreaterThanOrEqualTo(5);
            try (Connection c = DriverManager.getConnection(db); Statement s = c.createStatement()) {
                s.executeUpdate("ALTER TABLE keyed_entries_away RENAME TO keyed_entries");
            }
            byte[] blob = SeededBytes.of(300_000, 99);
            HttpResponse<byte[]> pushed = client.post("/v2/new/app/blobs/uploads/?digest=" + OciClient.sha256(blob), blob);
            assertThat(pushed.statusCode()).as("room was made by a run, not refused after the backoff").isEqualTo(201);
            assertThat(RetentionTest.present(client, "old/a", "v1")).as("the least recently used went").isFalse();
            assertThat(cairn.node().keeper().health().failingSince()).isEmpty();
        }
    }

    /**
     * Out of memory, as a collection over a store too large for the heap meets it: the collector thread lives
     * on and the next run is tried. The error is injected into the records the keeper reads (the real SQLite
     * store behind them), as a heap that runs out cannot be made to on cue.
     */
    @Test
    void runningOutOfMemoryDoesNotStopTheCollector(@TempDir Path dir) throws Exception {
        AtomicBoolean outOfMemory = new AtomicBoolean(true);
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             FileBlobStore blobs = new FileBlobStore(dir.resolve("blobs"))) {
            RetentionRecords records = (RetentionRecords) Proxy.newProxyInstance(RetentionRecords.class.getClassLoader(),
                    new Class<?>[]{RetentionRecords.class}, (proxy, method, args) -> {
                        if (method.getName().equals("deleteRetiredManifests") && outOfMemory.get()) throw new OutOfMemoryError("Java heap space");
                        try {
                            return method.invoke(store, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            LastUseRecorder lastUse = new LastUseRecorder(store, Clock.systemUTC(), Duration.ofSeconds(10),
                    new ReadProtection(Duration.ofMinutes(1), Duration.ofSeconds(30)));
            RetentionPolicy policy = new RetentionPolicy(1_000_000, 0.95, 0.85, false, Duration.ofMinutes(1), Duration.ofHours(1),
                    Optional.empty(), List.of());
            try (CacheKeeper keeper = new CacheKeeper(records, store.locks(), new DigestLocks(16, store.locks()::withDigestLocks), blobs,
                    lastUse, policy, new AuditLog(dir.resolve("audit.log"), store.locks()), new CacheMetrics(), Clock.systemUTC())) {
                keeper.start(true);
                assertThatThrownBy(() -> keeper.collect(false)).isInstanceOf(CollectionFailure.class)
                        .hasMessageContaining("out of memory").hasMessageContaining("-Xmx");
                // An explicit failure sets no backoff: the background run tries at once, and fails too.
                keeper.requestRun();
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (keeper.health().failuresInARow() < 2 && System.nanoTime() < deadline) Thread.sleep(50);
                assertThat(keeper.health().failuresInARow()).as("the background run failed too, and was counted").isEqualTo(2);
                // A failed automatic run is not retried at once: each attempt would take the heap from the requests again.
                for (int i = 0; i < 5; i++) {
                    keeper.requestRun();
                    Thread.sleep(400);
                }
                assertThat(keeper.health().failuresInARow()).as("within the first backoff (%s)", keeper.backoff(1)).isEqualTo(2);
                assertThat(keeper.backoff(2)).isEqualTo(keeper.backoff(1).multipliedBy(2));
                assertThat(keeper.backoff(40)).as("at most the interval").isEqualTo(Duration.ofHours(1));
                deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (keeper.health().failuresInARow() < 3 && System.nanoTime() < deadline) Thread.sleep(50);
                assertThat(keeper.health().failuresInARow()).as("retried after the backoff").isEqualTo(3);

                outOfMemory.set(false);
                keeper.requestRun();
                deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (keeper.health().failingSince().isPresent() && System.nanoTime() < deadline) Thread.sleep(50);
                assertThat(keeper.health().failingSince()).as("the collector thread lived on and its next run succeeded").isEmpty();
                assertThat(keeper.health().lastSuccess()).isPresent();
            }
        }
    }
}
