package dev.cairn.metadata;

import dev.cairn.values.Digest;

import java.time.Duration;
import java.util.Collection;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * What nodes sharing one database must agree on beyond single transactions: who collects, who copies audit
 * events, and who may publish or delete a blob at a given moment. Where one node owns the stores (SQLite),
 * that node's own locks suffice and these hold nothing ({@link #singleNode()}).
 */
public interface ClusterLocks {

    /**
     * Runs {@code work} holding these digests' locks across every node that shares the stores, so that no
     * node publishes a blob while another deletes it. Callers take their node's own locks first.
     */
    <T> T withDigestLocks(Collection<Digest> digests, Supplier<T> work);

    /** Runs {@code work} while no other node copies audit events, so each event reaches exactly one audit log once. */
    void whileCopyingAudit(Runnable work);

    /**
     * The collector's lock: at most one node collects at a time. Empty when another node holds it and does
     * not let go within {@code wait}. Closing the lease releases it; a node that dies releases it with its
     * database session, so a surviving node takes over at its next attempt.
     */
    Optional<AutoCloseable> collectorLock(Duration wait);

    /** Collections on this node waiting now for another node's collector lock (a node that died: until its session goes). */
    default int collectionsWaitingForLock() {
        return 0;
    }

    /**
     * A lease on a duty at most one node should perform at a time, such as a replication schedule: held until
     * closed, or until this node's database session ends (the node died or lost the database), when another
     * node's next attempt takes it over. Empty when another node holds it now.
     */
    Optional<Lease> tryLease(String duty);

    /** A duty's lease ({@link #tryLease}). */
    interface Lease extends AutoCloseable {
        /** True while this node still holds it: false once the session that held it is gone. */
        boolean held();

        @Override
        void close();
    }

    /** True when other nodes may share the stores (so reads on them are invisible to this node until written). */
    boolean isShared();

    /** The locks of a node that owns its stores alone: every lock is its own, held already. */
    static ClusterLocks singleNode() {
        return SingleNodeLocks.INSTANCE;
    }
}
