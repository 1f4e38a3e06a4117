package dev.cairn.registry;

import dev.cairn.values.Digest;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Serialises, per digest, the two moments when a blob's file and its record must agree: publishing a
 * blob and linking it, and deleting an unlinked blob's record and then its file. Without it a push
 * could find the file present (and skip writing it) just before the collector deletes it. Within a node
 * the locks are striped in memory; where nodes share the stores, the metadata store adds its own
 * cross-node locks (PostgreSQL advisory locks) inside them.
 */
public final class DigestLocks {
    /** The same locks among every node sharing the stores: taken after this node's own, in a fixed order. */
    public interface AcrossNodes {
        <T> T withDigestLocks(java.util.Collection<Digest> digests, Supplier<T> work);
    }

    private final ReentrantLock[] stripes;
    private final AcrossNodes acrossNodes;

    public DigestLocks(int stripes, AcrossNodes acrossNodes) {
        this.acrossNodes = acrossNodes;
        this.stripes = new ReentrantLock[stripes];
        for (int i = 0; i < stripes; i++) this.stripes[i] = new ReentrantLock();
    }

    public <T> T withLock(Digest digest, Supplier<T> work) {
        ReentrantLock lock = stripes[stripeOf(digest)];
        lock.lock();
        try {
            return acrossNodes.withDigestLocks(java.util.List.of(digest), work);
        } finally {
            lock.unlock();
        }
    }

    /** Holds the locks of all these digests, taken in stripe order so two callers cannot deadlock. */
    public <T> T withLocks(java.util.Collection<Digest> digests, Supplier<T> work) {
        int[] order = digests.stream().mapToInt(this::stripeOf).distinct().sorted().toArray();
        int taken = 0;
        try {
            for (int stripe : order) {
                stripes[stripe].lock();
                taken++;
            }
            return acrossNodes.withDigestLocks(digests, work);
        } finally {
            for (int i = taken - 1; i >= 0; i--) stripes[order[i]].unlock();
        }
    }

    private int stripeOf(Digest digest) {
        return Math.floorMod(digest.hex().hashCode(), stripes.length);
    }
}
