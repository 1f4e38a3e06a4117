package dev.cairn.testing;

import org.sqlite.SQLiteConfig;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * What a node's store holds, read behind the node's back on either {@link TestBackend}, for the checks
 * that used to walk the embedded layout: which blobs are stored, what upload sessions left behind, and
 * whether anything at all was written between two moments.
 *
 * <ul>
 *   <li>embedded: files under {@code <data>/blobs}, {@code <data>/tmp} and {@code <data>/uploads}, and
 *       {@code <data>/cairn.db} (opened read-only);</li>
 *   <li>s3-postgres ({@link RunningCairn#sharedStore()}): the objects and open multipart uploads under the
 *       node's key prefix ({@code <prefix>/blobs/<algorithm>/<first two hex>/<hex>}, {@code <prefix>/uploads/...})
 *       and the rows of its PostgreSQL database; and, since such a node must keep nothing of blobs or uploads
 *       on its own disk, whatever is in the same data-directory areas as on embedded.</li>
 * </ul>
 */
public final class StoreProbe {
    private final Path dataDir;
    private final Optional<SharedStore> shared;

    private StoreProbe(Path dataDir, Optional<SharedStore> shared) {
        this.dataDir = dataDir;
        this.shared = shared;
    }

    public static StoreProbe of(RunningCairn node) {
        return new StoreProbe(node.dataDir(), node.sharedStore());
    }

    /**
     * Every stored blob, {@code algorithm:hex} → size in bytes, found where the store lays a blob out
     * ({@code blobs/<algorithm>/<first two hex>/<hex>}). Anything else in the blob area, and on s3-postgres any
     * file under {@code <data>/blobs}, is listed under its path ({@code file PATH}, {@code s3 KEY}), so it
     * never passes for a digest. On embedded {@code <data>/blobs} must exist.
     */
    public Map<String, Long> blobs() throws IOException {
        Map<String, Long> blobs = new TreeMap<>();
        Path root = dataDir.resolve("blobs");
        if (shared.isEmpty() || Files.exists(root)) {
            try (Stream<Path> files = Files.walk(root)) {
                for (Path file : files.filter(Files::isRegularFile).toList()) {
                    Optional<String> digest = shared.isEmpty() ? digestAt(root.relativize(file).toString().replace('\\', '/')) : Optional.empty();
                    blobs.put(digest.orElse("file " + dataDir.relativize(file)), Files.size(file));
                }
            }
        }
        if (shared.isPresent()) {
            // objects outside the blob area are not blobs: uploadLeftovers lists them
            String area = areaPrefix("blobs");
            for (S3Object o : objects(shared.get(), area)) {
                blobs.put(digestAt(o.key().substring(area.length())).orElse("s3 " + o.key()), o.size());
            }
        }
        return blobs;
    }

    /** {@code algorithm:hex} if {@code path} (relative to the blob area) is {@code <algorithm>/<first two hex>/<hex>}. */
    private static Optional<String> digestAt(String path) {
        String[] parts = path.split("/", -1);
        int hexLength = parts[0].equals("sha256") ? 64 : parts[0].equals("sha512") ? 128 : -1;
        if (parts.length != 3 || hexLength < 0 || !parts[2].matches("[0-9a-f]{" + hexLength + "}")
                || parts[1].length() != 2 || !parts[2].startsWith(parts[1])) {
            return Optional.empty();
        }
        return Optional.of(parts[0] + ":" + parts[2]);
    }

    /**
     * Everything upload sessions left behind, one line each; empty when there is nothing:
     * <ul>
     *   <li>both backends: rows of the {@code uploads} table (sessions the database still records);</li>
     *   <li>embedded: every entry of {@code <data>/tmp} and {@code <data>/uploads}, which must exist;</li>
     *   <li>s3-postgres: every object under the key prefix outside {@code <prefix>/blobs/} (session tails and
     *       staging objects live under {@code <prefix>/uploads/}), every open multipart upload under the prefix
     *       (a session's, or a push's at a blob key), and any entry of {@code <data>/tmp} or {@code <data>/uploads}.</li>
     * </ul>
     * Each line names the session where the layout does (its id is in every file, key and row).
     */
    public List<String> uploadLeftovers() throws IOException, SQLException {
        List<String> leftovers = new ArrayList<>();
        for (String dir : List.of("tmp", "uploads")) {
            Path area = dataDir.resolve(dir);
            if (shared.isPresent() && !Files.exists(area)) continue;
            try (Stream<Path> entries = Files.list(area)) {
                entries.sorted().forEach(p -> leftovers.add("file " + dataDir.relativize(p)));
            }
        }
        if (shared.isPresent()) {
            SharedStore store = shared.get();
            String blobArea = areaPrefix("blobs");
            for (S3Object o : objects(store, store.keyPrefix() + "/")) {
                if (!o.key().startsWith(blobArea)) leftovers.add("s3 object " + o.key() + " (" + o.size() + " bytes)");
            }
            for (S3Server.OpenUpload u : store.s3().openUploads(store.keyPrefix() + "/")) {
                leftovers.add("s3 multipart upload " + u.key() + " " + u.uploadId() + " (" + store.s3().parts(u).size() + " parts)");
            }
        }
        try (Connection c = connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT id, repository, started_at FROM uploads ORDER BY id")) {
            while (r.next()) {
                leftovers.add("uploads row id=" + r.getString(1) + " repository=" + r.getString(2) + " started_at=" + r.getLong(3));
            }
        }
        return leftovers;
    }

    /** Starts watching for writes to the store; nothing is flushed first (batched last-use times stay batched). */
    public WriteWatch watchWrites() throws IOException, SQLException {
        return new WriteWatch();
    }

    /**
     * Whether anything was written to the store since the watch began. Both backends: a {@link StoreSnapshot}
     * (every blob and upload file or object, every row), compared. On top of that, what also catches a write
     * that leaves every value as it was:
     * <ul>
     *   <li>embedded: the sizes of {@code cairn.db} and {@code cairn.db-wal}, and SQLite's {@code PRAGMA
     *       data_version} on a connection held open for the watch, which changes when any other connection
     *       commits a change (even one that restarts the WAL at its old size);</li>
     *   <li>s3-postgres: every row's version, PostgreSQL's {@code xmin} (the id of the transaction that wrote
     *       it: an INSERT or UPDATE, even to the same values, makes a new one; a DELETE drops one), in this
     *       node's database only; and each object's last-modified time. Unlike {@code pg_stat_database}
     *       counters these are exact at once: {@code xact_commit} also counts read-only transactions (every
     *       SELECT of a read), and {@code tup_inserted/updated/deleted} reach the view only when the node's
     *       pooled backends report their statistics, up to seconds later, so a delta of 0 could mean "not yet".</li>
     * </ul>
     */
    public final class WriteWatch implements AutoCloseable {
        private final StoreSnapshot before;
        private final Map<String, String> markersBefore;
        private final Connection sqlite; // embedded: held open, so data_version compares commits by other connections
        private final long dataVersionBefore;

        private WriteWatch() throws IOException, SQLException {
            if (shared.isEmpty()) {
                sqlite = connect();
                dataVersionBefore = dataVersion();
            } else {
                sqlite = null;
                dataVersionBefore = 0;
            }
            markersBefore = markers();
            before = StoreSnapshot.of(dataDir, shared);
        }

        /** Every write seen since the watch began, one line each; empty when nothing was written. */
        public List<String> writes() throws IOException, SQLException {
            List<String> writes = new ArrayList<>(StoreSnapshot.of(dataDir, shared).changesSince(before));
            Map<String, String> now = markers();
            TreeSet<String> names = new TreeSet<>(now.keySet());
            names.addAll(markersBefore.keySet());
            for (String name : names) {
                if (!Objects.equals(now.get(name), markersBefore.get(name))) {
                    writes.add(name + ": " + markersBefore.get(name) + " -> " + now.get(name));
                }
            }
            if (sqlite != null) {
                long dataVersion = dataVersion();
                if (dataVersion != dataVersionBefore) {
                    writes.add("cairn.db data_version: " + dataVersionBefore + " -> " + dataVersion + " (another connection committed)");
                }
            }
            return writes;
        }

        private long dataVersion() throws SQLException {
            try (Statement s = sqlite.createStatement(); ResultSet r = s.executeQuery("PRAGMA data_version")) {
                r.next();
                return r.getLong(1);
            }
        }

        /** embedded: the database files' sizes; s3-postgres: each table's row versions and each object's last-modified time. */
        private Map<String, String> markers() throws IOException, SQLException {
            Map<String, String> markers = new TreeMap<>();
            if (shared.isEmpty()) {
                for (String file : List.of("cairn.db", "cairn.db-wal")) {
                    Path p = dataDir.resolve(file);
                    markers.put("size of " + file, String.valueOf(Files.exists(p) ? Files.size(p) : 0));
                }
                return markers;
            }
            SharedStore store = shared.get();
            for (S3Object o : objects(store, store.keyPrefix() + "/")) {
                markers.put("last-modified of s3 " + o.key(), String.valueOf(o.lastModified()));
            }
            try (Connection c = connect(); Statement s = c.createStatement()) {
                List<String> tables = new ArrayList<>();
                try (ResultSet r = s.executeQuery("SELECT table_name FROM information_schema.tables"
                        + " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")) {
                    while (r.next()) tables.add(r.getString(1));
                }
                for (String table : tables) {
                    List<String> versions = new ArrayList<>();
                    try (ResultSet r = s.executeQuery("SELECT xmin::text FROM \"" + table + "\"")) {
                        while (r.next()) versions.add(r.getString(1));
                    }
                    versions.sort(null);
                    markers.put("row versions (xmin) of " + table, versions.toString());
                }
            }
            return markers;
        }

        @Override
        public void close() throws SQLException {
            if (sqlite != null) sqlite.close();
        }
    }

    private String areaPrefix(String area) {
        return shared.orElseThrow().keyPrefix() + "/" + area + "/";
    }

    private static List<S3Object> objects(SharedStore store, String prefix) {
        return store.s3().client().listObjectsV2Paginator(b -> b.bucket(store.s3().bucket()).prefix(prefix)).contents().stream().toList();
    }

    /** The node's database: {@code <data>/cairn.db} read-only, or its PostgreSQL database as the role Cairn uses. */
    private Connection connect() throws SQLException {
        if (shared.isPresent()) return shared.get().postgres().connect(shared.get().jdbcUrl());
        SQLiteConfig config = new SQLiteConfig();
        config.setReadOnly(true);
        config.setBusyTimeout(30_000);
        return DriverManager.getConnection("jdbc:sqlite:" + dataDir.resolve("cairn.db").toAbsolutePath(), config.toProperties());
    }
}
