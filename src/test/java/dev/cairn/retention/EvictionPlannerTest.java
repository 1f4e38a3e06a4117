package dev.cairn.retention;

import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.LastUse;
import dev.cairn.metadata.NewManifest;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Digest;
import dev.cairn.values.Glob;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;
import dev.cairn.testing.Postgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The planner over a real SQLite file and a real PostgreSQL database: units formed from the records (an index with its untagged children and
 * their referrers), the order entries are walked in (by a unit's latest use, across pages), what evicting each
 * frees (blobs go with their last holder, shared manifests with their last parent), and the budget's stop at
 * the low watermark.
 */
class EvictionPlannerTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    @TempDir
    Path dir;
    private JdbcMetadataStore store;
    private final Map<String, Digest> digests = new HashMap<>();
    private final Map<Digest, String> names = new HashMap<>();

    /** A fresh, empty store of the kind named, for this test. */
    private void open(String kind) throws Exception {
        if (kind.equals("sqlite")) {
            store = JdbcMetadataStore.sqlite(dir.resolve("metadata.db"));
            return;
        }
        Postgres postgres = Postgres.shared();
        store = JdbcMetadataStore.postgres(postgres.newDatabase(), postgres.user(), postgres.password(), 4);
    }

    @AfterEach
    void close() {
        if (store != null) store.close();
        store = null;
        digests.clear();
        names.clear();
    }

    private void blob(String repo, String name, long size) {
        Digest digest = Digest.sha256(name.getBytes());
        digests.put(name, digest);
        names.put(digest, name);
        store.linkBlob(RepositoryName.of(repo), digest, size);
    }

    /** A manifest named {@code name}, pushed (and last used) {@code at} seconds after T0, referencing what it lists. */
    private void manifest(String repo, String name, long at, String subject, String tag, String... references) {
        byte[] content = ("{\"schemaVersion\":2,\"name\":\"" + name + "\"}").getBytes();
        Digest digest = Digest.sha256(content);
        digests.put(name, digest);
        names.put(digest, name);
        Set<Digest> refs = new java.util.HashSet<>();
        for (String r : references) refs.add(digests.get(r));
        NewManifest m = new NewManifest(RepositoryName.of(repo), digest, MediaTypes.OCI_MANIFEST, content,
                Optional.ofNullable(subject).map(digests::get), Optional.empty(), refs, T0.plusSeconds(at));
        assertThat(store.putManifest(m, Optional.ofNullable(tag).map(Tag::new))).as("nothing missing for " + name).isEmpty();
    }

    private long size(String name) {
        return ("{\"schemaVersion\":2,\"name\":\"" + name + "\"}").getBytes().length;
    }

    private void used(String repo, String name, long at) {
        store.recordLastUse(List.of(new LastUse.OfManifest(RepositoryName.of(repo), digests.get(name), T0.plusSeconds(at))));
    }

    private List<Entry> walk() {
        return walk(EntryWalk.MOST_WAITING);
    }

    private List<Entry> walk(int mostWaiting) {
        List<Entry> entries = new ArrayList<>();
        EntryWalk walk = EntryWalk.leastRecentlyUsed(store, Instant.MAX, mostWaiting);
        for (Entry e = walk.next(); e != null; e = walk.next()) entries.add(e);
        return entries;
    }

    private String nameOf(Entry entry) {
        return names.get(Digest.parse(entry.key()));
    }

    private List<String> namesOf(List<String> records) {
        return records.stream().map(d -> names.get(Digest.parse(d))).toList();
    }

    private RetentionRecords.Evicted evict(Entry entry) {
        return store.evict(List.of(entry.deletion(dev.cairn.values.DeletionReason.BUDGET, false)), ReadProtection.NONE, Instant.now(),
                Long.MAX_VALUE).getFirst();
    }

    private EvictionPlanner planner(RetentionPolicy policy) {
        return new EvictionPlanner(store, policy, (batch, bytes) -> store.evict(
                batch.stream().map(p -> p.entry().deletion(p.reason(), false)).toList(), ReadProtection.NONE, Instant.now(), bytes),
                T0.plusSeconds(1000));
    }

    private static RetentionPolicy budget(long maxBytes, double high, double low) {
        return new RetentionPolicy(maxBytes, high, low, false, Duration.ofHours(1), Duration.ofHours(1), Optional.empty(), List.of());
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void anIndexIsEvictedWithItsUntaggedChildrenAndTheirReferrers(String kind) throws Exception {
        open(kind);
        blob("r", "L1", 1000);
        blob("r", "L2", 2000);
        manifest("r", "amd64", 5, null, null, "L1");
        manifest("r", "arm64", 5, null, null, "L2");
        manifest("r", "sig", 6, "amd64", null);
        manifest("r", "index", 10, null, "latest", "amd64", "arm64");

        List<Entry> entries = walk();
        assertThat(entries).extracting(this::nameOf).containsExactly("index");
        Entry unit = entries.getFirst();
        assertThat(unit.tags()).containsExactly("latest");
        assertThat(namesOf(unit.records()).getFirst()).isEqualTo("index");
        assertThat(namesOf(unit.records())).containsExactlyInAnyOrder("index", "amd64", "arm64", "sig");
        assertThat(store.unheldBlobBytes()).isZero();

        RetentionRecords.Evicted evicted = evict(unit);
        assertThat(namesOf(evicted.records())).as("the root is named first, the referrer after its subject")
                .containsExactlyInAnyOrder("index", "amd64", "arm64", "sig").startsWith("index").endsWith("sig");
        long manifests = size("index") + size("amd64") + size("arm64") + size("sig");
        assertThat(evicted.ownBytes()).isEqualTo(manifests);
        assertThat(evicted.freedBytes()).isEqualTo(1000 + 2000 + manifests);
        assertThat(evict(unit).records()).as("nothing is left to evict").isEmpty();
        assertThat(store.unheldBlobBytes()).as("its blobs wait for the sweep").isEqualTo(3000);
        assertThat(walk()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aChildSharedWithAnotherIndexOrTaggedOnItsOwnStaysUntilItsLastParentGoes(String kind) throws Exception {
        open(kind);
        blob("r", "L", 500);
        manifest("r", "shared", 1, null, null, "L");
        manifest("r", "pinned", 2, null, "pinned", "L");
        manifest("r", "old-index", 1, null, "old", "shared", "pinned");
        manifest("r", "new-index", 9, null, "new", "shared");

        List<Entry> entries = walk();
        assertThat(entries).extracting(this::nameOf).containsExactly("old-index", "pinned", "new-index");
        assertThat(namesOf(entries.getFirst().records())).as("a tagged child is a unit of its own").containsExactly("old-index", "shared");

        RetentionRecords.Evicted oldIndex = evict(entries.get(0));
        assertThat(namesOf(oldIndex.records())).as("the shared child stays with new-index").containsExactly("old-index");
        assertThat(oldIndex.freedBytes()).isEqualTo(size("old-index"));
        assertThat(namesOf(evict(entries.get(1)).records())).as("no index lists pinned any more").containsExactly("pinned");
        RetentionRecords.Evicted newIndex = evict(entries.get(2));
        assertThat(namesOf(newIndex.records())).as("the shared child goes with its last parent").containsExactly("new-index", "shared");
        assertThat(newIndex.freedBytes()).as("and the layer with its last holder").isEqualTo(size("new-index") + size("shared") + 500);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void unitsEvictedInOneBatchGoAsTheyWouldOneAtATime(String kind) throws Exception {
        open(kind);
        // The units of a batch are read together and decided in order: each sees the records as those before it
        // in the batch left them (a shared child freed by its first parent's going, a blob by its last holder's).
        blob("r", "L", 500);
        blob("a", "base", 10_000);
        blob("b", "base", 10_000);
        manifest("r", "shared", 1, null, null, "L");
        manifest("r", "pinned", 2, null, "pinned", "L");
        manifest("r", "old-index", 1, null, "old", "shared", "pinned");
        manifest("r", "new-index", 9, null, "new", "shared");
        manifest("a", "m1", 10, null, "v", "base");
        manifest("b", "m2", 11, null, "v", "base");
        manifest("r", "referrer", 12, "pinned", null);
        List<Entry> entries = walk();
        // pinned's unit (with its referrer) was last used last; old-index, which lists it, goes before it in the batch
        assertThat(entries).extracting(this::nameOf).containsExactly("old-index", "new-index", "m1", "m2", "pinned");
        List<RetentionRecords.Evicted> evicted = store.evict(entries.stream().map(e -> e.deletion(dev.cairn.values.DeletionReason.BUDGET, false))
                .toList(), ReadProtection.NONE, Instant.now(), Long.MAX_VALUE);
        assertThat(evicted).extracting(e -> namesOf(e.records())).containsExactly(
                List.of("old-index"), List.of("new-index", "shared"), List.of("m1"), List.of("m2"), List.of("pinned", "referrer"));
        assertThat(evicted).extracting(RetentionRecords.Evicted::freedBytes).as("L goes with pinned, its last holder; base with m2").containsExactly(
                size("old-index"), size("new-index") + size("shared"), size("m1"), size("m2") + 10_000, size("pinned") + size("referrer") + 500);
        assertThat(evicted.get(3).freedBlobs()).containsExactly(digests.get("base").toString());
        assertThat(evicted.get(4).freedBlobs()).containsExactly(digests.get("L").toString());
        assertThat(store.unheldBlobBytes()).as("both blobs marked for the sweep").isEqualTo(10_500);
        assertThat(walk()).isEmpty();
    }

    /** A unit as a planner read it earlier: {@code members} after the root, pushed when the root was. */
    private RetentionRecords.UnitDeletion unitAsRead(String root, long pushedAt, dev.cairn.values.DeletionReason reason, String... members) {
        List<String> records = new ArrayList<>(List.of(digests.get(root).toString()));
        for (String member : members) records.add(digests.get(member).toString());
        return new RetentionRecords.UnitDeletion(RepositoryName.of("r"), records, T0.plusSeconds(pushedAt), Optional.empty(), false, reason);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aBlobGoesWithTheUnitWhoseLiveManifestLastHeldItNotWithARetiredOneThatStillListsIt(String kind) throws Exception {
        // (Found by review: a blob was credited to the last unit of the batch that listed it, a retired manifest
        // among them, so a byte limit met by the first unit's blob went on to evict what it did not need to.)
        open(kind);
        blob("r", "X", 5000);
        blob("r", "L", 700);
        blob("r", "K", 900);
        manifest("r", "Q", 1, null, null, "X");
        manifest("r", "S", 2, null, null, "L");
        manifest("r", "R", 3, "S", null, "X"); // a referrer of S that also lists X
        manifest("r", "O", 4, null, null, "K");
        // S's unit retired (read within its grace window): S and R keep their references but hold nothing
        store.evict(List.of(unitAsRead("S", 2, dev.cairn.values.DeletionReason.BUDGET, "R")),
                new ReadProtection(Duration.ofDays(365), Duration.ZERO), T0.plusSeconds(10), Long.MAX_VALUE);
        manifest("r", "J", 20, null, null, "S"); // an index takes S back; R stays retired
        List<RetentionRecords.Deletion> batch = List.of(unitAsRead("Q", 1, dev.cairn.values.DeletionReason.MAX_IDLE),
                unitAsRead("O", 4, dev.cairn.values.DeletionReason.BUDGET), unitAsRead("J", 20, dev.cairn.values.DeletionReason.BUDGET, "S", "R"));

        List<RetentionRecords.Evicted> evicted = store.evict(batch, ReadProtection.NONE, T0.plusSeconds(1000), 5000);
        assertThat(evicted).as("Q frees X, which R did not hold: the limit is met there").singleElement().satisfies(q -> {
            assertThat(namesOf(q.records())).containsExactly("Q");
            assertThat(q.freedBlobs()).containsExactly(digests.get("X").toString());
            assertThat(q.freedBytes()).isEqualTo(size("Q") + 5000);
        });
        assertThat(store.unheldBlobBytes()).isEqualTo(5000);

        evicted = store.evict(batch.subList(1, 3), ReadProtection.NONE, T0.plusSeconds(1000), Long.MAX_VALUE);
        assertThat(evicted).extracting(e -> namesOf(e.records())).containsExactly(List.of("O"), List.of("J", "S", "R"));
        assertThat(evicted.get(1).freedBytes()).as("X is not counted again").isEqualTo(size("J") + size("S") + size("R") + 700);
        assertThat(store.unheldBlobBytes()).isEqualTo(5000 + 900 + 700);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aMemberTwoMembersListGoesWithTheUnitWhateverTheOrderOfTheirDigests(String kind) throws Exception {
        open(kind);
        // index -> {j, c}, j -> {c}; and index -> {r, s}, r a referrer of s. Whatever order the members come in,
        // each goes once what holds it went: the whole unit, and the layers with it.
        blob("r", "LC", 1000);
        blob("r", "LS", 2000);
        manifest("r", "c", 1, null, null, "LC");
        manifest("r", "j", 1, null, null, "c");
        manifest("r", "s", 1, null, null, "LS");
        manifest("r", "referrer", 1, "s", null);
        manifest("r", "index", 1, null, "v", "j", "c", "referrer", "s");
        Entry unit = walk().getFirst();
        RetentionRecords.Evicted evicted = evict(unit);
        assertThat(namesOf(evicted.records())).containsExactlyInAnyOrder("index", "j", "c", "s", "referrer");
        assertThat(evicted.freedBytes()).isEqualTo(1000 + 2000 + size("index") + size("j") + size("c") + size("s") + size("referrer"));
        assertThat(walk()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void theBudgetLeavesWhatWasUsedAfterTheCollectionBegan(String kind) throws Exception {
        open(kind);
        blob("r", "old-layer", 1000);
        blob("r", "new-layer", 1000);
        manifest("r", "old", 1, null, "old", "old-layer");
        manifest("r", "new", 2000, null, "new", "new-layer"); // after the planner's "now" (T0 + 1000 s)
        EvictionPlanner planner = planner(budget(1000, 0.9, 0.1));
        planner.evictToBudget(store.storedBytes());
        assertThat(planner.evicted().first()).extracting(u -> names.get(Digest.parse(u.root()))).as("not what came after it began")
                .containsExactly("old");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aUnitWhoseRootAnotherManifestListsIsNoRootAndStays(String kind) throws Exception {
        open(kind);
        blob("r", "L", 500);
        manifest("r", "tagged-child", 1, null, "child", "L");
        manifest("r", "index", 2, null, "index", "tagged-child");
        Entry child = walk().getFirst();
        assertThat(nameOf(child)).isEqualTo("tagged-child");
        assertThat(evict(child).records()).as("an index lists it").isEmpty();
        assertThat(walk()).hasSize(2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void blobsSharedAcrossRepositoriesAreFreedOnlyWithTheirLastReference(String kind) throws Exception {
        open(kind);
        blob("a", "base", 10_000);
        blob("b", "base", 10_000);
        blob("a", "top", 1_000);
        manifest("a", "m1", 1, null, "v", "base", "top");
        manifest("b", "m2", 2, null, "v", "base");
        List<Entry> entries = walk();
        assertThat(evict(entries.get(0)).freedBytes()).isEqualTo(size("m1") + 1_000);
        assertThat(evict(entries.get(1)).freedBytes()).isEqualTo(size("m2") + 10_000);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void unitsAreOrderedByTheirLatestMemberUseAcrossPages(String kind) throws Exception {
        open(kind);
        // 1,200 roots (more than two pages), some of them indexes whose child was used after the root: the walk
        // must still give every unit in the order of its latest use, which the records alone do not sort by.
        Random random = new Random(7);
        Map<String, Long> latest = new HashMap<>();
        for (int i = 0; i < 1200; i++) {
            long pushed = random.nextInt(10_000);
            String root = "root-" + i;
            if (i % 5 == 0) {
                String child = "child-" + i;
                manifest("r", child, pushed, null, null);
                manifest("r", root, pushed, null, "t" + i, child);
                long childUse = pushed + random.nextInt(20_000);
                used("r", child, childUse);
                latest.put(root, childUse);
            } else {
                manifest("r", root, pushed, null, null);
                long use = pushed + random.nextInt(3) * random.nextInt(5_000);
                used("r", root, use);
                latest.put(root, use);
            }
        }
        List<Entry> entries = walk();
        assertThat(entries).hasSize(1200);
        List<Long> walkedUses = entries.stream().map(e -> e.lastUse().getEpochSecond() - T0.getEpochSecond()).toList();
        assertThat(walkedUses).isSorted();
        assertThat(entries).extracting(this::nameOf).containsExactlyInAnyOrderElementsOf(latest.keySet());
        for (Entry e : entries) assertThat(e.lastUse()).as(nameOf(e)).isEqualTo(T0.plusSeconds(latest.get(nameOf(e))));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void unitsHeldBackForTheirTurnAreBoundedAndNoneIsLostOrRepeated(String kind) throws Exception {
        open(kind);
        // Every index's child is read long after the index: each unit would wait for its turn. With room for
        // three, the rest come out early, and still every unit comes out once.
        for (int i = 0; i < 40; i++) {
            manifest("r", "child-" + i, i, null, null);
            manifest("r", "index-" + i, i, null, "t" + i, "child-" + i);
            used("r", "child-" + i, 10_000 - i);
        }
        List<Entry> bounded = walk(3);
        assertThat(bounded).extracting(this::nameOf).doesNotHaveDuplicates().hasSize(40);
        assertThat(bounded.stream().map(Entry::lastUse).toList()).as("some came out ahead of their turn").isNotEqualTo(
                bounded.stream().map(Entry::lastUse).sorted().toList());
        assertThat(walk().stream().map(Entry::lastUse).toList()).as("with room for all, in order").isSorted();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void theBudgetEvictsTheLeastRecentlyUsedUntilTheLowWatermarkAndNoFurther(String kind) throws Exception {
        open(kind);
        for (int i = 0; i < 10; i++) {
            blob("r", "layer-" + i, 1000);
            manifest("r", "m" + i, 10 - i, null, "v" + i, "layer-" + i); // m9 is the oldest
        }
        long usage = store.storedBytes();
        // 10 x (1000 + a ~40-byte manifest); the low watermark leaves room for six and a half units
        RetentionPolicy policy = budget(10_000, 0.9, 0.65);
        EvictionPlanner planner = planner(policy);
        long left = planner.evictToBudget(usage - store.unheldBlobBytes());
        assertThat(planner.evicted().first()).extracting(u -> names.get(Digest.parse(u.root()))).containsExactly("m9", "m8", "m7", "m6");
        assertThat(left).isLessThanOrEqualTo(policy.lowBytes()).isEqualTo(store.storedBytes() - store.unheldBlobBytes());
        assertThat(planner.freedBytes()).isEqualTo(usage - left);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aDryRunPlansWhatTheCollectionThenDoes(String kind) throws Exception {
        open(kind);
        blob("r", "base", 5000);
        for (int i = 0; i < 6; i++) {
            blob("r", "layer-" + i, 1000);
            manifest("r", "m" + i, 10 - i, null, "v" + i, "base", "layer-" + i);
        }
        RetentionPolicy policy = budget(9_000, 0.9, 0.5);
        long usage = store.storedBytes() - store.unheldBlobBytes();
        EvictionPlanner dry = new EvictionPlanner(store, policy, new DryRunEvictions(store), T0.plusSeconds(1000));
        dry.evictToBudget(usage);
        assertThat(walk()).as("a dry run deletes nothing").hasSize(6);
        EvictionPlanner real = planner(policy);
        real.evictToBudget(usage);
        assertThat(dry.evicted().first()).isEqualTo(real.evicted().first());
        assertThat(real.evicted().count()).as("the shared base goes with the last of them").isEqualTo(6);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void manifestsNoUnitReachesKeepWhatTheyReferenceAndAreNeverEvicted(String kind) throws Exception {
        open(kind);
        // An index that is also the referrer of its own child: neither can be a root, so no unit holds them;
        // they are never evicted, and their blob is not free bytes the planner may count on.
        blob("r", "b1", 1000);
        blob("r", "b2", 500);
        manifest("r", "child", 1, null, null, "b1");
        manifest("r", "index", 1, "child", null, "child");
        manifest("r", "tagged", 2, null, "v", "b2");
        assertThat(walk()).extracting(this::nameOf).containsExactly("tagged");
        assertThat(store.unheldBlobBytes()).isZero();
        EvictionPlanner planner = planner(budget(1000, 0.9, 0.5));
        planner.evictToBudget(store.storedBytes());
        assertThat(planner.evicted().first()).extracting(u -> names.get(Digest.parse(u.root()))).containsExactly("tagged");
        assertThat(planner.evicted().first().getFirst().bytes()).isEqualTo(size("tagged") + 500);
        planner.invalidate(new Glob("**"), Optional.empty(), Optional.empty());
        assertThat(walk()).isEmpty();
        assertThat(store.unheldBlobBytes()).as("b2 waits for the sweep; b1 stays held").isEqualTo(500);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sqlite", "postgres"})
    void aManifestNoUnitReachesKeepsTheManifestsItReferencesFromTheUnitsThatShareThem(String kind) throws Exception {
        open(kind);
        // root -> child; stranded (a referrer of subject, which it also lists) -> subject, child. Evicting root
        // must leave child, which stranded still references.
        blob("r", "bc", 1000);
        manifest("r", "child", 1, null, null, "bc");
        manifest("r", "root", 1, null, "v1", "child");
        manifest("r", "subject", 1, null, null);
        manifest("r", "stranded", 1, "subject", null, "subject", "child");
        EvictionPlanner planner = planner(budget(1_000_000, 0.9, 0.5));
        planner.invalidate(new Glob("**"), Optional.empty(), Optional.empty());
        CollectionReport.EvictedUnit root = planner.evicted().first().stream()
                .filter(u -> names.get(Digest.parse(u.root())).equals("root")).findFirst().orElseThrow();
        assertThat(namesOf(root.manifests())).containsExactly("root");
        assertThat(root.bytes()).as("bc is still held").isEqualTo(size("root"));
    }

    @Test
    void globsMatchSegmentsAndDeepPaths() {
        assertThat(new Glob("cache/**").matches("cache/app")).isTrue();
        assertThat(new Glob("cache/**").matches("cache/team/app")).isTrue();
        assertThat(new Glob("cache/**").matches("cachex/app")).isFalse();
        assertThat(new Glob("cache/*").matches("cache/team/app")).isFalse();
        assertThat(new Glob("**").matches("anything/at/all")).isTrue();
        assertThat(new Glob("v1.?").matches("v1.2")).isTrue();
        assertThat(new Glob("v1.?").matches("v1x2")).isFalse();
    }
}
