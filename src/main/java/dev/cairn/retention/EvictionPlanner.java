package dev.cairn.retention;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metadata.RetentionRecords.Evicted;
import dev.cairn.values.DeletionReason;
import dev.cairn.values.Glob;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Decides what goes, over entries of every kind alike, in order: first what the rules say has expired
 * (max-age since push, max-idle since last use, untagged past its delay), then what takes the names a rule
 * governs past its max-bytes, then, while stored bytes are above the high watermark, the least recently used
 * entries until the low watermark is reached. Names whose rule
 * says {@code evict: never} are left out of both.
 *
 * <p>It plans as it goes, from {@link EntryWalk}s over the records, a batch at a time, and learns what each
 * batch freed from its deletion (which stops as soon as enough is freed), never holding more than a page and
 * a batch: memory follows what it deletes, not the size of the store. The expiry walks read only entries old
 * enough to have expired under some rule; the budget walk stops at the low watermark.
 */
final class EvictionPlanner {
    /**
     * Entries deleted per transaction. Every transaction costs an fsync of SQLite's log, which on a busy disk
     * takes tens of milliseconds; 250 entries hold the write lock for well under a tenth of a second.
     */
    static final int BATCH = 250;

    /** An entry planned for eviction, and why. */
    record Planned(Entry entry, DeletionReason reason) {
    }

    /** How planned evictions are carried out: deleted for real, or counted by a dry run. */
    interface Evictions {
        /**
         * Evicts the batch in order until {@code bytesToFree} are freed; returns what each eviction made did, for
         * the evictions made (a prefix of the batch).
         */
        List<Evicted> evict(List<Planned> batch, long bytesToFree);
    }

    private final RetentionRecords records;
    private final RetentionPolicy policy;
    private final Evictions evictions;
    private final Instant now;
    private final Tally<CollectionReport.EvictedUnit> evicted = new Tally<>();
    private final List<Planned> batch = new ArrayList<>(BATCH);
    private long freedBytes;

    EvictionPlanner(RetentionRecords records, RetentionPolicy policy, Evictions evictions, Instant now) {
        this.records = records;
        this.policy = policy;
        this.evictions = evictions;
        this.now = now;
    }

    Tally<CollectionReport.EvictedUnit> evicted() {
        return evicted;
    }

    /** Bytes the evictions so far freed (their records and the blobs that lost their last holder). */
    long freedBytes() {
        return freedBytes;
    }

    /** Evicts every entry a rule says has expired. */
    void expire() {
        Optional<Duration> shortestIdle = policy.rules().stream().flatMap(r -> r.maxIdle().stream()).min(Duration::compareTo);
        if (shortestIdle.isPresent()) expireFrom(EntryWalk.leastRecentlyUsed(records, now.minus(shortestIdle.get())));
        List<Duration> ages = new ArrayList<>();
        policy.rules().forEach(r -> r.maxAge().ifPresent(ages::add));
        policy.untaggedAfter().ifPresent(ages::add);
        Optional<Duration> shortestAge = ages.stream().min(Duration::compareTo);
        if (shortestAge.isPresent()) expireFrom(EntryWalk.pushedBefore(records, now.minus(shortestAge.get())));
    }

    private void expireFrom(EntryWalk walk) {
        for (Entry entry = walk.next(); entry != null; entry = walk.next()) {
            RetentionRule rule = policy.ruleFor(entry.name());
            if (rule.neverEvict()) continue;
            Optional<DeletionReason> reason = expiry(entry, rule);
            if (reason.isEmpty()) continue;
            batch.add(new Planned(entry, reason.get()));
            if (batch.size() == BATCH) evictBatch(Long.MAX_VALUE);
        }
        evictBatch(Long.MAX_VALUE);
    }

    /**
     * While {@code usage} (bytes live entries hold) is above the high watermark, evicts the least recently used
     * entries until it is at the low one. Returns the usage left.
     */
    long evictToBudget(long usage) {
        if (usage <= policy.highBytes()) return usage;
        // Only what was last used before the collection began: what is pushed or read while it runs is not its to evict.
        EntryWalk walk = EntryWalk.leastRecentlyUsed(records, now);
        while (usage > policy.lowBytes()) {
            for (Entry entry = walk.next(); entry != null; entry = batch.size() < BATCH ? walk.next() : null) {
                if (!policy.ruleFor(entry.name()).neverEvict()) batch.add(new Planned(entry, DeletionReason.BUDGET));
            }
            if (batch.isEmpty()) break; // nothing left to evict
            usage -= evictBatch(usage - policy.lowBytes());
        }
        return usage;
    }

