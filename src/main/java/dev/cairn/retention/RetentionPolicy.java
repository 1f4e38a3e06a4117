package dev.cairn.retention;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The budget and rules in force. Eviction starts when stored bytes pass {@code highWatermark} of the
 * budget and stops under {@code lowWatermark}. With {@code hardLimit}, a push that would exceed the
 * budget when nothing more can be evicted is refused.
 */
public record RetentionPolicy(
        long maxBytes,
        double highWatermark,
        double lowWatermark,
        boolean hardLimit,
        Duration grace,
        Duration gcInterval,
        Optional<Duration> untaggedAfter,
        List<RetentionRule> rules) {

    public RetentionPolicy {
        rules = List.copyOf(rules);
        if (!(lowWatermark > 0 && lowWatermark <= highWatermark && highWatermark <= 1)) {
            throw new IllegalArgumentException("watermarks must satisfy 0 < low <= high <= 100%");
        }
    }

    /** The first rule whose glob matches the repository, or a rule with no limits. */
    public RetentionRule ruleFor(String repository) {
        for (RetentionRule rule : rules) {
            if (rule.repositories().matches(repository)) return rule;
        }
        return RetentionRule.defaultRule();
    }

    public long highBytes() {
        return (long) (maxBytes * highWatermark);
    }

    public long lowBytes() {
        return (long) (maxBytes * lowWatermark);
    }
}
