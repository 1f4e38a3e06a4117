package dev.cairn.metadata;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Makes one process the only Cairn on a SQLite file. Two would each take themselves for the only writer:
 * each queues its writers on a lock of its own, runs its own collector, and answers reads from memory
 * that the other's writes have made wrong. The lock is on a file beside the database ({@code cairn.db.lock}),
 * never on the database itself: SQLite's own POSIX locks on that file are released when any descriptor of
 * it in the process closes, so a second lock there would break them. The operating system drops it when the
 * process dies, so a crash never leaves the data directory locked.
 */
final class SqliteOwnerLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private SqliteOwnerLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    static SqliteOwnerLock acquire(Path database) {
        Path lockFile = database.resolveSibling(database.getFileName() + ".lock");
        FileChannel channel = null;
        try {
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = channel.tryLock();
            if (lock == null) throw inUse(database);
            return new SqliteOwnerLock(channel, lock);
        } catch (OverlappingFileLockException e) {
            closeQuietly(channel);
            throw inUse(database);
        } catch (IOException e) {
            closeQuietly(channel);
            throw new MetadataException("cannot lock " + lockFile + ": " + e.getMessage(), e);
        } catch (MetadataException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static MetadataException inUse(Path database) {
        return new MetadataException("another Cairn process is using " + database + " (it holds " + database.getFileName()
                + ".lock): one SQLite file serves one process; several nodes share a PostgreSQL database instead", null);
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel == null) return;
        try {
            channel.close();
        } catch (IOException ignored) {
            // the lock, if any, goes with the channel
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException ignored) {
            // closing the channel releases it too
        }
        closeQuietly(channel);
    }
}
