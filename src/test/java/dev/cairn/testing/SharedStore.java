package dev.cairn.testing;

import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What scale-out nodes share: a key prefix in an S3 bucket for blob bytes and a PostgreSQL database for
 * records. Any number of {@link RunningCairn} nodes may run on one; {@link #drop()} removes both.
 *
 * @param keyPrefix unique in the bucket and of fixed width, so listing it never matches another store's
 *                  keys, whether Cairn puts a {@code /} after it or not
 */
public record SharedStore(S3Server s3, String keyPrefix, Postgres postgres, String jdbcUrl) {
    private static final AtomicInteger STORES = new AtomicInteger();

    /** A fresh prefix in the JVM's shared S3 server and a fresh database in its shared PostgreSQL. */
    public static SharedStore fresh() throws Exception {
        return fresh(S3Server.shared(), Postgres.shared());
    }

    /** A fresh prefix and database on the servers given (for outage tests with servers of their own). */
    public static SharedStore fresh(S3Server s3, Postgres postgres) throws SQLException {
        String prefix = "cairn-%d-%05d".formatted(ProcessHandle.current().pid(), STORES.incrementAndGet());
        return new SharedStore(s3, prefix, postgres, postgres.newDatabase());
    }

    /** Config keys for a node on this store: storage (type s3 and its connection) and metadata (type postgres and its connection). */
    public Map<String, String> cairnSettings() {
        Map<String, String> settings = new LinkedHashMap<>(s3.cairnSettings(keyPrefix));
        settings.putAll(postgres.cairnSettings(jdbcUrl));
        return settings;
    }

    /** Starts {@code count} nodes on this store, each with {@code settings} over the store's own; the caller closes them. */
    public java.util.List<RunningCairn> startNodes(int count, Map<String, String> settings) throws Exception {
        java.util.List<RunningCairn> nodes = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < count; i++) nodes.add(RunningCairn.startOn(this, settings));
        } catch (Exception | Error e) {
            for (RunningCairn node : nodes) node.close();
            throw e;
        }
        return nodes;
    }

    /** Removes every object and open multipart upload under the prefix, and the database. */
    public void drop() throws SQLException {
        if (s3.running()) s3.deleteAll(keyPrefix);
        if (postgres.running()) postgres.dropDatabase(jdbcUrl);
    }
}
