package dev.cairn.retention;

import dev.cairn.values.DeletionReason;
import dev.cairn.values.Glob;
import dev.cairn.metadata.CacheSnapshot;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

class CacheGraphTest {
    private final List<CacheSnapshot.ManifestRow> manifests = new ArrayList<>();
    private final List<CacheSnapshot.TagRow> tags = new ArrayList<>();
    private final List<CacheSnapshot.ReferenceRow> references = new ArrayList<>();
    private final Map<String, Long> blobs = new HashMap<>();

    private void manifest(String repo, String digest, long at, String subject) {
        manifests.add(new CacheSnapshot.ManifestRow(repo, digest, 100, Instant.ofEpochSecond(at), Instant.ofEpochSecond(at),
                Optional.ofNullable(subject)));
    }

    private void blob(String digest, long size) {
        blobs.put(digest, size);
    }

    private void refer(String repo, String from, String... to) {
        for (String t : to) references.add(new CacheSnapshot.ReferenceRow(repo, from, t));
    }

    private CacheSnapshot snapshot() {
        return new CacheSnapshot(manifests, tags, references, blobs);
    }

    private CacheGraph graph() {
        return new CacheGraph(snapshot());
    }

    /** The OCI entries, least recently used first, as the planner sees them. */
    private List<Entry> entries() {
        return EvictionPlanner.leastRecentlyUsedFirst(new OciUnits(null, snapshot()).entries());
    }

    /** The manifests an eviction deletes, by digest. */
    private static List<String> deleted(EntryHoldings.Eviction eviction) {
        String prefix = eviction.entry().name() + "@";
        return eviction.released().stream().map(key -> key.substring(prefix.length())).toList();
    }

    @Test
    void anIndexIsEvictedWithItsUntaggedChildrenAndTheirReferrers() {
        blob("L1", 1000);
        blob("L2", 2000);
        manifest("r", "index", 10, null);
        manifest("r", "amd64", 5, null);
        manifest("r", "arm64", 5, null);
        manifest("r", "sig", 6, "amd64");
        refer("r", "index", "amd64", "arm64");
        refer("r", "amd64", "L1");
        refer("r", "arm64", "L2");
        tags.add(new CacheSnapshot.TagRow("r", "latest", "index"));

        CacheGraph graph = graph();
        List<CacheGraph.Unit> units = graph.units();
        assertThat(units).hasSize(1);
        assertThat(units.getFirst().members()).extracting(CacheGraph.Node::digest).containsExactlyInAnyOrder("index", "amd64", "arm64", "sig");
        List<Entry> entries = entries();
        assertThat(entries).hasSize(1);
        EntryHoldings holdings = new EntryHoldings(entries, blobs);
        EntryHoldings.Eviction eviction = holdings.evict(entries.getFirst(), DeletionReason.BUDGET);
        assertThat(deleted(eviction)).containsExactlyInAnyOrder("index", "amd64", "arm64", "sig");
        assertThat(deleted(eviction).getFirst()).as("the root is named first").isEqualTo("index");
        assertThat(eviction.freedBlobs()).containsOnlyKeys("L1", "L2");
        assertThat(eviction.freedBytes()).isEqualTo(1000 + 2000 + 4 * 100);
        assertThat(holdings.evict(entries.getFirst(), DeletionReason.BUDGET).released()).as("nothing is left to evict").isEmpty();
        assertThat(holdings.unheldBlobBytes()).isEqualTo(3000);
    }

    @Test
    void aChildSharedWithAnotherIndexOrTaggedOnItsOwnStays() {
        blob("L", 500);
        manifest("r", "old-index", 1, null);
        manifest("r", "new-index", 9, null);
        manifest("r", "shared", 1, null);
        manifest("r", "pinned", 1, null);
        refer("r", "old-index", "shared", "pinned");
        refer("r", "new-index", "shared");
        refer("r", "shared", "L");
        refer("r", "pinned", "L");
        tags.add(new CacheSnapshot.TagRow("r", "old", "old-index"));
        tags.add(new CacheSnapshot.TagRow("r", "new", "new-index"));
        tags.add(new CacheSnapshot.TagRow("r", "pinned", "pinned"));

        List<Entry> entries = entries();
        Entry oldest = entries.getFirst();
        assertThat(oldest.key()).isEqualTo("old-index");
        EntryHoldings holdings = new EntryHoldings(entries, blobs);
        EntryHoldings.Eviction eviction = holdings.evict(oldest, DeletionReason.BUDGET);
        assertThat(deleted(eviction)).containsExactly("old-index");
        assertThat(eviction.freedBlobs()).isEmpty();
        assertThat(entries.subList(1, entries.size())).extracting(Entry::key).containsExactlyInAnyOrder("new-index", "pinned");
        Entry newIndex = entries.stream().filter(e -> e.key().equals("new-index")).findFirst().orElseThrow();
        Entry pinned = entries.stream().filter(e -> e.key().equals("pinned")).findFirst().orElseThrow();
        assertThat(deleted(holdings.evict(newIndex, DeletionReason.BUDGET))).as("the shared child goes with its last parent")
                .containsExactlyInAnyOrder("new-index", "shared");
        EntryHoldings.Eviction last = holdings.evict(pinned, DeletionReason.BUDGET);
        assertThat(deleted(last)).containsExactly("pinned");
        assertThat(last.freedBlobs()).containsOnlyKeys("L");
    }

