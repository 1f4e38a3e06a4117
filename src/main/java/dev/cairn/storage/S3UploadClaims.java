package dev.cairn.storage;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Which request, on any node, may write to an S3 upload session now, and the session rows the claims live
 * in. Two requests racing on one session (a balancer retrying a slow PATCH at another node) would otherwise
 * both upload "the next part" under the same number, and the later one would replace the bytes the other
 * recorded: S3 keeps the last part uploaded under a number, whatever the ledger says. So a request first
 * claims the session by writing its name and a deadline into the session's row in the {@link UploadLedger};
 * the ledger refuses a write based on a stale revision, so of two requests claiming at once one wins and
 * the other looks again. Every later write of the request names the revision its own last write produced.
 *
 * <p>A claim is a lease, not a lock: it lasts {@link #CLAIM} and is renewed with every part, so a node that
 * dies mid-request holds its session only that long, and nothing has to notice that it died. A request
 * finding the session claimed waits for it (then, typically, finds it moved on and gets 416). A request
 * that stalled past its claim, while another took the session over, finds its renewal or its final record
 * refused ({@link TakenOver}): what it wrote is dropped, never recorded.
 */
final class S3UploadClaims {
    private static final Logger log = LoggerFactory.getLogger(S3UploadClaims.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** How long a request's claim on an upload session lasts unless renewed (with every part it uploads). */
    static final Duration CLAIM = Duration.ofSeconds(20);

    private final UploadLedger ledger;
    private final Clock clock;
    private final AtomicInteger claimWaits = new AtomicInteger();

    /** This request's claim lapsed and another request took the session over. */
    static final class TakenOver extends IOException {
        TakenOver() {
            super("the upload session was taken over by another request", null);
        }
    }

    /** A session this request holds: its progress as claimed, and the revision that claim wrote. */
    record Claim(S3UploadProgress progress, long revision, String owner) {
    }

    S3UploadClaims(UploadLedger ledger, Clock clock) {
        this.ledger = ledger;
        this.clock = clock;
    }

    /** The session's progress (empty before its first chunk), or empty when there is no such session. */
    Optional<S3UploadProgress> progress(String id) throws IOException {
        Optional<UploadLedger.Entry> entry = ledger.readProgress(id);
        return entry.isEmpty() ? Optional.empty() : Optional.of(progressOf(entry.get()));
    }

    /** When the session was last written, or empty when there is no such session or it has recorded nothing yet. */
    Optional<Instant> lastWrite(String id) throws IOException {
        Optional<UploadLedger.Entry> entry = ledger.readProgress(id);
        if (entry.isEmpty() || entry.get().progress().isEmpty()) return Optional.empty();
        return Optional.of(Instant.ofEpochMilli(progressOf(entry.get()).writtenAt()));
    }

    private static S3UploadProgress progressOf(UploadLedger.Entry entry) throws IOException {
        if (entry.progress().isEmpty()) return S3UploadProgress.empty(Instant.EPOCH);
        return JSON.readValue(entry.progress(), S3UploadProgress.class);
    }

    /**
     * Makes this request the only one writing to the session, on any node; waits while another request
     * holds it, up to a little longer than a claim lasts.
     */
    Claim claim(String id) throws IOException {
        String owner = UUID.randomUUID().toString();
        long deadline = System.nanoTime() + CLAIM.plusSeconds(5).toNanos();
        boolean waiting = false;
        try {
            while (true) {
                UploadLedger.Entry entry = ledger.readProgress(id).orElseThrow(() -> new NoSuchFileException("upload " + id));
                S3UploadProgress progress = progressOf(entry);
                long now = clock.millis();
                if (progress.claimedBy() == null || progress.claimedUntil() <= now) {
                    S3UploadProgress claimed = progress.claimed(owner, now + CLAIM.toMillis());
                    if (ledger.writeProgress(id, entry.revision(), JSON.writeValueAsString(claimed))) {
                        return new Claim(claimed, entry.revision() + 1, owner);
                    }
                    continue; // another request changed it meanwhile: look again
                }
                if (System.nanoTime() > deadline) {
                    throw new BlobStoreUnavailableException("upload " + id + " stayed busy with another request", null);
                }
                if (!waiting) {
                    waiting = true;
                    claimWaits.incrementAndGet();
                    // A node that died mid-chunk holds its claim until it lapses: say what this request waits for.
                    log.info("upload {} is being written by another request (claim {} until {}); waiting up to {} s for it to finish or lapse",
                            id, progress.claimedBy(), Instant.ofEpochMilli(progress.claimedUntil()), CLAIM.plusSeconds(5).toSeconds());
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted waiting for upload " + id);
                }
            }
        } finally {
            if (waiting) claimWaits.decrementAndGet();
        }
    }

    /** Requests waiting now for another request's claim on an upload session to end (or lapse, if its node died). */
    int requestsWaiting() {
        return claimWaits.get();
    }

    /** Renews the claim once a quarter of it has passed: a slow client keeps its claim; a stalled one finds it gone. */
    Claim renewIfDue(String id, Claim claim) throws IOException {
        long left = claim.progress().claimedUntil() - clock.millis();
        return left < CLAIM.toMillis() * 3 / 4 ? renew(id, claim) : claim;
    }

    /** Renews the claim; throws {@link TakenOver} when it lapsed and another request wrote meanwhile. */
    Claim renew(String id, Claim claim) throws IOException {
        S3UploadProgress renewed = claim.progress().claimed(claim.owner(), clock.millis() + CLAIM.toMillis());
        if (!ledger.writeProgress(id, claim.revision(), JSON.writeValueAsString(renewed))) {
            throw new TakenOver();
        }
        return new Claim(renewed, claim.revision() + 1, claim.owner());
    }

    /**
     * Records what the request appended, which ends its claim ({@code after} names no owner); throws {@link
     * TakenOver} when the claim lapsed and another request wrote meanwhile, and then records nothing.
     */
    void record(String id, Claim claim, S3UploadProgress after) throws IOException {
        if (!ledger.writeProgress(id, claim.revision(), JSON.writeValueAsString(after))) {
            throw new TakenOver();
        }
    }

    /** Gives the session back as it was before this request, if this request still holds it. */
    void release(String id, Claim claim) {
        try {
            ledger.writeProgress(id, claim.revision(), JSON.writeValueAsString(claim.progress().claimed(null, 0)));
        } catch (IOException | RuntimeException e) {
            log.warn("could not release upload {} (its claim lapses in {} s): {}", id, CLAIM.toSeconds(), e.getMessage());
        }
    }
}
