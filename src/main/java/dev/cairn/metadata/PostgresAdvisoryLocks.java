package dev.cairn.metadata;

import com.zaxxer.hikari.HikariDataSource;
import dev.cairn.values.Digest;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Collection;
import java.util.Optional;

/**
 * {@link ClusterLocks} for nodes sharing one PostgreSQL database: session-level advisory locks, held on
 * connections of a pool of their own, so a lock holder waiting for an ordinary connection can never
 * starve the pool it holds one of. A node that dies loses its sessions, and its locks with them.
 */
final class PostgresAdvisoryLocks implements ClusterLocks, AutoCloseable {
    /** Advisory lock keys: the collector's, the audit copier's and the migration's (one bigint each), and the class of digest locks (two ints). */
    private static final long MIGRATION_LOCK = 4242001;
    private static final long COLLECTOR_LOCK = 4242002;
    private static final long AUDIT_LOCK = 4242003;
    private static final int DIGEST_LOCK_CLASS = 4242;
    /** The class of duty leases (two ints: this and the duty name's hash). */
    private static final int DUTY_LOCK_CLASS = 4243;

    private final HikariDataSource lockConnections;
    private final java.util.concurrent.atomic.AtomicInteger collectorLockWaits = new java.util.concurrent.atomic.AtomicInteger();
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(PostgresAdvisoryLocks.class);

    PostgresAdvisoryLocks(HikariDataSource lockConnections) {
        this.lockConnections = lockConnections;
    }

    @Override
    public <T> T withDigestLocks(Collection<Digest> digests, java.util.function.Supplier<T> work) {
        int[] keys = digests.stream().mapToInt(d -> (int) Long.parseLong(d.hex().substring(0, 8), 16)).distinct().sorted().toArray();
        try (Connection c = lockConnections.getConnection()) {
            // Taken in key order by every node, so two batches cannot deadlock; released with the connection's
            // session (or at once if the node dies: PostgreSQL drops a dead session's locks).
            try {
                // Inside the try: a statement that fails half-way (PostgreSQL's lock table full) keeps the locks it took
                // until the connection's session lets them go, and the unlock below does that.
                try (PreparedStatement s = c.prepareStatement(
                        "SELECT count(pg_advisory_lock(?, k)) FROM (SELECT k FROM unnest(?::int[]) AS k ORDER BY k) AS ordered")) {
                    s.setInt(1, DIGEST_LOCK_CLASS);
                    s.setArray(2, c.createArrayOf("int4", java.util.Arrays.stream(keys).boxed().toArray()));
                    s.executeQuery().close();
                }
                return work.get();
            } finally {
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT pg_advisory_unlock_all()");
                } catch (SQLException e) {
                    lockConnections.evictConnection(c); // never hand out a connection that may still hold locks
                    throw e;
                }
            }
        } catch (SQLException e) {
            throw new MetadataException("cross-node digest lock failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void whileCopyingAudit(Runnable work) {
        try (Connection c = lockConnections.getConnection()) {
            try (Statement s = c.createStatement()) {
                s.execute("SELECT pg_advisory_lock(" + AUDIT_LOCK + ")");
            }
            try {
                work.run();
            } finally {
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT pg_advisory_unlock(" + AUDIT_LOCK + ")");
                }
            }
        } catch (SQLException e) {
            throw new MetadataException("audit lock failed: " + e.getMessage(), e);
        }
    }