    @Test
    void blobsSharedAcrossRepositoriesAreFreedOnlyWithTheirLastReference() {
        blob("base", 10_000);
        blob("top", 1_000);
        manifest("a", "m1", 1, null);
        manifest("b", "m2", 2, null);
        refer("a", "m1", "base", "top");
        refer("b", "m2", "base");
        tags.add(new CacheSnapshot.TagRow("a", "v", "m1"));
        tags.add(new CacheSnapshot.TagRow("b", "v", "m2"));
        List<Entry> entries = entries();
        EntryHoldings holdings = new EntryHoldings(entries, blobs);
        EntryHoldings.Eviction first = holdings.evict(entries.get(0), DeletionReason.BUDGET);
        assertThat(first.freedBlobs()).containsOnlyKeys("top");
        EntryHoldings.Eviction second = holdings.evict(entries.get(1), DeletionReason.BUDGET);
        assertThat(second.freedBlobs()).containsOnlyKeys("base");
    }

    @Test
    void unitsAreOrderedByTheirLatestUse() {
        manifests.add(new CacheSnapshot.ManifestRow("r", "pushed-early-used-late", 100, Instant.ofEpochSecond(1), Instant.ofEpochSecond(50), Optional.empty()));
        manifests.add(new CacheSnapshot.ManifestRow("r", "pushed-late", 100, Instant.ofEpochSecond(20), Instant.ofEpochSecond(20), Optional.empty()));
        manifests.add(new CacheSnapshot.ManifestRow("r", "untouched", 100, Instant.ofEpochSecond(5), Instant.ofEpochSecond(5), Optional.empty()));
        assertThat(graph().units()).extracting(u -> u.root().digest()).containsExactly("untouched", "pushed-late", "pushed-early-used-late");
        assertThat(entries()).extracting(Entry::key).containsExactly("untouched", "pushed-late", "pushed-early-used-late");
    }

    @Test
    void manifestsNoUnitReachesKeepWhatTheyReferenceAndTheBudgetStillCountsIt() {
        // An index that is also the referrer of its own child: neither can be a root, so no unit holds them;
        // they are never evicted, and their blob is not free bytes the planner may count on.
        blob("b1", 1000);
        blob("b2", 500);
        manifest("r", "index", 1, "child");
        manifest("r", "child", 1, null);
        refer("r", "index", "child");
        refer("r", "child", "b1");
        manifest("r", "tagged", 2, null);
        refer("r", "tagged", "b2");
        tags.add(new CacheSnapshot.TagRow("r", "v", "tagged"));
        RetentionPolicy policy = new RetentionPolicy(1000, 0.9, 0.5, false, java.time.Duration.ofHours(1), java.time.Duration.ofHours(1),
                Optional.empty(), List.of());
        List<EntryHoldings.Eviction> plan = EvictionPlanner.plan(new OciUnits(null, snapshot()).entries(), blobs, policy, 1530,
                Instant.ofEpochSecond(100));
        assertThat(plan).extracting(e -> e.entry().key()).containsExactly("tagged");
        assertThat(plan.getFirst().freedBlobs()).containsOnlyKeys("b2");
        assertThat(EvictionPlanner.invalidation(new OciUnits(null, snapshot()).entries(), blobs, new Glob("**"), Optional.empty(),
                Optional.empty(), Instant.ofEpochSecond(100))).extracting(e -> e.entry().key()).containsExactly("tagged");
    }

    @Test
    void aManifestNoUnitReachesKeepsTheManifestsItReferencesFromTheUnitsThatShareThem() {
        // root -> child; stranded (a referrer of subject, which it also lists) -> subject, child. The database
        // refuses to delete child while stranded references it, so evicting root must release root alone.
        blob("bc", 1000);
        manifest("r", "root", 1, null);
        manifest("r", "child", 1, null);
        manifest("r", "stranded", 1, "subject");
        manifest("r", "subject", 1, null);
        refer("r", "root", "child");
        refer("r", "child", "bc");
        refer("r", "stranded", "subject", "child");
        tags.add(new CacheSnapshot.TagRow("r", "v1", "root"));
        List<EntryHoldings.Eviction> plan = EvictionPlanner.invalidation(new OciUnits(null, snapshot()).entries(), blobs, new Glob("**"),
                Optional.empty(), Optional.empty(), Instant.ofEpochSecond(100));
        EntryHoldings.Eviction root = plan.stream().filter(e -> e.entry().key().equals("root")).findFirst().orElseThrow();
        assertThat(deleted(root)).containsExactly("root");
        assertThat(root.freedBlobs()).isEmpty();
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
