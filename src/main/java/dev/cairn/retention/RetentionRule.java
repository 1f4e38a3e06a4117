package dev.cairn.retention;

import dev.cairn.values.Glob;
import java.time.Duration;
import java.util.Optional;

/**
 * What happens to the cache entries of the repositories a glob matches. {@code maxAge} counts from the
 * push (it forces non-deterministic steps such as {@code RUN apt-get update} to rebuild); {@code maxIdle}
 * from the last use; {@code neverEvict} keeps entries out of budget eviction and age limits; {@code maxBytes}
 * caps what the names this rule governs hold together (a namespace of build-tool results that must not crowd
 * out the layers), evicting their least recently used entries past it.
 */
public record RetentionRule(Glob repositories, Optional<Duration> maxAge, Optional<Duration> maxIdle, boolean neverEvict,
                            Optional<Long> maxBytes) {
    public static RetentionRule defaultRule() {
        return new RetentionRule(new Glob("**"), Optional.empty(), Optional.empty(), false, Optional.empty());
    }
}
