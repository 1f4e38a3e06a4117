package dev.cairn.retention;

import java.util.ArrayList;
import java.util.List;

/**
 * How long each phase of one collection took, for its log line: at fleet scale an admin (and the benchmark)
 * needs to see whether the time went to evicting, to the link pass or to deleting blobs.
 */
final class PhaseTimes {
    private final List<String> phases = new ArrayList<>();
    private long mark = System.nanoTime();

    /** Ends the phase running since the last call (or since this was made) under {@code name}. */
    void end(String name) {
        long now = System.nanoTime();
        phases.add(name + " " + (now - mark) / 1_000_000 + " ms");
        mark = now;
    }

    @Override
    public String toString() {
        return String.join(", ", phases);
    }
}