    /**
     * For each rule with a max-bytes, while what the names it governs hold together is over it, evicts their
     * least recently used entries. Reads only the names and the records of those names (and the LRU order up to
     * what it evicts), so a cap on one namespace costs what that namespace holds.
     */
    void evictToCaps() {
        for (RetentionRule rule : policy.rules()) {
            if (rule.maxBytes().isEmpty()) continue;
            List<String> names = namesGovernedBy(rule);
            long cap = rule.maxBytes().get();
            long usage = bytesUnder(names);
            if (usage <= cap) continue;
            java.util.Set<String> governed = new java.util.HashSet<>(names);
            EntryWalk walk = EntryWalk.leastRecentlyUsed(records, now);
            while (usage > cap) {
                for (Entry entry = walk.next(); entry != null; entry = batch.size() < BATCH ? walk.next() : null) {
                    if (governed.contains(entry.name())) batch.add(new Planned(entry, DeletionReason.CAP));
                }
                if (batch.isEmpty()) break;
                // Evictions stop once they freed the excess. What one takes off the names' share can be more than it
                // frees (a blob another name holds too stays), never less: read the share again after the batch (a dry
                // run deleted nothing: take off what it would have freed).
                long freed = evictBatch(usage - cap);
                usage = Math.min(bytesUnder(names), usage - freed);
            }
        }
    }

    private List<String> namesGovernedBy(RetentionRule rule) {
        List<String> governed = new ArrayList<>();
        String after = "";
        for (List<String> page = records.entryNames(after, 1000); !page.isEmpty(); page = records.entryNames(after, 1000)) {
            for (String name : page) {
                if (policy.ruleFor(name) == rule) governed.add(name);
            }
            after = page.getLast();
        }
        return governed;
    }

    private long bytesUnder(List<String> names) {
        long total = 0;
        for (String name : names) total += records.bytesUnder(name);
        return total;
    }

    /** Evicts every entry an invalidation matches: by name, by tag when given, pushed before a time when given. */
    void invalidate(Glob names, Optional<Glob> tags, Optional<Duration> olderThan) {
        // Names are matched before a unit is formed: an invalidation of one repository reads no other's units.
        EntryWalk walk = EntryWalk.pushedBefore(records, olderThan.map(now::minus).orElse(now), names::matches);
        for (Entry entry = walk.next(); entry != null; entry = walk.next()) {
            if (tags.isPresent() && entry.tags().stream().noneMatch(tags.get()::matches)) continue;
            batch.add(new Planned(entry, DeletionReason.INVALIDATED));
            if (batch.size() == BATCH) evictBatch(Long.MAX_VALUE);
        }
        evictBatch(Long.MAX_VALUE);
    }

    /** Evicts the batch until {@code bytesToFree} are freed; returns the bytes freed. */
    private long evictBatch(long bytesToFree) {
        if (batch.isEmpty()) return 0;
        List<Evicted> results = evictions.evict(List.copyOf(batch), bytesToFree);
        long freed = 0;
        for (int i = 0; i < results.size(); i++) {
            Evicted result = results.get(i);
            if (result.records().isEmpty()) continue; // changed since it was read: it stays
            Planned planned = batch.get(i);
            evicted.add(CollectionReport.EvictedUnit.of(planned.entry(), planned.reason(), result));
            freed += result.freedBytes();
        }
        batch.clear();
        freedBytes += freed;
        return freed;
    }

    private Optional<DeletionReason> expiry(Entry entry, RetentionRule rule) {
        if (rule.maxAge().isPresent() && entry.pushedAt().isBefore(now.minus(rule.maxAge().get()))) {
            return Optional.of(DeletionReason.MAX_AGE);
        }
        if (rule.maxIdle().isPresent() && entry.lastUse().isBefore(now.minus(rule.maxIdle().get()))) {
            return Optional.of(DeletionReason.MAX_IDLE);
        }
        if (entry.expiresUntagged() && policy.untaggedAfter().isPresent() && entry.pushedAt().isBefore(now.minus(policy.untaggedAfter().get()))) {
            return Optional.of(DeletionReason.UNTAGGED);
        }
        return Optional.empty();
    }
}
