package dev.cairn.retention;

import java.time.Instant;
import java.util.Optional;

/**
 * How the collector is doing: since when its runs fail (empty while they succeed), how many failed in a
 * row, the last error, and the last run that succeeded. A failing collector no longer keeps the budget,
 * so this is shown in {@code /api/v1/stats}, {@code /readyz} and the metrics.
 */
public record CollectorHealth(Optional<Instant> failingSince, long failuresInARow, Optional<String> lastError,
                              Optional<Instant> lastSuccess) {
    static CollectorHealth succeeded(Instant at) {
        return new CollectorHealth(Optional.empty(), 0, Optional.empty(), Optional.of(at));
    }

    CollectorHealth failed(Instant at, String error) {
        return new CollectorHealth(Optional.of(failingSince.orElse(at)), failuresInARow + 1, Optional.of(error), lastSuccess);
    }
}
