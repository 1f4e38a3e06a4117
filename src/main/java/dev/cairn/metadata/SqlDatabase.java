package dev.cairn.metadata;

import com.zaxxer.hikari.HikariDataSource;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One database and how Cairn talks to it: a connection pool, plain reads, and write transactions that are
 * serialised in-process for SQLite and SERIALIZABLE with retry for PostgreSQL. What is read and written
 * is the record classes' business.
 */
final class SqlDatabase implements AutoCloseable {
    /** PostgreSQL asks a serializable transaction to retry when it lost a race; so many tries before giving up. */
    static final int SERIALIZATION_RETRIES = 20;

    private final HikariDataSource dataSource;
    final Dialect dialect;
    /**
     * SQLite allows one writer at a time. Queuing writers here, rather than letting them spin on
     * SQLITE_BUSY, keeps writes fair and fast under many concurrent pushes. Null for PostgreSQL, where
     * write transactions are SERIALIZABLE instead, so check-then-act (a manifest's references exist, a
     * unit is still unreferenced) holds across nodes.
     */
    private final ReentrantLock writeLock;
    /** Hot-path reads answered from memory until the next write; only when this process is the sole writer. */
    final RememberedReads remembered;

    SqlDatabase(HikariDataSource dataSource, Dialect dialect, ReentrantLock writeLock, RememberedReads remembered) {
        this.dataSource = dataSource;
        this.dialect = dialect;
        this.writeLock = writeLock;
        this.remembered = remembered;
    }

    @FunctionalInterface
    interface Work<T> {
        T run(Connection connection) throws SQLException;
    }

    <T> T read(Work<T> work) {
        try (Connection c = dataSource.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            throw new MetadataException("metadata read failed: " + e.getMessage(), e);
        }
    }

    /** A write transaction; if it changed anything, every answer {@link #remembered} holds is forgotten. */
    <T> T write(Work<T> work) {
        return transaction(work, true, SERIALIZATION_RETRIES);
    }

    /**
     * As {@link #write(Work)}, giving up after {@code tries} lost races with a {@link WriteConflictException}: for a
     * batch that its caller splits rather than retries as a whole (a transaction that reads much keeps losing to
     * concurrent writers on PostgreSQL, whose predicate locks on a table turn into one lock on all of it).
     */
    <T> T write(Work<T> work, int tries) {
        return transaction(work, true, tries);
    }

    /**
     * A write transaction of records no remembered read looks at (upload sessions, the audit log), so the
     * answers remembered stay: a push updates its session at every chunk.
     */
    <T> T writeNotRemembered(Work<T> work) {
        return transaction(work, false, SERIALIZATION_RETRIES);
    }

    private <T> T transaction(Work<T> work, boolean seenByRememberedReads, int tries) {
        if (writeLock != null) writeLock.lock();
        boolean reported = seenByRememberedReads && remembered.enabled();
        // Under the write lock: with SQLite's writers queued there, memory is only off while one actually writes.
        if (reported) remembered.writeStarting();
        boolean changed = true;
        try {
            for (int attempt = 1; ; attempt++) {
                try (Connection c = dataSource.getConnection()) {
                    if (dialect == Dialect.POSTGRES) c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
                    c.setAutoCommit(false);
                    long changesBefore = reported ? totalChanges(c) : 0;
                    try {
                        T result = work.run(c);
                        c.commit();
                        if (reported) changed = totalChanges(c) != changesBefore;
                        return result;
                    } catch (SQLException | RuntimeException e) {
                        c.rollback();
                        throw e;
                    } finally {
                        c.setAutoCommit(true);
                        if (dialect == Dialect.POSTGRES) c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
                    }
                } catch (SQLException e) {
                    // 40001: serialization failure, 40P01: deadlock; both mean "run it again".
                    boolean retry = dialect == Dialect.POSTGRES && ("40001".equals(e.getSQLState()) || "40P01".equals(e.getSQLState()));
                    if (!retry) throw new MetadataException("metadata write failed: " + e.getMessage(), e);
                    if (attempt >= tries) {
                        throw new WriteConflictException("metadata write lost " + attempt + " races in a row: " + e.getMessage(), e);
                    }
                    try {
                        Thread.sleep(java.util.concurrent.ThreadLocalRandom.current().nextLong(1, 5L * attempt));
                    } catch (InterruptedException interrupted) {
                        Thread.currentThread().interrupt();
                        throw new MetadataException("interrupted while retrying a write", interrupted);
                    }
                }
            }
        } finally {
            if (reported) remembered.writeEnded(changed);
            if (writeLock != null) writeLock.unlock();
        }
    }

    /** Rows SQLite's connection has inserted, updated or deleted since it opened (a native call, no query). */
    private static long totalChanges(Connection c) throws SQLException {
        return c.unwrap(org.sqlite.SQLiteConnection.class).getDatabase().total_changes();
    }

    @Override
    public void close() {
        dataSource.close();
    }
}
