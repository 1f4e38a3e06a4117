package dev.cairn.metadata;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * What a read is promised, on every node: whatever it was served, and whatever that references (an
 * index's child manifests, a manifest's blobs), stays for {@code grace} after the read, whichever node's
 * collector runs meanwhile.
 *
 * <p>Reads are recorded in batches, so the records may lag a read by up to {@code batchedLag}: a read is
 * batched only while the use the records hold is at most that old, and otherwise writes its use at once
 * (a confirmation). So the last read of anything happened no later than its recorded use plus the lag,
 * and an eviction that finds a recent enough use keeps what it evicts, retired, until that read's grace
 * window has passed.
 */
public record ReadProtection(Duration grace, Duration batchedLag) {
    /** No protection: what is evicted goes at once (explicit invalidation, whose point is that nobody gets it again). */
    public static final ReadProtection NONE = new ReadProtection(Duration.ZERO, Duration.ZERO);

    public ReadProtection {
        if (grace.isNegative() || batchedLag.isNegative()) throw new IllegalArgumentException("negative window");
    }

    /** True when a read of something last recorded as used at {@code recordedUse} must write its use before it answers. */
    public boolean mustConfirm(Instant recordedUse, Instant now) {
        return recordedUse.isBefore(now.minus(batchedLag));
    }

    /**
     * Until when something evicted at {@code now}, last recorded as used at {@code recordedUse}, must stay
     * readable: the grace window of the latest read it may have had, which the records lag by at most
     * {@code batchedLag}. Empty when that window has passed, and it may go at once.
     */
    public Optional<Instant> keepEvictedUntil(Instant recordedUse, Instant now) {
        if (grace.isZero()) return Optional.empty();
        Instant until = recordedUse.plus(batchedLag).plus(grace);
        return until.isAfter(now) ? Optional.of(until) : Optional.empty();
    }
}
