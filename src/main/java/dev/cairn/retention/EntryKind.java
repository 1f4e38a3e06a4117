package dev.cairn.retention;

import dev.cairn.metadata.ReadProtection;

import java.time.Instant;
import java.util.List;

/**
 * One kind of cached entry, as of one read of the records: lists its entries for the planner and deletes
 * those the planner evicts. The OCI unit is one kind ({@link OciUnits}); results keyed by a build tool or
 * a step hash are another ({@link KeyedEntries}).
 */
public interface EntryKind {
    /** The audit log's and the reports' word for entries of this kind. */
    String name();

    List<Entry> entries();

    /**
     * Deletes each eviction whose entry is still as planned (not pushed again, not used since the plan when
     * {@code guardUse}), in one transaction with an audit event per record deleted. Returns, per eviction in
     * order, the keys of the records that went (empty for an entry that changed and stays).
     */
    List<List<String>> delete(List<EntryHoldings.Eviction> evictions, ReadProtection protection, Instant now, boolean guardUse);
}
