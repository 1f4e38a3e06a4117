package dev.cairn.retention;

import dev.cairn.metadata.CacheSnapshot;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.RepositoryName;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The OCI kind: each unit of the {@link CacheGraph} (a root manifest with its untagged children and
 * referrers) is one entry, owning its manifests and holding the blobs they reference. A manifest two units
 * share stays until the last of them goes.
 */
final class OciUnits implements EntryKind {
    static final String NAME = "manifest";

    private final RetentionRecords records;
    private CacheSnapshot snapshot;
    /** Every manifest the entries own, by repository@digest: what a deletion needs of the ones it releases. */
    private final Map<String, CacheGraph.Node> nodes = new HashMap<>();

    OciUnits(RetentionRecords records, CacheSnapshot snapshot) {
        this.records = records;
        this.snapshot = snapshot;
    }

    @Override
    public String name() {
        return NAME;
    }

    /**
     * The units, and, as entries never evicted, the manifests in no unit (an index that is also the referrer
     * of its own child has neither a root above it nor a way to become one): what they reference stays held.
     * Called once; the graph is garbage afterwards, only the nodes stay for the deletions.
     */
    @Override
    public List<Entry> entries() {
        CacheGraph graph = new CacheGraph(snapshot);
        snapshot = null;
        List<Entry> entries = new ArrayList<>();
        for (CacheGraph.Unit unit : graph.units()) {
            List<CacheGraph.Node> members = unit.members();
            Map<String, Long> own;
            Collection<String> blobs;
            if (members.size() == 1) { // most units: no copies of what the graph already holds
                CacheGraph.Node root = members.getFirst();
                own = Map.of(root.key(), root.size());
                blobs = graph.blobsReferencedBy(root);
            } else {
                own = new LinkedHashMap<>(); // the root first: deletions name it first
                List<String> all = new ArrayList<>();
                for (CacheGraph.Node member : members) {
                    own.put(member.key(), member.size());
                    all.addAll(graph.blobsReferencedBy(member));
                }
                blobs = all;
            }
            for (CacheGraph.Node member : members) nodes.put(member.key(), member);
            entries.add(new Entry(this, unit.repository(), unit.root().digest(), unit.root().pushedAt(), unit.lastUse(), unit.tags(),
                    !unit.tagged(), own, blobs, true));
        }
        for (CacheGraph.Node stranded : graph.nodesInNoUnit(nodes.keySet())) {
            // Never evicted, so what it "owns" is only held: itself and what it keeps as a unit would (its
            // children, theirs, their referrers), which the database will not delete while it references them,
            // and their blobs. A unit sharing one of those goes without it, and without its blobs.
            Map<String, Long> held = new LinkedHashMap<>();
            List<String> heldBlobs = new ArrayList<>();
            for (CacheGraph.Node kept : graph.unitOf(stranded).members()) {
                held.put(kept.key(), kept.size());
                heldBlobs.addAll(graph.blobsReferencedBy(kept));
            }
            entries.add(new Entry(this, stranded.repository(), stranded.digest(), stranded.pushedAt(), stranded.lastUsedAt(), List.of(),
                    false, held, heldBlobs, false));
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
