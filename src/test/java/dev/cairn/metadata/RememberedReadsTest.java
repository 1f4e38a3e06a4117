package dev.cairn.metadata;

import dev.cairn.registry.MediaTypes;
import dev.cairn.testing.CairnProcess;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Reads answered from memory on the embedded store are exactly what the database answers: a write that has
 * returned is seen by every read that starts after it, whichever record it changed.
 */
class RememberedReadsTest {
    private static final RepositoryName REPO = RepositoryName.of("memo/app");
    private static final Tag TAG = new Tag("latest");

    private static NewManifest manifest(int n) {
        byte[] content = ("{\"schemaVersion\":2,\"n\":" + n + "}").getBytes();
        return new NewManifest(REPO, Digest.sha256(content), MediaTypes.OCI_MANIFEST, content, Optional.empty(), Optional.empty(),
                Set.of(), Instant.ofEpochMilli(1000 + n));
    }

    @Test
    void everyWriteOfTheRecordsIsSeenByTheNextRead(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            NewManifest first = manifest(1);
            NewManifest second = manifest(2);
            store.storeManifest(first, Optional.of(TAG));
            store.storeManifest(second, Optional.empty());
            Digest layer = Digest.sha256("layer".getBytes());
            store.linkBlob(REPO, layer, 5);

            assertThat(store.resolveTag(REPO, TAG)).contains(first.digest());
            assertThat(store.manifest(REPO, first.digest())).isPresent();
            assertThat(store.linkedBlob(REPO, layer)).isPresent();
            assertThat(store.database().remembered.size()).as("the three answers, remembered").isEqualTo(3);
            assertThat(store.resolveTag(REPO, TAG)).as("answered again").contains(first.digest());

            // Writes no remembered read looks at leave the memory as it is: a push's session updates.
            store.createUpload(new UploadSession("u1", REPO, Instant.ofEpochMilli(5), "someone"));
            store.deleteUpload("u1");
            assertThat(store.database().remembered.size()).isEqualTo(3);

            store.storeManifest(second, Optional.of(TAG)); // the tag moves
            assertThat(store.resolveTag(REPO, TAG)).as("a moved tag").contains(second.digest());
            assertThat(store.unlinkBlob(REPO, layer)).isTrue();
            assertThat(store.linkedBlob(REPO, layer)).as("an unlinked blob").isEmpty();
            assertThat(store.deleteManifest(REPO, first.digest())).isTrue();
            assertThat(store.manifest(REPO, first.digest())).as("a deleted manifest").isEmpty();
            assertThat(store.deleteTag(REPO, TAG)).isTrue();
            assertThat(store.resolveTag(REPO, TAG)).as("a deleted tag").isEmpty();

            // A "not found" is never remembered: the record that appears next is seen at once.
            store.storeManifest(first, Optional.of(TAG));
            assertThat(store.resolveTag(REPO, TAG)).contains(first.digest());

            // A batch of last uses changes what a manifest read returns (its recorded use): read again.
            Instant recorded = store.manifest(REPO, first.digest()).orElseThrow().recordedUse();
            store.recordLastUse(List.of(new LastUse.OfManifest(REPO, first.digest(), recorded.plusSeconds(60))));
            assertThat(store.manifest(REPO, first.digest()).orElseThrow().recordedUse()).isEqualTo(recorded.plusSeconds(60));
        }
    }

    @Test
    void keyedEntriesAreReadAgainAfterEveryWrite(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            RepositoryName ns = RepositoryName.of("ccache");
            Digest one = Digest.sha256("one".getBytes());
            Digest two = Digest.sha256("two".getBytes());
            store.putContent("cache", ns, "a/b", one, 3, List.of(), EntryRecords.ContentNotes.NONE, Instant.ofEpochMilli(10));
            assertThat(store.content("cache", ns, "a/b")).map(EntryRecords.StoredContent::digest).contains(one);
            assertThat(store.heldContent("cache", ns, one)).isPresent();
            assertThat(store.database().remembered.size()).isEqualTo(2);
            assertThat(store.peekContent("cache", ns, "a/b")).as("a check over many keys reads the records").isPresent();
            assertThat(store.database().remembered.size()).as("and remembers nothing").isEqualTo(2);
            store.putContent("cache", ns, "a/b", two, 3, List.of(), EntryRecords.ContentNotes.NONE, Instant.ofEpochMilli(20));
            assertThat(store.content("cache", ns, "a/b")).as("a key written again").map(EntryRecords.StoredContent::digest).contains(two);
            assertThat(store.heldContent("cache", ns, one)).as("content no key holds any more").isEmpty();
            assertThat(store.deleteEntry("cache", ns, "a/b", Instant.ofEpochMilli(30))).isTrue();
            assertThat(store.content("cache", ns, "a/b")).as("a deleted key").isEmpty();
        }
    }

    @Test
    void aReadThatStartsAfterAWriteReturnedNeverSeesWhatWasThereBefore(@TempDir Path dir) throws Exception {
        int writes = 300;
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            List<Digest> digests = new ArrayList<>();
            for (int i = 0; i < writes; i++) {
                NewManifest m = manifest(i);
                store.storeManifest(m, Optional.empty());
                digests.add(m.digest());
            }
            store.storeManifest(manifest(0), Optional.of(TAG));
            AtomicInteger published = new AtomicInteger(0); // the last tag move that has returned
            AtomicBoolean done = new AtomicBoolean();
            AtomicInteger reads = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(5);
            try {
                List<Future<String>> readers = new ArrayList<>();
                for (int r = 0; r < 4; r++) {
                    readers.add(pool.submit(() -> {
                        int last = 0;
                        while (!done.get()) {
                            int floor = published.get();
                            int seen = digests.indexOf(store.resolveTag(REPO, TAG).orElseThrow());
                            reads.incrementAndGet();
                            if (seen < floor) return "read " + seen + " after move " + floor + " had returned";
                            if (seen < last) return "read " + seen + " after reading " + last + " (went back)";
                            last = seen;
                        }
                        return null;
                    }));
                }
                for (int i = 1; i < writes; i++) {
                    store.storeManifest(manifest(i), Optional.of(TAG));
                    published.set(i);
                    Thread.sleep(0, 200_000); // readers fill the memory between moves
                }
                done.set(true);
                for (Future<String> reader : readers) assertThat(reader.get(60, TimeUnit.SECONDS)).isNull();
            } finally {
                done.set(true);
                pool.shutdownNow();
            }
            assertThat(reads.get()).as("the readers ran alongside the writes").isGreaterThan(writes);
        }
    }

    @Test
    void aWriteThatChangesNothingForgetsNothing(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            NewManifest first = manifest(1);
            store.storeManifest(first, Optional.of(TAG));
            assertThat(store.resolveTag(REPO, TAG)).isPresent();
            assertThat(store.database().remembered.size()).isEqualTo(1);
            // a push refused for a missing layer, an unlink of what is not linked: nothing changed
            Digest missing = Digest.sha256("never pushed".getBytes());
            byte[] content = "{\"schemaVersion\":2,\"missing\":1}".getBytes();
            NewManifest refused = new NewManifest(REPO, Digest.sha256(content), MediaTypes.OCI_MANIFEST, content, Optional.empty(),
                    Optional.empty(), Set.of(missing), Instant.ofEpochMilli(5000));
            assertThat(store.storeManifest(refused, Optional.of(TAG)).missing()).containsExactly(missing);
            assertThat(store.unlinkBlob(REPO, missing)).isFalse();
            assertThat(store.database().remembered.size()).as("still remembered").isEqualTo(1);
            assertThat(store.resolveTag(REPO, TAG)).contains(first.digest());
        }
    }

    @Test
    void aFullMemoryStartsAgainSoHotKeysComeBackAfterAScan() {
        RememberedReads memory = RememberedReads.forSoleWriter();
        for (int i = 0; i < RememberedReads.MAX_ENTRIES; i++) memory.read("scan " + i, () -> Optional.of("x"), v -> 0);
        assertThat(memory.size()).isEqualTo(RememberedReads.MAX_ENTRIES);
        AtomicInteger databaseReads = new AtomicInteger();
        for (int i = 0; i < 1000; i++) {
            memory.read("hot", () -> {
                databaseReads.incrementAndGet();
                return Optional.of("y");
            }, v -> 0);
        }
        assertThat(databaseReads.get()).as("the hot key is read once, then remembered in the memory started again").isEqualTo(1);
        assertThat(memory.size()).isLessThanOrEqualTo(RememberedReads.MAX_ENTRIES);
    }

    @Test
    void readsMissingOneKeyTogetherAreChargedForOneAnswer() throws Exception {
        RememberedReads memory = RememberedReads.forSoleWriter();
        int threads = 8;
        long mib = 1024 * 1024;
        java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> reads = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                reads.add(pool.submit(() -> memory.read("hot index", () -> {
                    try {
                        together.await(10, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    return Optional.of("1 MiB index");
                }, v -> mib)));
            }
            for (Future<?> read : reads) read.get(30, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        assertThat(memory.size()).isEqualTo(1);
        for (int i = 0; i < 6; i++) memory.read("another " + i, () -> Optional.of("1 MiB"), v -> mib);
        assertThat(memory.size()).as("7 answers of 1 MiB in 8 MiB, none forgotten").isEqualTo(7);
    }

    @Test
    void memoryIsBoundedByBytes() {
        RememberedReads memory = RememberedReads.forSoleWriter();
        for (int i = 0; i < 100; i++) {
            memory.read("big " + i, () -> Optional.of("v"), v -> RememberedReads.MAX_BYTES / 4);
            assertThat(memory.size()).isLessThanOrEqualTo(3);
        }
        memory.read("too big", () -> Optional.of("v"), v -> RememberedReads.MAX_BYTES + 1);
        assertThat(memory.size()).as("an answer over the whole budget is never kept").isLessThanOrEqualTo(3);
    }

    @Test
    void aStartThatFailsPartWayLeavesTheDataDirectoryFree(@TempDir Path dir) throws Exception {
        java.util.Map<String, String> broken = java.util.Map.of("listen", "127.0.0.1:0", "data-dir", dir.toString(), "log.access", "false",
                "auth.mode", "basic", "auth.htpasswd", dir.resolve("missing.htpasswd").toString());
        assertThatThrownBy(() -> dev.cairn.Cairn.start(dev.cairn.config.ConfigLoader.load(Optional.empty(), java.util.Map.of(), broken).config()))
                .as("fails after the store is open (the password file is missing)").isNotNull();
        java.util.Map<String, String> good = java.util.Map.of("listen", "127.0.0.1:0", "data-dir", dir.toString(), "log.access", "false");
        try (dev.cairn.Cairn cairn = dev.cairn.Cairn.start(dev.cairn.config.ConfigLoader.load(Optional.empty(), java.util.Map.of(), good).config())) {
            assertThat(cairn.port()).isPositive();
        }
    }

    @Test
    void postgresStoresRememberNothing() {
        assertThat(RememberedReads.none().read("k", () -> Optional.of("v"), v -> 1)).contains("v");
        RememberedReads none = RememberedReads.none();
        none.read("k", () -> Optional.of("v"), v -> 1);
        assertThat(none.size()).isZero();
    }

    @Test
    void oneProcessOwnsTheFileAndADeadOwnerLeavesItFree(@TempDir Path dir) throws Exception {
        Path data = Files.createDirectories(dir.resolve("data"));
        Path db = data.resolve("cairn.db");
        try (JdbcMetadataStore first = JdbcMetadataStore.sqlite(db)) {
            assertThatThrownBy(() -> JdbcMetadataStore.sqlite(db)).as("a second store in this process")
                    .isInstanceOf(MetadataException.class).hasMessageContaining("another Cairn process is using");
        }
        try (CairnProcess other = CairnProcess.start(data)) {
            assertThatThrownBy(() -> JdbcMetadataStore.sqlite(db)).as("while another process serves the directory")
                    .isInstanceOf(MetadataException.class).hasMessageContaining("one SQLite file serves one process");
            other.kill(); // SIGKILL: no shutdown, the operating system drops the lock
            JdbcMetadataStore.sqlite(db).close();
        }
    }
}
