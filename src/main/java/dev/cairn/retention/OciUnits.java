package dev.cairn.retention;

import dev.cairn.metadata.CacheSnapshot;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The OCI kind: each unit of the {@link CacheGraph} (a root manifest with its untagged children and
 * referrers) is one entry, owning its manifests and holding the blobs they reference. A manifest two units
 * share stays until the last of them goes.
 */
final class OciUnits implements EntryKind {
    static final String NAME = "manifest";

    private final RetentionRecords records;
    private final CacheGraph graph;
    private final Map<String, CacheGraph.Node> nodes = new LinkedHashMap<>();

    OciUnits(RetentionRecords records, CacheSnapshot snapshot) {
        this.records = records;
        this.graph = new CacheGraph(snapshot);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Entry> entries() {
        List<Entry> entries = new ArrayList<>();
        for (CacheGraph.Unit unit : graph.units()) {
            Map<String, Long> own = new LinkedHashMap<>(); // the root first: deletions name it first
            Set<String> blobs = new LinkedHashSet<>();
            for (CacheGraph.Node member : unit.members()) {
                nodes.put(member.key(), member);
                own.put(member.key(), member.size());
                blobs.addAll(graph.blobsReferencedBy(member));
            }
            entries.add(new Entry(this, unit.repository(), unit.root().digest(), unit.root().pushedAt(), unit.lastUse(), unit.tags(),
                    !unit.tagged(), own, blobs));
        }
        return entries;
    }

    /** The manifests an eviction releases, root first. */
    List<CacheGraph.Node> released(EntryHoldings.Eviction eviction) {
        return eviction.released().stream().map(nodes::get).toList();
    }

    @Override
    public List<List<String>> delete(List<EntryHoldings.Eviction> evictions, ReadProtection protection, Instant now, boolean guardUse) {
        List<RetentionRecords.UnitDeletion> deletions = new ArrayList<>();
        for (EntryHoldings.Eviction e : evictions) {
            List<CacheGraph.Node> released = released(e);
            Optional<Instant> usedNoLaterThan = guardUse
                    ? released.stream().map(CacheGraph.Node::lastUsedAt).max(Instant::compareTo) : Optional.empty();
            deletions.add(new RetentionRecords.UnitDeletion(RepositoryName.of(e.entry().name()),
                    released.stream().map(CacheGraph.Node::digest).toList(), e.entry().pushedAt(), usedNoLaterThan,
                    e.reason() == DeletionReason.UNTAGGED, e.reason()));
        }
        List<List<String>> deletedDigests = records.deleteUnits(deletions, protection, now);
        List<List<String>> deletedKeys = new ArrayList<>();
        for (int i = 0; i < evictions.size(); i++) {
            String repository = evictions.get(i).entry().name();
            deletedKeys.add(deletedDigests.get(i).stream().map(digest -> repository + "@" + digest).toList());
        }
        return deletedKeys;
    }
}
