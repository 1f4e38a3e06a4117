package dev.cairn.retention;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metadata.RetentionRecords.Evicted;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A dry run's evictions: nothing is deleted, so what each would free is asked of the records. A blob counts as
 * freed when every holder of it is an entry the run has planned; the run remembers the records it planned,
 * so its memory follows what it would evict. A blob with more than {@value #HOLDERS_ASKED} holders counts as
 * staying, even if the run would in the end evict every one of them: a dry run may say a little less is
 * freed than a collection would, and so list a few more entries.
 */
final class DryRunEvictions implements EvictionPlanner.Evictions {
    static final int HOLDERS_ASKED = 64;

    private final RetentionRecords records;
    private final Set<String> planned = new HashSet<>();

    DryRunEvictions(RetentionRecords records) {
        this.records = records;
    }

    @Override
    public List<Evicted> evict(List<EvictionPlanner.Planned> batch, long bytesToFree) {
        List<Evicted> results = new ArrayList<>();
        long freed = 0;
        for (EvictionPlanner.Planned p : batch) {
            if (freed >= bytesToFree) break;
            Entry entry = p.entry();
            List<String> ids = entry.holderIds();
            if (planned.containsAll(ids)) { // planned already (expired and least recently used, say)
                results.add(Evicted.NOTHING);
                continue;
            }
            planned.addAll(ids);
            long bytes = entry.ownBytes();
            for (Map.Entry<String, Long> blob : records.blobsHeldBy(entry.kind(), entry.name(), entry.records()).entrySet()) {
                List<String> holders = records.blobHolders(blob.getKey(), HOLDERS_ASKED + 1);
                if (holders.size() <= HOLDERS_ASKED && planned.containsAll(holders)) bytes += blob.getValue();
            }
            results.add(new Evicted(entry.records(), entry.ownBytes(), bytes));
            freed += bytes;
        }
        return results;
    }
}