    @Override
    public Optional<AutoCloseable> collectorLock(java.time.Duration wait) {
        Connection c;
        try {
            c = lockConnections.getConnection();
        } catch (SQLException e) {
            throw new MetadataException("collector lock failed: " + e.getMessage(), e);
        }
        boolean waiting = false;
        try {
            long deadline = System.nanoTime() + wait.toNanos();
            while (true) {
                try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT pg_try_advisory_lock(" + COLLECTOR_LOCK + ")")) {
                    r.next();
                    if (r.getBoolean(1)) {
                        return Optional.of(() -> {
                            try (c; Statement unlock = c.createStatement()) {
                                unlock.execute("SELECT pg_advisory_unlock(" + COLLECTOR_LOCK + ")");
                            }
                        });
                    }
                }
                if (System.nanoTime() >= deadline) {
                    c.close();
                    return Optional.empty();
                }
                if (!waiting) {
                    waiting = true;
                    collectorLockWaits.incrementAndGet();
                    log.info("waiting up to {} s for the collector lock, held by {}", wait.toSeconds(), holder(c));
                }
                Thread.sleep(200);
            }
        } catch (SQLException | InterruptedException e) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // the failure below says what matters
            }
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new MetadataException("collector lock failed: " + e.getMessage(), e);
        } finally {
            if (waiting) collectorLockWaits.decrementAndGet();
        }
    }

    /** Which session holds the collector lock, as the database knows it (a node's pool name and address). */
    private static String holder(Connection c) {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT a.pid, a.application_name, a.client_addr "
                + "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                + "AND l.objid = " + (COLLECTOR_LOCK & 0xffffffffL) + " AND l.classid = " + (COLLECTOR_LOCK >>> 32))) {
            return r.next() ? "database session " + r.getInt(1) + " (" + r.getString(2) + " at " + r.getString(3) + ")" : "another node";
        } catch (SQLException e) {
            return "another node";
        }
    }

    @Override
    public Optional<Lease> tryLease(String duty) {
        int key = duty.hashCode();
        Connection c;
        try {
            c = lockConnections.getConnection();
        } catch (SQLException e) {
            throw new MetadataException("lease on " + duty + " failed: " + e.getMessage(), e);
        }
        try (PreparedStatement s = c.prepareStatement("SELECT pg_try_advisory_lock(?, ?)")) {
            s.setInt(1, DUTY_LOCK_CLASS);
            s.setInt(2, key);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                if (!r.getBoolean(1)) {
                    c.close();
                    return Optional.empty();
                }
            }
        } catch (SQLException e) {
            lockConnections.evictConnection(c);
            throw new MetadataException("lease on " + duty + " failed: " + e.getMessage(), e);
        }
        return Optional.of(new DutyLease(c, key));
    }

    /** A duty lease: the advisory lock lives with {@code session}'s connection, held out of the pool until closed. */
    private final class DutyLease implements Lease {
        private final Connection session;
        private final int key;
        private boolean closed;

        DutyLease(Connection session, int key) {
            this.session = session;
            this.key = key;
        }

        @Override
        public synchronized boolean held() {
            if (closed) return false;
            // the lock is the session's: asking the database whether this session still holds it also finds a session
            // that was cut (a database restart, a network split the server noticed), which then has lost it
            try (PreparedStatement s = session.prepareStatement("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                    + "AND granted AND pid = pg_backend_pid() AND classid = ? AND objid = ? AND objsubid = 2)")) {
                s.setQueryTimeout(10);
                s.setInt(1, DUTY_LOCK_CLASS);
                s.setInt(2, key);
                try (ResultSet r = s.executeQuery()) {
                    if (r.next() && r.getBoolean(1)) return true;
                }
            } catch (SQLException e) {
                log.warn("a duty lease's database session failed: {}", e.getMessage());
            }
            close();
            return false;
        }

        @Override
        public synchronized void close() {
            if (closed) return;
            closed = true;
            try (PreparedStatement s = session.prepareStatement("SELECT pg_advisory_unlock(?, ?)")) {
                s.setInt(1, DUTY_LOCK_CLASS);
                s.setInt(2, key);
                s.execute();
                session.close();
            } catch (SQLException e) {
                lockConnections.evictConnection(session); // never hand out a connection that may still hold the lease
            }
        }
    }

    @Override
    public int collectionsWaitingForLock() {
        return collectorLockWaits.get();
    }

    @Override
    public boolean isShared() {
        return true;
    }

    /**
     * Runs a schema migration while no other node does. The lock is taken on a connection of its own before
     * the migration's transaction begins: a SERIALIZABLE transaction that waited for it inside would still
     * see the database as it was before the wait.
     */
    void whileMigrating(Runnable migration) {
        try (Connection lock = lockConnections.getConnection(); Statement s = lock.createStatement()) {
            s.execute("SELECT pg_advisory_lock(" + MIGRATION_LOCK + ")");
            try {
                migration.run();
            } finally {
                s.execute("SELECT pg_advisory_unlock(" + MIGRATION_LOCK + ")");
            }
        } catch (SQLException e) {
            throw new MetadataException("schema migration lock failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        lockConnections.close();
    }
}
