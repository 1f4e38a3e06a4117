package dev.cairn.retention;

import dev.cairn.values.DeletionReason;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Who holds what, as the planner evicts in its model: each blob and each entry-owned record counts the
 * entries that hold it, so evicting an entry frees exactly what no surviving entry, of any kind, holds.
 */
final class EntryHoldings {
    /** What evicting an entry deletes and frees. */
    record Eviction(Entry entry, DeletionReason reason, List<String> released, Map<String, Long> freedBlobs, long freedBytes) {
    }

    private final Map<String, Long> blobSizes;
    private final Map<String, Integer> blobHolders = new HashMap<>();
    /** Per kind: two kinds may use the same keys for records of their own. */
    private final Map<EntryKind, Map<String, Integer>> ownHolders = new IdentityHashMap<>();
    private final Set<Entry> evicted = Collections.newSetFromMap(new IdentityHashMap<>());

    EntryHoldings(List<Entry> entries, Map<String, Long> blobSizes) {
        this.blobSizes = blobSizes;
        for (Entry entry : entries) {
            for (String blob : entry.blobs()) blobHolders.merge(blob, 1, Integer::sum);
            Map<String, Integer> holders = ownHolders.computeIfAbsent(entry.kind(), k -> new HashMap<>());
            for (String item : entry.own().keySet()) holders.merge(item, 1, Integer::sum);
        }
    }

    /** Bytes of stored blobs that no entry holds: the sweep frees them, evicting cannot free them sooner. */
    long unheldBlobBytes() {
        long bytes = 0;
        for (Map.Entry<String, Long> blob : blobSizes.entrySet()) {
            if (blobHolders.getOrDefault(blob.getKey(), 0) == 0) bytes += blob.getValue();
        }
        return bytes;
    }

    /** Removes the entry from the model; returns what went with it (nothing, if it was already evicted). */
    Eviction evict(Entry entry, DeletionReason reason) {
        List<String> released = new ArrayList<>();
        Map<String, Long> freedBlobs = new HashMap<>();
        long freed = 0;
        if (!evicted.add(entry)) return new Eviction(entry, reason, released, freedBlobs, 0);
        Map<String, Integer> holders = ownHolders.get(entry.kind());
        for (Map.Entry<String, Long> item : entry.own().entrySet()) {
            if (holders.merge(item.getKey(), -1, Integer::sum) == 0) {
                released.add(item.getKey());
                freed += item.getValue();
            }
        }
        for (String blob : entry.blobs()) {
            if (blobHolders.merge(blob, -1, Integer::sum) == 0) {
                long size = blobSizes.getOrDefault(blob, 0L);
                freedBlobs.put(blob, size);
                freed += size;
            }
        }
        return new Eviction(entry, reason, released, freedBlobs, freed);
    }
}
