package dev.cairn.retention;

import dev.cairn.values.DeletionReason;
import dev.cairn.values.Glob;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Decides what goes, over entries of every kind alike, in order: first what the rules say has expired
 * (max-age since push, max-idle since last use, untagged past its delay), then, while stored bytes are above
 * the high watermark, the least recently used entries until the low watermark is reached. Names whose rule
 * says {@code evict: never} are left out of both.
 */
final class EvictionPlanner {
    private EvictionPlanner() {
    }

    /** Least recently used first; ties by push time, then by name and key, so that a plan is reproducible. */
    static List<Entry> leastRecentlyUsedFirst(List<Entry> entries) {
        List<Entry> ordered = new ArrayList<>(entries);
        ordered.sort(Comparator.comparing(Entry::lastUse).thenComparing(Entry::pushedAt).thenComparing(Entry::compareIds));
        return ordered;
    }

    static List<EntryHoldings.Eviction> plan(List<Entry> entries, Map<String, Long> blobSizes, RetentionPolicy policy, long storedBytes,
                                             Instant now) {
        EntryHoldings holdings = new EntryHoldings(entries, blobSizes);
        List<Entry> ordered = leastRecentlyUsedFirst(entries);
        List<EntryHoldings.Eviction> evictions = new ArrayList<>();
        // Plan against what live entries hold: blobs already unheld (waiting out the grace window) go with
        // the sweep, and evicting more entries would not bring them back sooner.
        long usage = storedBytes - holdings.unheldBlobBytes();
        for (Entry entry : ordered) {
            if (!entry.evictable()) continue;
            RetentionRule rule = policy.ruleFor(entry.name());
            if (rule.neverEvict()) continue;
            Optional<DeletionReason> reason = expiry(entry, rule, policy, now);
            if (reason.isPresent()) {
                EntryHoldings.Eviction eviction = holdings.evict(entry, reason.get());
                if (!eviction.released().isEmpty()) {
                    evictions.add(eviction);
                    usage -= eviction.freedBytes();
                }
            }
        }
        if (usage > policy.highBytes()) {
            for (Entry entry : ordered) {
                if (usage <= policy.lowBytes()) break;
                if (!entry.evictable() || policy.ruleFor(entry.name()).neverEvict()) continue;
                EntryHoldings.Eviction eviction = holdings.evict(entry, DeletionReason.BUDGET);
                if (!eviction.released().isEmpty()) {
                    evictions.add(eviction);
                    usage -= eviction.freedBytes();
                }
            }
        }
        return evictions;
    }

    private static Optional<DeletionReason> expiry(Entry entry, RetentionRule rule, RetentionPolicy policy, Instant now) {
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

    /** Entries matching an invalidation request, evicted in the model; dry runs stop here. */
    static List<EntryHoldings.Eviction> invalidation(List<Entry> entries, Map<String, Long> blobSizes, Glob names, Optional<Glob> tags,
                                                     Optional<Duration> olderThan, Instant now) {
        EntryHoldings holdings = new EntryHoldings(entries, blobSizes);
        List<EntryHoldings.Eviction> evictions = new ArrayList<>();
        for (Entry entry : leastRecentlyUsedFirst(entries)) {
            if (!entry.evictable() || !names.matches(entry.name())) continue;
            if (tags.isPresent() && entry.tags().stream().noneMatch(tags.get()::matches)) continue;
            if (olderThan.isPresent() && !entry.pushedAt().isBefore(now.minus(olderThan.get()))) continue;
            EntryHoldings.Eviction eviction = holdings.evict(entry, DeletionReason.INVALIDATED);
            if (!eviction.released().isEmpty()) evictions.add(eviction);
        }
        return evictions;
    }
}
