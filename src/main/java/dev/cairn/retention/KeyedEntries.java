package dev.cairn.retention;

import dev.cairn.metadata.CacheSnapshot;
import dev.cairn.metadata.ReadProtection;
import dev.cairn.metadata.RetentionRecords;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Entries stored by key in a namespace (a build tool's result, a step record): one record each, holding
 * the blobs it names. Every kind stored this way shares this code and the records' one table; the kind is
 * the record's {@code kind} column, so adding one needs nothing here.
 */
final class KeyedEntries implements EntryKind {
    private final RetentionRecords records;
    private final String kind;
    private final List<CacheSnapshot.EntryRow> rows;

    private KeyedEntries(RetentionRecords records, String kind, List<CacheSnapshot.EntryRow> rows) {
        this.records = records;
        this.kind = kind;
        this.rows = rows;
    }

    /** One {@link EntryKind} per kind the snapshot's keyed entries name. */
    static List<EntryKind> kindsIn(RetentionRecords records, CacheSnapshot snapshot) {
        Map<String, List<CacheSnapshot.EntryRow>> byKind = new java.util.TreeMap<>();
        for (CacheSnapshot.EntryRow row : snapshot.entries()) byKind.computeIfAbsent(row.kind(), k -> new ArrayList<>()).add(row);
        List<EntryKind> kinds = new ArrayList<>();
        byKind.forEach((kind, rows) -> kinds.add(new KeyedEntries(records, kind, rows)));
        return kinds;
    }

    @Override
    public String name() {
        return kind;
    }

    @Override
    public List<Entry> entries() {
        List<Entry> entries = new ArrayList<>(rows.size());
        for (CacheSnapshot.EntryRow row : rows) {
            Instant lastUse = row.lastUsedAt().isAfter(row.pushedAt()) ? row.lastUsedAt() : row.pushedAt();
            // Named by its key, an entry is never "untagged": the untagged delay is for OCI roots nobody named.
            entries.add(new Entry(this, row.namespace(), row.key(), row.pushedAt(), lastUse, List.of(), false,
                    Map.of(row.namespace() + "@" + row.key(), row.size()), row.blobs(), true));
        }
        return entries;
    }

    @Override
    public List<List<String>> delete(List<EntryHoldings.Eviction> evictions, ReadProtection protection, Instant now, boolean guardUse) {
        List<RetentionRecords.EntryDeletion> deletions = new ArrayList<>();
        for (EntryHoldings.Eviction e : evictions) {
            Entry entry = e.entry();
            deletions.add(new RetentionRecords.EntryDeletion(kind, entry.name(), entry.key(), entry.pushedAt(),
                    guardUse ? Optional.of(entry.lastUse()) : Optional.empty(), e.reason()));
        }
        List<Boolean> deleted = records.deleteEntries(deletions, now);
        List<List<String>> keys = new ArrayList<>();
        for (int i = 0; i < evictions.size(); i++) keys.add(deleted.get(i) ? List.copyOf(evictions.get(i).entry().own().keySet()) : List.of());
        return keys;
    }
}
