package dev.cairn.retention;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metadata.RetentionRecords.AuditEvent;
import dev.cairn.testing.Postgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The audit log holds every deletion once, in whole lines, whatever fails around the copy. */
class AuditLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static void addEvents(RetentionRecords records, int count, String prefix) {
        for (int i = 0; i < count; i++) {
            records.addAuditEvent(new AuditEvent(0, Instant.now(), "blob", Optional.empty(), prefix + i, List.of(), 100 + i, "budget"));
        }
    }

    /** Every line a JSON object; returns the ids in file order. */
    private static List<Long> ids(Path file) throws Exception {
        List<Long> ids = new ArrayList<>();
        for (String line : Files.readAllLines(file)) ids.add(JSON.readTree(line).path("id").asLong());
        return ids;
    }

    private interface Hook {
        void call(String method) throws Exception;
    }

    /** The store's records, with {@code before} and {@code after} run around each call (a seam, not a stand-in). */
    private static RetentionRecords around(RetentionRecords store, Hook before, Hook after) {
        return (RetentionRecords) Proxy.newProxyInstance(RetentionRecords.class.getClassLoader(), new Class<?>[]{RetentionRecords.class},
                (proxy, method, args) -> {
                    before.call(method.getName());
                    try {
                        return method.invoke(store, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    } finally {
                        after.call(method.getName());
                    }
                });
    }

    /** An event inserted on {@code late} and not committed: it holds the lowest id until it commits. */
    private static void beginLateEvent(Connection late) throws Exception {
        late.setAutoCommit(false);
        try (Statement s = late.createStatement()) {
            s.execute("INSERT INTO audit_events (at, kind, repository, digest, tags, bytes, reason) "
                    + "VALUES (0, 'manifest', 'r', 'late', '', 1, 'deleted')");
        }
    }

    @Test
    void aTornLastLineIsCutAtOpenAndItsEventCopiedWhole(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            Path file = dir.resolve("audit.log");
            try (AuditLog audit = new AuditLog(file, store.locks())) {
                addEvents(store, 2, "first-");
                audit.drain(store);
            }
            addEvents(store, 3, "second-");
            // a crash (or a full disk) in the middle of the next chunk's first line, before its fsync
            Files.writeString(file, "{\"id\":3,\"time\":\"2026-", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
            try (AuditLog audit = new AuditLog(file, store.locks())) {
                audit.drain(store);
            }
            assertThat(ids(file)).containsExactly(1L, 2L, 3L, 4L, 5L);
            assertThat(store.auditEvents(10)).isEmpty();
        }
    }

    @Test
    void anInterruptedDrainStillCopiesAndTheLogKeepsWorking(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             AuditLog audit = new AuditLog(dir.resolve("audit.log"), store.locks())) {
            addEvents(store, 3, "a-");
            Thread.currentThread().interrupt(); // a node stopping while its collector sweeps
            try {
                audit.drain(store);
            } finally {
                assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
            }
            addEvents(store, 2, "b-");
            audit.drain(store);
            assertThat(ids(dir.resolve("audit.log"))).containsExactly(1L, 2L, 3L, 4L, 5L);
        }
    }

    @Test
    void aFailureToForgetRepeatsNothingAfterwards(@TempDir Path dir) throws Exception {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             AuditLog audit = new AuditLog(dir.resolve("audit.log"), store.locks())) {
            AtomicBoolean failing = new AtomicBoolean(true);
            RetentionRecords records = around(store, method -> {
                if (method.equals("forgetAuditEvents") && failing.getAndSet(false)) throw new IllegalStateException("the database blinked");
            }, method -> { });
            addEvents(store, 50, "c-");
            assertThatThrownBy(() -> audit.drain(records)).hasMessageContaining("blinked");
            audit.drain(records);
            List<Long> expected = new ArrayList<>();
            for (long id = 1; id <= 50; id++) expected.add(id);
            assertThat(ids(dir.resolve("audit.log"))).containsExactlyElementsOf(expected);
            assertThat(store.auditEvents(100)).isEmpty();
        }
    }

    /**
     * On PostgreSQL ids are handed out at insert and committed in any order: an event that commits, with a lower id,
     * after the copy read past it stays in the database and is copied in the next round, never forgotten uncopied.
     */
    @Test
    void onPostgresAnEventCommittedLateWithALowerIdIsCopiedInTheNextRound(@TempDir Path dir) throws Exception {
        Postgres pg = Postgres.shared();
        String url = pg.newDatabase();
        try (JdbcMetadataStore store = JdbcMetadataStore.postgres(url, pg.user(), pg.password(), 4);
             AuditLog audit = new AuditLog(dir.resolve("audit.log"), store.locks());
             Connection late = pg.connect(url)) {
            beginLateEvent(late);
            addEvents(store, 3, "d-");
            RetentionRecords committingMidway = around(store, method -> { }, method -> {
                if (method.equals("readAuditEvents")) late.commit(); // after the read, before the forget
            });
            audit.drain(committingMidway);
            // "everything up to the last id copied" would have forgotten event 1 unread; it is read in the next round
            assertThat(ids(dir.resolve("audit.log"))).containsExactly(2L, 3L, 4L, 1L);
            assertThat(store.auditEvents(10)).isEmpty();
        } finally {
            pg.dropDatabase(url);
        }
    }

    /** The same race, with the forget failing (or the node stopping) between the copy and the forget. */
    @Test
    void onPostgresALateEventSurvivesAFailedForgetAndARestart(@TempDir Path dir) throws Exception {
        Postgres pg = Postgres.shared();
        String url = pg.newDatabase();
        Path file = dir.resolve("audit.log");
        try (JdbcMetadataStore store = JdbcMetadataStore.postgres(url, pg.user(), pg.password(), 4);
             Connection late = pg.connect(url)) {
            beginLateEvent(late);
            addEvents(store, 3, "e-");
            RetentionRecords forgetFails = around(store, method -> {
                if (method.equals("forgetAuditEvents")) throw new IllegalStateException("the node stops");
            }, method -> { });
            try (AuditLog audit = new AuditLog(file, store.locks())) {
                assertThatThrownBy(() -> audit.drain(forgetFails)).hasMessageContaining("the node stops");
            }
            late.commit(); // event 1, below every id copied
            try (AuditLog audit = new AuditLog(file, store.locks())) { // a restart
                audit.drain(store);
            }
            assertThat(ids(file)).containsExactly(2L, 3L, 4L, 1L);
            assertThat(store.auditEvents(10)).isEmpty();
        } finally {
            pg.dropDatabase(url);
        }
    }

    @Test
    void aFileNotOursIsKeptWholeAndASecondWriterIsRefused(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("audit.log");
        Files.writeString(file, "kept by an admin, no line break", StandardCharsets.UTF_8);
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"));
             AuditLog audit = new AuditLog(file, store.locks())) {
            // another process (a restart overlapping the old one) cannot open it
            Process other = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                    System.getProperty("java.class.path"), "dev.cairn.retention.AuditLogTest$OpenOnce", file.toString())
                    .redirectErrorStream(true).start();
            String said = new String(other.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(other.waitFor()).as(said).isEqualTo(3);
            assertThat(said).contains("open in another process");
            addEvents(store, 2, "f-");
            audit.drain(store);
            List<String> lines = Files.readAllLines(file);
            assertThat(lines).first().isEqualTo("kept by an admin, no line break");
            assertThat(lines).hasSize(3);
        }
    }

    /** Opens the log at args[0] in a process of its own: exit 0 when it could, 3 when it was refused. */
    public static final class OpenOnce {
        public static void main(String[] args) throws Exception {
            try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(Path.of(args[0]).resolveSibling("other.db"));
                 AuditLog audit = new AuditLog(Path.of(args[0]), store.locks())) {
                System.exit(0);
            } catch (java.io.IOException e) {
                System.out.println(e.getMessage());
                System.exit(3);
            }
        }
    }
}
