package dev.cairn.retention;

import dev.cairn.values.Glob;
import dev.cairn.metadata.CacheSnapshot;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Decides what goes, in order: first what the rules say has expired (max-age since push, max-idle since
 * last use, untagged past its delay), then, while stored bytes are above the high watermark, the least
 * recently used units until the low watermark is reached. Repositories whose rule says {@code evict: never}
 * are left out of both.
 */
final class EvictionPlanner {
    static final String BUDGET = "budget";
    static final String MAX_AGE = "max-age";
    static final String MAX_IDLE = "max-idle";
    static final String UNTAGGED = "untagged";
    static final String INVALIDATED = "invalidated";

    private EvictionPlanner() {
    }

    static List<CacheGraph.Eviction> plan(CacheSnapshot snapshot, RetentionPolicy policy, long storedBytes, Instant now) {
        CacheGraph graph = new CacheGraph(snapshot);
        List<CacheGraph.Eviction> evictions = new ArrayList<>();
        // Plan against what live manifests hold: blobs already unreferenced (waiting out the grace window)
        // go with the sweep, and evicting more entries would not bring them back sooner.
        long usage = storedBytes - graph.unreferencedBlobBytes();
        for (CacheGraph.Unit unit : graph.units()) {
            RetentionRule rule = policy.ruleFor(unit.repository());
            if (rule.neverEvict()) continue;
            Optional<String> reason = expiry(unit, rule, policy, now);
            if (reason.isPresent()) {
                CacheGraph.Eviction eviction = graph.evict(unit, reason.get());
                if (!eviction.deleted().isEmpty()) {
                    evictions.add(eviction);
                    usage -= eviction.freedBytes();
                }
            }
        }
        if (usage > policy.highBytes()) {
            for (CacheGraph.Unit unit : graph.units()) {
                if (usage <= policy.lowBytes()) break;
                if (policy.ruleFor(unit.repository()).neverEvict()) continue;
                CacheGraph.Eviction eviction = graph.evict(unit, BUDGET);
                if (!eviction.deleted().isEmpty()) {
                    evictions.add(eviction);
                    usage -= eviction.freedBytes();
                }
            }
        }
        return evictions;
    }

    private static Optional<String> expiry(CacheGraph.Unit unit, RetentionRule rule, RetentionPolicy policy, Instant now) {
        if (rule.maxAge().isPresent() && unit.root().pushedAt().isBefore(now.minus(rule.maxAge().get()))) {
            return Optional.of(MAX_AGE);
        }
        if (rule.maxIdle().isPresent() && unit.lastUse().isBefore(now.minus(rule.maxIdle().get()))) {
            return Optional.of(MAX_IDLE);
        }
        if (!unit.tagged() && policy.untaggedAfter().isPresent() && unit.root().pushedAt().isBefore(now.minus(policy.untaggedAfter().get()))) {
            return Optional.of(UNTAGGED);
        }
        return Optional.empty();
    }

    /** Units matching an invalidation request, evicted in the model; dry runs stop here. */
    static List<CacheGraph.Eviction> invalidation(CacheSnapshot snapshot, Glob repositories, Optional<Glob> tags,
                                                  Optional<java.time.Duration> olderThan, Instant now) {
        CacheGraph graph = new CacheGraph(snapshot);
        List<CacheGraph.Eviction> evictions = new ArrayList<>();
        for (CacheGraph.Unit unit : graph.units()) {
            if (!repositories.matches(unit.repository())) continue;
            if (tags.isPresent() && unit.tags().stream().noneMatch(tags.get()::matches)) continue;
            if (olderThan.isPresent() && !unit.root().pushedAt().isBefore(now.minus(olderThan.get()))) continue;
            CacheGraph.Eviction eviction = graph.evict(unit, INVALIDATED);
            if (!eviction.deleted().isEmpty()) evictions.add(eviction);
        }
        return evictions;
    }
}
