package dev.cairn.metadata;

import dev.cairn.values.DeletionReason;
import dev.cairn.values.Digest;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One contract for every metadata store: the embedded SQLite file and a real PostgreSQL (binaries from
 * Maven Central, started on loopback for this class).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MetadataStoreContractTest {
    private static final RepositoryName REPO = RepositoryName.of("contract/app");
    /** Deletions planned long after the last read of anything the tests push (at 1 s past the epoch): nothing is retired. */
    private static final ReadProtection NO_RECENT_READS = new ReadProtection(java.time.Duration.ofHours(1), java.time.Duration.ofMinutes(30));
    private static final AtomicInteger DATABASES = new AtomicInteger();

    private EmbeddedPostgres postgres;
    private Path dir;

    @BeforeAll
    void start() throws Exception {
        postgres = EmbeddedPostgres.builder().start();
        dir = Files.createTempDirectory("cairn-contract-");
    }

    @AfterAll
    void stop() throws Exception {
        postgres.close();
        dev.cairn.testing.TempFiles.deleteRecursively(dir);
    }

    /** A fresh, empty store of the kind named. */
    private JdbcMetadataStore store(String kind) throws Exception {
        String name = "cairn_" + DATABASES.incrementAndGet();
        if (kind.equals("sqlite")) return JdbcMetadataStore.sqlite(dir.resolve(name + ".db"));
        try (Connection c = postgres.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        }
        return JdbcMetadataStore.postgres(postgres.getJdbcUrl("postgres", name), "postgres", "postgres", 8);
    }

    private static Digest digest(String seed) {
        return Digest.sha256(seed.getBytes());
    }

    private static NewManifest manifest(String seed, Set<Digest> references, Instant at) {
        byte[] content = ("{\"schemaVersion\":2,\"seed\":\"" + seed + "\"}").getBytes();
        return new NewManifest(REPO, Digest.sha256(content), MediaTypes.OCI_MANIFEST, content, Optional.empty(), Optional.empty(), references, at);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void blobLinks(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Digest blob = digest("layer");
            assertThat(store.linkBlob(REPO, blob, 10)).as("new to the store").isTrue();
            assertThat(store.linkBlob(RepositoryName.of("contract/other"), blob, 10)).as("already stored").isFalse();
            assertThat(store.isBlobLinked(REPO, blob)).isTrue();
            assertThat(store.repositoryExists(REPO)).isTrue();
            assertThat(store.unlinkBlob(REPO, blob)).isTrue();
            assertThat(store.unlinkBlob(REPO, blob)).isFalse();
            assertThat(store.blobRecordExists(blob)).isTrue();
            assertThat(store.storedBytes()).isEqualTo(10);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void manifestsNeedTheirReferencesAndTagsSortByBytes(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Digest layer = digest("l");
            NewManifest m = manifest("m", Set.of(layer), Instant.ofEpochMilli(1000));
            assertThat(store.putManifest(m, Optional.of(new Tag("v1")))).containsExactly(layer);
            assertThat(store.manifest(REPO, m.digest())).isEmpty();
            store.linkBlob(REPO, layer, 5);
            for (String tag : List.of("v1", "V1", "a", "_x", "v10")) {
                assertThat(store.putManifest(m, Optional.of(new Tag(tag)))).isEmpty();
            }
            assertThat(store.manifest(REPO, m.digest()).orElseThrow().content()).isEqualTo(m.content());
            assertThat(store.resolveTag(REPO, new Tag("v1"))).hasValue(m.digest());
            assertThat(store.tags(REPO, Optional.empty(), 100)).containsExactly("V1", "_x", "a", "v1", "v10");
            assertThat(store.tags(REPO, Optional.of("a"), 2)).containsExactly("v1", "v10");
            assertThat(store.deleteTag(REPO, new Tag("a"))).isTrue();
            assertThat(store.deleteManifest(REPO, m.digest())).isTrue();
            assertThat(store.tags(REPO, Optional.empty(), 100)).isEmpty();
            assertThat(store.auditEvents(10)).singleElement().satisfies(e -> {
                assertThat(e.reason()).isEqualTo("manual");
                assertThat(e.tags()).containsExactly("V1", "_x", "v1", "v10");
            });
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void entryTimesAreListedWithTheirTagsPageByPageAndOnlyEverMoveBack(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Instant pushed = Instant.ofEpochMilli(5_000_000);
            List<NewManifest> manifests = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                NewManifest m = manifest("times-" + i, Set.of(), pushed.plusMillis(i));
                store.putManifest(m, Optional.of(new Tag("t" + i)));
                manifests.add(m);
            }
            store.putManifest(manifests.get(0), Optional.of(new Tag("also")));
            List<Digest> inOrder = manifests.stream().map(NewManifest::digest).sorted().toList();
            List<ManifestTimes> first = store.manifestTimes(REPO, Optional.empty(), 3);
            List<ManifestTimes> rest = store.manifestTimes(REPO, Optional.of(first.get(2).digest()), 3);
            assertThat(first).extracting(ManifestTimes::digest).containsExactlyElementsOf(inOrder.subList(0, 3));
            assertThat(rest).extracting(ManifestTimes::digest).containsExactlyElementsOf(inOrder.subList(3, 5));
            List<ManifestTimes> all = new ArrayList<>(first);
            all.addAll(rest);
            ManifestTimes tagged = all.stream().filter(t -> t.digest().equals(manifests.get(0).digest())).findFirst().orElseThrow();
            assertThat(tagged.tags()).containsExactly("also", "t0");
            assertThat(tagged.pushedAt()).isEqualTo(pushed);

            Digest d = manifests.get(1).digest();
            Instant since = pushed.minusSeconds(60);
            assertThat(store.backdateManifest(REPO, d, Instant.ofEpochMilli(9_000_000), Instant.ofEpochMilli(9_000_000), since))
                    .as("a pushed entry not read since: its times only move back, so a later time changes nothing").isTrue();
            assertThat(store.backdateManifest(REPO, d, Instant.ofEpochMilli(1_000), Instant.ofEpochMilli(2_000), since)).isTrue();
            ManifestTimes moved = store.manifestTimes(REPO, Optional.empty(), 10).stream().filter(t -> t.digest().equals(d)).findFirst().orElseThrow();
            assertThat(moved.pushedAt()).isEqualTo(Instant.ofEpochMilli(1_000));
            assertThat(moved.lastUsed()).isEqualTo(Instant.ofEpochMilli(2_000));
            assertThat(store.backdateManifest(REPO, d, Instant.ofEpochMilli(500), Instant.ofEpochMilli(500), since))
                    .as("pushed before the window now").isFalse();
            Digest read = manifests.get(2).digest();
            store.recordLastUse(List.of(new LastUse.OfManifest(REPO, read, pushed.plusSeconds(5))));
            assertThat(store.backdateManifest(REPO, read, Instant.ofEpochMilli(500), Instant.ofEpochMilli(500), since))
                    .as("read since its push: its last use stays, read protection counts on it").isFalse();
            assertThat(store.manifestTimes(REPO, Optional.empty(), 10).stream().filter(t -> t.digest().equals(read)).findFirst().orElseThrow()
                    .lastUsed()).isEqualTo(pushed.plusSeconds(5));
            assertThat(store.backdateManifest(REPO, digest("nothing"), Instant.EPOCH, Instant.EPOCH, Instant.EPOCH)).isFalse();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aUnitReadWithinTheGraceWindowIsRetiredUntilThatReadsWindowEndsThenDeleted(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Instant pushed = Instant.ofEpochMilli(1000);
            Digest layer = Digest.sha256("layer".getBytes());
            store.linkBlob(REPO, layer, 5);
            NewManifest child = manifest("child", Set.of(layer), pushed);
            store.putManifest(child, Optional.empty());
            NewManifest index = manifest("index", Set.of(child.digest()), pushed);
            store.putManifest(index, Optional.of(new Tag("main")));
            ReadProtection protection = new ReadProtection(java.time.Duration.ofMinutes(60), java.time.Duration.ofMinutes(30));
            // the records say the unit was last used at its push; a read may have happened up to 30 min later
            Instant evictedAt = pushed.plus(java.time.Duration.ofMinutes(10));
            var unit = new RetentionRecords.UnitDeletion(REPO, List.of(index.digest().toString(), child.digest().toString()), pushed,
                    Optional.of(pushed), false, DeletionReason.BUDGET);
            assertThat(store.deleteUnits(List.of(unit), protection, evictedAt).getFirst())
                    .containsExactly(index.digest().toString(), child.digest().toString());
            Instant keptUntil = pushed.plus(java.time.Duration.ofMinutes(90));

            assertThat(store.resolveTag(REPO, new Tag("main"))).as("no new build finds it by tag").isEmpty();
            assertThat(store.manifest(REPO, child.digest())).as("a build that read the index still reads the child")
                    .hasValueSatisfying(m -> assertThat(m.retiredUntil()).hasValue(keptUntil));
            assertThat(liveManifests(store)).as("retention plans no more on it").isEmpty();
            assertThat(store.auditEvents(10)).extracting(RetentionRecords.AuditEvent::reason).containsExactly("budget", "budget");
            store.markNewLinks(100);
            assertThat(store.sweepBlobs(store.sweepCandidates(Optional.empty(), 100), Instant.now().plusSeconds(3600)))
                    .as("its references keep the layer").isEmpty();

            // a read of a retired manifest extends its stay to that read's own window, never shortens it
            Instant lateRead = pushed.plus(java.time.Duration.ofMinutes(50));
            assertThat(store.confirmManifestUse(REPO, child.digest(), lateRead, lateRead.plus(protection.grace()))).isTrue();
            assertThat(store.confirmManifestUse(REPO, child.digest(), evictedAt, evictedAt.plus(protection.grace()))).isTrue();
            Instant extended = lateRead.plus(protection.grace());
            assertThat(store.manifest(REPO, child.digest()).orElseThrow().retiredUntil()).hasValue(extended);
            assertThat(store.manifest(REPO, index.digest()).orElseThrow().retiredUntil()).hasValue(keptUntil);

            assertThat(store.deleteRetiredManifests(keptUntil.minusSeconds(1), 100)).isZero();
            assertThat(store.deleteRetiredManifests(keptUntil.plusSeconds(1), 100)).as("the index's stay is over").isEqualTo(1);
            assertThat(store.manifest(REPO, index.digest())).isEmpty();
            assertThat(store.confirmManifestUse(REPO, index.digest(), keptUntil, keptUntil)).as("a read after it went finds nothing").isFalse();

            // a push that references the retired child takes it back for good
            NewManifest again = manifest("index again", Set.of(child.digest()), extended.minusSeconds(60));
            assertThat(store.putManifest(again, Optional.of(new Tag("main")))).isEmpty();
            assertThat(store.manifest(REPO, child.digest()).orElseThrow().retiredUntil()).isEmpty();
            assertThat(store.deleteRetiredManifests(extended.plusSeconds(1), 100)).isZero();
            assertThat(liveManifests(store)).hasSize(2);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aRetiredIndexKeepsItsChildrenWhileReadsExtendItAndNoReadExtendsAnythingPastItsLimit(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Instant pushed = Instant.ofEpochMilli(1000);
            java.time.Duration minute = java.time.Duration.ofMinutes(1);
            Digest layer = Digest.sha256("layer of a platform".getBytes());
            store.linkBlob(REPO, layer, 5);
            NewManifest child = manifest("platform", Set.of(layer), pushed);
            store.putManifest(child, Optional.empty());
            NewManifest index = manifest("multi-platform", Set.of(child.digest()), pushed);
            store.putManifest(index, Optional.of(new Tag("main")));
            ReadProtection protection = new ReadProtection(minute.multipliedBy(60), minute.multipliedBy(30));
            var unit = new RetentionRecords.UnitDeletion(REPO, List.of(index.digest().toString(), child.digest().toString()), pushed,
                    Optional.of(pushed), false, DeletionReason.BUDGET);
            store.deleteUnits(List.of(unit), protection, pushed.plus(minute.multipliedBy(10)));
            // both retired until 90 min (push + lag + grace), extensible up to 150 min (one more window)

            Instant read = pushed.plus(minute.multipliedBy(80)); // a read of the index, after the eviction
            assertThat(store.confirmManifestUse(REPO, index.digest(), read, read.plus(protection.grace()))).isTrue();
            assertThat(store.deleteRetiredManifests(pushed.plus(minute.multipliedBy(100)), 100))
                    .as("the child's own stay is over, but the index that read extended still references it").isZero();
            assertThat(store.manifest(REPO, child.digest())).isPresent();

            assertThat(store.manifest(REPO, child.digest()).orElseThrow().retiredUntil()).as("the index's read covers its child too")
                    .hasValue(pushed.plus(minute.multipliedBy(140)));
            Instant late = pushed.plus(minute.multipliedBy(100)); // a read of the child: served, but extended to the limit only
            assertThat(store.confirmManifestUse(REPO, child.digest(), late, late.plus(protection.grace()))).isTrue();
            assertThat(store.manifest(REPO, child.digest()).orElseThrow().retiredUntil()).hasValue(pushed.plus(minute.multipliedBy(150)));
            Instant later = pushed.plus(minute.multipliedBy(149));
            assertThat(store.confirmManifestUse(REPO, child.digest(), later, later.plus(protection.grace()))).isTrue();
            assertThat(store.manifest(REPO, child.digest()).orElseThrow().retiredUntil()).as("no read keeps it longer")
                    .hasValue(pushed.plus(minute.multipliedBy(150)));

            Instant afterLimit = pushed.plus(minute.multipliedBy(151));
            assertThat(store.confirmManifestUse(REPO, child.digest(), afterLimit, afterLimit.plus(protection.grace())))
                    .as("past its stay and its limit, a read is not served: it could not be given its window").isFalse();
            assertThat(store.deleteRetiredManifests(pushed.plus(minute.multipliedBy(141)), 100)).as("the index").isEqualTo(1);
            assertThat(store.deleteRetiredManifests(pushed.plus(minute.multipliedBy(141)), 100)).isZero();
            assertThat(store.deleteRetiredManifests(pushed.plus(minute.multipliedBy(151)), 100)).as("then the child").isEqualTo(1);
            assertThat(store.manifest(REPO, child.digest())).isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aPushTakesBackTheWholeRetiredTreeItReferencesAndInvalidationDeletesRetiredEntriesAtOnce(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Instant pushed = Instant.ofEpochMilli(1000);
            NewManifest leaf = manifest("leaf", Set.of(), pushed);
            store.putManifest(leaf, Optional.empty());
            NewManifest inner = manifest("inner", Set.of(leaf.digest()), pushed);
            store.putManifest(inner, Optional.empty());
            NewManifest top = manifest("top", Set.of(inner.digest()), pushed);
            store.putManifest(top, Optional.of(new Tag("main")));
            ReadProtection protection = new ReadProtection(java.time.Duration.ofHours(1), java.time.Duration.ofMinutes(30));
            List<String> all = List.of(top.digest().toString(), inner.digest().toString(), leaf.digest().toString());
            Instant evictedAt = pushed.plusSeconds(60);
            store.deleteUnits(List.of(new RetentionRecords.UnitDeletion(REPO, all, pushed, Optional.of(pushed), false, DeletionReason.BUDGET)),
                    protection, evictedAt);
            assertThat(liveManifests(store)).isEmpty();

            // pushed again under its tag: the top, and everything below it, is live again
            assertThat(store.putManifest(manifest("top", Set.of(inner.digest()), evictedAt), Optional.of(new Tag("main")))).isEmpty();
            for (NewManifest m : List.of(top, inner, leaf)) {
                assertThat(store.manifest(REPO, m.digest()).orElseThrow().retiredUntil()).as(m.digest().toString()).isEmpty();
            }
            assertThat(store.deleteRetiredManifests(evictedAt.plus(java.time.Duration.ofDays(1)), 100)).isZero();
            assertThat(liveManifests(store)).hasSize(3);

            // retired again, then invalidated: gone at once, whatever stay they had left, in other repositories not
            store.deleteUnits(List.of(new RetentionRecords.UnitDeletion(REPO, all, evictedAt, Optional.of(evictedAt), false, DeletionReason.BUDGET)),
                    protection, evictedAt.plusSeconds(1));
            assertThat(store.deleteRetiredManifests(name -> name.equals("other/app"), Optional.empty())).isZero();
            assertThat(store.deleteRetiredManifests(name -> name.equals(REPO.value()), Optional.empty())).isEqualTo(3);
            for (NewManifest m : List.of(top, inner, leaf)) assertThat(store.manifest(REPO, m.digest())).isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void concurrentStoresOfOneManifestCreateItOnce(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            NewManifest m = manifest("stored at once", Set.of(), Instant.ofEpochMilli(1000));
            List<Future<MetadataStore.ManifestStored>> results = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
                for (int i = 0; i < 8; i++) results.add(pool.submit(() -> store.storeManifest(m, Optional.of(new Tag("main")))));
            }
            int created = 0;
            for (Future<MetadataStore.ManifestStored> r : results) {
                assertThat(r.get().missing()).isEmpty();
                if (r.get().created()) created++;
            }
            assertThat(created).as("pushes that report creating it").isEqualTo(1);
            assertThat(store.storeManifest(m, Optional.empty()).created()).as("a push of one already there").isFalse();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void unitsAreDeletedOnlyWhenStillAsSeen(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Instant pushed = Instant.ofEpochMilli(1000);
            NewManifest child = manifest("child", Set.of(), pushed);
            store.putManifest(child, Optional.empty());
            NewManifest index = manifest("index", Set.of(child.digest()), pushed);
            store.putManifest(index, Optional.empty());
            var onlyChild = new RetentionRecords.UnitDeletion(REPO, List.of(child.digest().toString()), pushed, Optional.empty(), true, DeletionReason.UNTAGGED);
            assertThat(store.deleteUnits(List.of(onlyChild), NO_RECENT_READS, Instant.now()).getFirst()).as("an index references it").isEmpty();

            var whole = new RetentionRecords.UnitDeletion(REPO, List.of(index.digest().toString(), child.digest().toString()), pushed,
                    Optional.of(pushed), true, DeletionReason.BUDGET);
            store.recordLastUse(List.of(new LastUse.OfManifest(REPO, child.digest(), pushed.plusSeconds(5))));
            assertThat(store.deleteUnits(List.of(whole), NO_RECENT_READS, Instant.now()).getFirst()).as("used since the plan").isEmpty();
            var later = new RetentionRecords.UnitDeletion(REPO, whole.digests(), pushed, Optional.of(pushed.plusSeconds(5)), true, DeletionReason.BUDGET);
            assertThat(store.deleteUnits(List.of(later), NO_RECENT_READS, Instant.now()).getFirst()).containsExactly(index.digest().toString(), child.digest().toString());
            assertThat(store.auditEvents(10)).extracting(RetentionRecords.AuditEvent::reason).containsExactly("budget", "budget");
            store.forgetAuditEvents(store.auditEvents(10).stream().map(RetentionRecords.AuditEvent::id).toList());
            assertThat(store.auditEvents(10)).isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void sweepsRespectTheCutoffAndReferences(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Digest kept = digest("kept");
            Digest loose = digest("loose");
            store.linkBlob(REPO, kept, 100);
            store.linkBlob(REPO, loose, 50);
            assertThat(store.putManifest(manifest("m", Set.of(kept), Instant.now()), Optional.empty())).isEmpty();
            assertThat(store.markNewLinks(100)).as("the upload no manifest came for").isEqualTo(1);
            assertThat(store.sweepCandidates(Optional.empty(), 10)).containsExactly(loose);
            assertThat(store.sweepBlobs(List.of(loose), Instant.now().minusSeconds(60))).as("too recent").isEmpty();
            assertThat(store.isBlobLinked(REPO, loose)).isTrue();
            assertThat(store.sweepable(Instant.now().plusSeconds(60), 10)).extracting(RetentionRecords.SweepableBlob::digest).containsExactly(loose);
            store.unlinkBlob(REPO, kept); // a blob DELETE; a manifest still references it
            List<Digest> marked = store.sweepCandidates(Optional.empty(), 10);
            assertThat(marked).as("a blob DELETE marks the blob").containsExactlyInAnyOrder(loose, kept);
            Map<Digest, RetentionRecords.DeletedBlobRecord> deleted = store.sweepBlobs(marked, Instant.now().plusSeconds(60));
            assertThat(deleted).containsOnlyKeys(loose).containsEntry(loose, new RetentionRecords.DeletedBlobRecord(50L, DeletionReason.UNREFERENCED));
            assertThat(store.blobRecordExists(kept)).isTrue();
            assertThat(store.sweepCandidates(Optional.empty(), 10)).as("a live manifest holds it: no more looks").isEmpty();
            assertThat(store.auditEvents(10)).extracting(RetentionRecords.AuditEvent::digest).containsExactly(loose.toString());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aSliceOfLinksMarksWhatALookAtEveryLinkWould(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            List<Digest> referenced = new ArrayList<>();
            List<Digest> loose = new ArrayList<>();
            for (String name : List.of("a/one", "b/two", "c/three")) {
                RepositoryName repository = RepositoryName.of("contract/" + name);
                Set<Digest> keep = new java.util.HashSet<>();
                for (int i = 0; i < 7; i++) {
                    Digest d = digest(name + "-" + i);
                    store.linkBlob(repository, d, 10 + i);
                    if (i % 3 == 0) {
                        keep.add(d);
                        referenced.add(d);
                    } else {
                        loose.add(d);
                    }
                }
                assertThat(store.putManifest(new NewManifest(repository, digest("m-" + name), MediaTypes.OCI_MANIFEST, "{}".getBytes(),
                        Optional.empty(), Optional.empty(), keep, Instant.now()), Optional.empty())).isEmpty();
            }
            assertThat(store.markUnreferencedLinks(Instant.now().minusSeconds(60), Optional.empty(), 100)).as("one page, the end").isEmpty();
            assertThat(store.sweepCandidates(Optional.empty(), 100)).as("all too recent").isEmpty();
            Optional<RetentionRecords.LinkKey> page = Optional.empty();
            int pages = 0;
            do {
                page = store.markUnreferencedLinks(Instant.now().plusSeconds(60), page, 4);
                pages++;
            } while (page.isPresent());
            assertThat(pages).as("21 links in pages of 4").isEqualTo(6);
            assertThat(store.sweepCandidates(Optional.empty(), 100)).containsExactlyInAnyOrderElementsOf(loose);
            assertThat(store.sweepCandidates(Optional.of(loose.stream().sorted(java.util.Comparator.comparing(Digest::toString)).toList().get(9)), 100))
                    .as("in digest order, after a position").hasSize(loose.size() - 10);
            assertThat(store.sweepBlobs(store.sweepCandidates(Optional.empty(), 100), Instant.now().plusSeconds(60))).containsOnlyKeys(loose);
            for (Digest d : referenced) assertThat(store.blobRecordExists(d)).isTrue();
            assertThat(store.sweepCandidates(Optional.empty(), 100)).isEmpty();

            List<Digest> asked = new ArrayList<>(referenced);
            asked.add(digest("never stored"));
            assertThat(store.blobRecordsAmong(asked)).containsExactlyInAnyOrderElementsOf(referenced);
        }
    }

    /**
     * The sweep looks only at marked blobs, so every way a blob may lose its last holder must mark it, in its own
     * transaction; the slices of links and blobs are only a safety net (they cover a test's whole store at once,
     * so tests through the collector alone would not see a missing mark).
     */
    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void everythingThatMayFreeABlobMarksItForTheSweep(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            Instant pushed = Instant.now().minusSeconds(3 * 3600); // long enough ago that no read of it can be in its grace window
            java.util.function.Supplier<List<Digest>> marked = () -> store.sweepCandidates(Optional.empty(), 100);
            java.util.function.Consumer<List<Digest>> settle = digests -> store.sweepBlobs(digests, Instant.now().minusSeconds(7200));

            // an eviction marks the blobs that lost their last holder with its reason, not those still held
            Digest shared = digest("shared");
            Digest own = digest("own");
            store.linkBlob(REPO, shared, 10);
            store.linkBlob(REPO, own, 20);
            NewManifest evicted = manifest("evicted", Set.of(shared, own), pushed);
            NewManifest kept = manifest("kept", Set.of(shared), pushed);
            store.putManifest(evicted, Optional.empty());
            store.putManifest(kept, Optional.empty());
            assertThat(marked.get()).isEmpty();
            store.deleteUnits(List.of(new RetentionRecords.UnitDeletion(REPO, List.of(evicted.digest().toString()), pushed, Optional.empty(),
                    false, DeletionReason.BUDGET)), NO_RECENT_READS, Instant.now());
            assertThat(marked.get()).containsExactly(own);
            assertThat(store.sweepable(Instant.now().plusSeconds(60), 10)).singleElement()
                    .satisfies(b -> assertThat(b.reason()).isEqualTo(DeletionReason.BUDGET));

            // a manual manifest DELETE marks what it referenced
            assertThat(store.deleteManifest(REPO, kept.digest())).isTrue();
            assertThat(marked.get()).containsExactlyInAnyOrder(own, shared);
            assertThat(store.sweepBlobs(marked.get(), Instant.now().plusSeconds(60))).containsOnlyKeys(own, shared);

            // a blob DELETE marks the blob
            Digest layer = digest("layer");
            store.linkBlob(REPO, layer, 5);
            NewManifest holder = manifest("holder", Set.of(layer), pushed);
            store.putManifest(holder, Optional.empty());
            assertThat(store.unlinkBlob(REPO, layer)).isTrue();
            assertThat(marked.get()).containsExactly(layer);
            settle.accept(marked.get()); // a live manifest still references it: its mark goes
            assertThat(marked.get()).isEmpty();

            // a retired manifest's deletion marks its references again: the sweep may have looked while it still held them
            store.deleteUnits(List.of(new RetentionRecords.UnitDeletion(REPO, List.of(holder.digest().toString()), pushed, Optional.of(pushed),
                    false, DeletionReason.BUDGET)), new ReadProtection(java.time.Duration.ofMinutes(60), java.time.Duration.ofMinutes(30)),
                    pushed.plusSeconds(60));
            assertThat(store.manifest(REPO, holder.digest())).hasValueSatisfying(m -> assertThat(m.retiredUntil()).isPresent());
            assertThat(marked.get()).as("freed by the eviction").containsExactly(layer);
            settle.accept(marked.get());
            assertThat(marked.get()).as("a retired manifest still references it: it stays marked").containsExactly(layer);
            assertThat(store.deleteRetiredManifests(Instant.now(), 10)).isEqualTo(1);
            assertThat(marked.get()).containsExactly(layer);
            assertThat(store.sweepBlobs(marked.get(), Instant.now().plusSeconds(60))).containsOnlyKeys(layer);

            // a keyed entry written again marks the blobs it held before
            Digest before = digest("result v1");
            Digest after = digest("result v2");
            store.linkBlob(REPO, before, 7);
            store.linkBlob(REPO, after, 8);
            store.markNewLinks(100);
            store.unlinkBlob(REPO, before);
            store.unlinkBlob(REPO, after);
            assertThat(store.putEntry("build-result", REPO, "k", 7, List.of(before), Instant.now())).isEmpty();
            assertThat(store.putEntry("build-result", REPO, "other", 8, List.of(after), Instant.now())).isEmpty();
            settle.accept(marked.get());
            assertThat(marked.get()).as("the entry holds them").isEmpty();
            assertThat(store.putEntry("build-result", REPO, "k", 8, List.of(after), Instant.now())).isEmpty();
            assertThat(marked.get()).containsExactly(before);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void keysAreListedForATransferWithWhatTheyHoldAndFreshOnesTakeOlderTimes(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            RepositoryName ns = RepositoryName.of("tools");
            Digest one = digest("output one");
            Digest two = digest("output two");
            Digest result = digest("the result");
            Instant t = Instant.ofEpochMilli(5_000_000);
            EntryRecords.ContentNotes notes = new EntryRecords.ContentNotes(java.util.OptionalLong.of(1234), Optional.of("sig"));
            store.putContent("cache", ns, "b", one, 100, List.of(), EntryRecords.ContentNotes.NONE, t);
            store.putContent("cache", ns, "a/x", two, 50, List.of(), notes, t);
            store.putContent("cache", ns, "a/y", two, 50, List.of(), EntryRecords.ContentNotes.NONE, t);
            store.putContent("bazel-ac", ns, "r1", result, 30, List.of(one, two), EntryRecords.ContentNotes.NONE, t);
            store.putContent("bazel-ac", ns, "r2", result, 30, List.of(two), EntryRecords.ContentNotes.NONE, t);
            store.putEntry("step", ns, "no-content", 7, List.of(), t);

            assertThat(store.keyedNamespaces()).as("kinds holding content, in order, with their keys").containsExactly(
                    new EntryRecords.KeyedNamespace("bazel-ac", ns, 2), new EntryRecords.KeyedNamespace("cache", ns, 3));
            List<EntryRecords.ListedContent> first = store.contents("cache", ns, "", 2);
            assertThat(first).extracting(EntryRecords.ListedContent::key).containsExactly("a/x", "a/y");
            assertThat(first.getFirst().content()).isEqualTo(new EntryRecords.StoredContent(two, 50, t, t, notes));
            assertThat(store.contents("cache", ns, "a/y", 2)).extracting(EntryRecords.ListedContent::key).containsExactly("b");
            assertThat(store.contents("cache", ns, "b", 2)).isEmpty();
            List<Digest> held = new ArrayList<>(List.of(one, two));
            held.sort(java.util.Comparator.comparing(Digest::toString));
            assertThat(store.contents("bazel-ac", ns, "", 10)).first().satisfies(r -> assertThat(r.alsoHolds())
                    .as("the blobs it holds besides its content").extracting(EntryRecords.HeldBlob::digest).containsExactlyElementsOf(held));
            assertThat(store.contents("bazel-ac", ns, "", 10, 2)).as("a page ends before a key whose holds would pass the bound")
                    .extracting(EntryRecords.ListedContent::key).containsExactly("r1");
            assertThat(store.contents("bazel-ac", ns, "r1", 10, 2)).extracting(EntryRecords.ListedContent::key).containsExactly("r2");

            store.recordLastUse(List.of(new LastUse.OfEntry("cache", ns, "a/x", t.plusSeconds(1))));
            Instant old = t.minusSeconds(86_400);
            List<String> refused = store.backdateEntries("cache", ns, List.of(new EntryRecords.KeyTimes("b", old, old.plusSeconds(60)),
                    new EntryRecords.KeyTimes("a/x", old, old), new EntryRecords.KeyTimes("gone", old, old)), t.minusSeconds(10));
            assertThat(refused).as("read since its write, and not there").containsExactly("a/x", "gone");
            assertThat(store.content("cache", ns, "b").orElseThrow()).isEqualTo(new EntryRecords.StoredContent(one, 100, old, old.plusSeconds(60),
                    EntryRecords.ContentNotes.NONE));
            assertThat(store.backdateEntries("cache", ns, List.of(new EntryRecords.KeyTimes("a/y", old, old)), t.plusSeconds(10)))
                    .as("written before the window").containsExactly("a/y");
            assertThat(store.backdateEntries("cache", ns, List.of(new EntryRecords.KeyTimes("b", t, t)), old.minusSeconds(1)))
                    .as("once given its times (a use after its push) it is no fresh import any more").containsExactly("b");
            assertThat(store.content("cache", ns, "b").orElseThrow().pushedAt()).isEqualTo(old);
            assertThat(store.backdateEntries("cache", ns, List.of(new EntryRecords.KeyTimes("a/y", t.plusSeconds(99), t.plusSeconds(99))),
                    t.minusSeconds(10))).isEmpty();
            assertThat(store.content("cache", ns, "a/y").orElseThrow().pushedAt()).as("times never move forward").isEqualTo(t);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void contentUnderKeysIsRecordedWithItsBlobListedInByteOrderAndDeletedToTheSweep(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            RepositoryName ns = RepositoryName.of("tools");
            Digest one = digest("object one");
            Digest two = digest("object two");
            Instant t = Instant.ofEpochMilli(1_000_000);
            assertThat(store.putContent("cache", ns, "ab/cd", one, 100, List.of(), EntryRecords.ContentNotes.NONE, t).blobIsNew()).as("the blob is new").isTrue();
            assertThat(store.putContent("cache", ns, "ab/ce", one, 100, List.of(), EntryRecords.ContentNotes.NONE, t).blobIsNew()).as("same content, other key: not new").isFalse();
            assertThat(store.putContent("cache", ns, "ab", two, 50, List.of(), EntryRecords.ContentNotes.NONE, t).blobIsNew()).isTrue();
            assertThat(store.putContent("cache", ns, "b\u00e9/x", two, 50, List.of(), EntryRecords.ContentNotes.NONE, t).blobIsNew()).isFalse();
            assertThat(store.putContent("cache", RepositoryName.of("other"), "ab/cd", two, 50, List.of(), EntryRecords.ContentNotes.NONE, t).blobIsNew()).isFalse();
            assertThat(store.storedBytes()).as("each blob once; content entries have no bytes of their own").isEqualTo(150);
            assertThat(store.content("cache", ns, "ab/cd")).hasValue(new EntryRecords.StoredContent(one, 100, t, t, EntryRecords.ContentNotes.NONE));
            // An entry that holds more than its content: the key still answers its content, and the others are held.
            Digest result = digest("action result");
            Digest unknown = digest("never stored");
            assertThat(store.putContent("bazel-ac", ns, "r", result, 30, List.of(one, unknown), EntryRecords.ContentNotes.NONE, t).missing()).containsExactly(unknown);
            assertThat(store.content("bazel-ac", ns, "r")).as("nothing stored when a held blob is missing").isEmpty();
            assertThat(store.putContent("bazel-ac", ns, "r", result, 30, List.of(one, two), EntryRecords.ContentNotes.NONE, t)).isEqualTo(new EntryRecords.ContentStored(true, List.of()));
            assertThat(store.content("bazel-ac", ns, "r")).hasValue(new EntryRecords.StoredContent(result, 30, t, t, EntryRecords.ContentNotes.NONE));
            assertThat(store.heldContent("bazel-ac", ns, one)).hasValue(new EntryRecords.StoredContent(one, 100, t, t, EntryRecords.ContentNotes.NONE));
            assertThat(store.heldContent("bazel-ac", RepositoryName.of("other"), one)).as("held in another namespace only").isEmpty();
            assertThat(store.deleteEntry("bazel-ac", ns, "r", t)).isTrue();
            assertThat(store.heldContent("bazel-ac", ns, one)).isEmpty();
            assertThat(store.sweepBlobs(store.sweepCandidates(Optional.empty(), 10), t.plusSeconds(3600)))
                    .as("the result's own blob goes; what keys still hold stays").containsOnlyKeys(result);
            assertThat(store.content("cache", ns, "ab/c")).isEmpty();
            assertThat(store.content("ccache", ns, "ab/cd")).as("kinds are apart").isEmpty();

            assertThat(store.keys("cache", ns, "", "\uffff", 10)).extracting(EntryRecords.StoredKey::key)
                    .as("byte order, as both databases sort").containsExactly("ab", "ab/cd", "ab/ce", "b\u00e9/x");
            assertThat(store.keys("cache", ns, "ab/", "ab0", 10)).extracting(EntryRecords.StoredKey::key).containsExactly("ab/cd", "ab/ce");
            assertThat(store.keys("cache", ns, "ab/cd\u0001", "ab0", 10)).extracting(EntryRecords.StoredKey::key).containsExactly("ab/ce");
            assertThat(store.keys("cache", ns, "", "\uffff", 1)).singleElement().isEqualTo(new EntryRecords.StoredKey("ab", 50, t));

            Instant later = t.plusSeconds(5);
            store.recordLastUse(List.of(new LastUse.OfEntry("cache", ns, "ab/cd", later)));
            assertThat(store.content("cache", ns, "ab/cd").orElseThrow().lastUsedAt()).isEqualTo(later);
            store.recordLastUse(List.of(new LastUse.OfEntry("cache", ns, "ab/cd", t)));
            assertThat(store.content("cache", ns, "ab/cd").orElseThrow().lastUsedAt()).as("a use never moves back").isEqualTo(later);

            EntryRecords.ContentNotes notes = new EntryRecords.ContentNotes(java.util.OptionalLong.of(4200), Optional.of("sig=="));
            assertThat(store.putContent("cache", ns, "ab/cd", two, 50, List.of(), notes, later).blobIsNew()).as("replaced").isFalse();
            assertThat(store.content("cache", ns, "ab/cd").orElseThrow().digest()).isEqualTo(two);
            assertThat(store.content("cache", ns, "ab/cd").orElseThrow().notes()).as("what the client said is kept with it").isEqualTo(notes);
            assertThat(store.deleteEntry("cache", ns, "ab/ce", later)).isTrue();
            assertThat(store.deleteEntry("cache", ns, "ab/ce", later)).isFalse();
            assertThat(store.sweepCandidates(Optional.empty(), 10)).as("what the keys held goes to the sweep").containsExactly(one);
            assertThat(store.sweepBlobs(List.of(one, two), later.plusSeconds(3600))).containsOnlyKeys(one);
            assertThat(store.storedBytes()).isEqualTo(50);
            assertThat(store.auditEvents(100)).anySatisfy(e -> {
                assertThat(e.kind()).isEqualTo("cache");
                assertThat(e.digest()).isEqualTo("ab/ce");
                assertThat(e.reason()).isEqualTo("manual");
            });
            assertThat(store.namespaceFigures()).containsExactly(
                    new RetentionRecords.NamespaceFigures("cache", "other", 1, 50, Optional.of(t)),
                    new RetentionRecords.NamespaceFigures("cache", "tools", 3, 150, Optional.of(later)));
            store.linkBlob(RepositoryName.of("repo/x"), one, 100);
            assertThat(store.entryNames("", 10)).as("repositories and namespaces, in order").containsExactly("other", "repo/x", "tools");
            assertThat(store.entryNames("other", 1)).containsExactly("repo/x");
            assertThat(store.bytesUnder("tools")).as("three keys of one content: the blob once").isEqualTo(50);
            assertThat(store.bytesUnder("repo/x")).isEqualTo(100);
            assertThat(store.bytesUnder("nothing")).isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void uploadsSettingsAndLastUse(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind)) {
            store.createUpload(new UploadSession("u-1", REPO, Instant.ofEpochMilli(5000), "user ci-1"));
            assertThat(store.upload("u-1")).hasValueSatisfying(u -> assertThat(u.repository()).isEqualTo(REPO));
            assertThat(store.uploadsStartedBefore(Instant.ofEpochMilli(6000))).extracting(UploadSession::id).containsExactly("u-1");
            store.deleteUpload("u-1");
            assertThat(store.upload("u-1")).isEmpty();
            store.putSetting("k", "1");
            store.putSetting("k", "2");
            assertThat(store.setting("k")).hasValue("2");
            NewManifest m = manifest("used", Set.of(), Instant.ofEpochMilli(1000));
            store.putManifest(m, Optional.empty());
            store.recordLastUse(List.of(new LastUse.OfManifest(REPO, m.digest(), Instant.ofEpochMilli(9000))));
            store.recordLastUse(List.of(new LastUse.OfManifest(REPO, m.digest(), Instant.ofEpochMilli(2000))));
            assertThat(store.manifestLastUse(REPO, m.digest())).hasValue(Instant.ofEpochMilli(9000));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void concurrentPushesOfTheSameContentAllSucceed(String kind) throws Exception {
        try (JdbcMetadataStore store = store(kind); ExecutorService pool = Executors.newFixedThreadPool(8)) {
            Digest layer = digest("shared");
            NewManifest m = manifest("same", Set.of(layer), Instant.now());
            List<Future<List<Digest>>> results = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                results.add(pool.submit(() -> {
                    store.linkBlob(REPO, layer, 7);
                    return store.putManifest(m, Optional.of(new Tag("latest")));
                }));
            }
            for (Future<List<Digest>> r : results) assertThat(r.get()).isEmpty();
            assertThat(store.storedBytes()).isEqualTo(7 + m.content().length);
            assertThat(liveManifests(store)).hasSize(1);
        }
    }

    /** The live manifests retention plans on: every member of every unit its listing of roots heads. */
    private static List<String> liveManifests(JdbcMetadataStore store) {
        List<String> live = new java.util.ArrayList<>();
        for (RetentionRecords.ListedEntry root : store.rootManifests(RetentionRecords.EntryOrder.PUSH_TIME, RetentionRecords.EntryPosition.START,
                Instant.MAX, Integer.MAX_VALUE)) {
            store.unitMembers(root.name(), root.key()).forEach(m -> live.add(root.name() + "@" + m.digest()));
        }
        return live;
    }
}
