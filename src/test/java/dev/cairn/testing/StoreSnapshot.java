package dev.cairn.testing;

import software.amazon.awssdk.services.s3.model.Part;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Everything a node has stored, byte for byte: every blob and upload file with its hash, and every row
 * of every metadata table. Two snapshots are equal exactly when nothing stored changed.
 *
 * <p>On the s3-postgres backend ({@link RunningCairn#sharedStore()}) the stored bytes are the objects
 * under the node's key prefix ({@code s3:KEY} → size and ETag), its open multipart uploads ({@code
 * s3-upload:KEY UPLOAD-ID} → each part's number, size and ETag) and any blob or upload files still in the
 * data directory; the rows are those of every table in the node's PostgreSQL database.
 */
public record StoreSnapshot(Map<String, String> files, Map<String, List<String>> tables) {

    /** What the node has stored, after writing its batched last-use times. */
    public static StoreSnapshot of(RunningCairn cairn) throws IOException, SQLException {
        cairn.node().lastUse().flush();
        return of(cairn.dataDir(), cairn.sharedStore());
    }

    /** What is stored in {@code dataDir} and, for the s3-postgres backend, in {@code shared}. */
    public static StoreSnapshot of(Path dataDir, Optional<SharedStore> shared) throws IOException, SQLException {
        Map<String, String> files = new TreeMap<>();
        for (String dir : List.of("blobs", "uploads")) {
            Path root = dataDir.resolve(dir);
            if (!Files.exists(root)) continue;
            try (Stream<Path> paths = Files.walk(root)) {
                for (Path p : paths.filter(Files::isRegularFile).sorted().toList()) {
                    files.put(dataDir.relativize(p).toString(), sha256(p));
                }
            }
        }
        if (shared.isPresent()) {
            SharedStore store = shared.get();
            for (S3Server.StoredObject o : store.s3().objects(store.keyPrefix())) {
                files.put("s3:" + o.key(), "size=" + o.size() + " etag=" + o.etag());
            }
            for (S3Server.OpenUpload upload : store.s3().openUploads(store.keyPrefix())) {
                StringBuilder parts = new StringBuilder();
                for (Part part : store.s3().parts(upload)) {
                    parts.append(part.partNumber()).append(':').append(part.size()).append(':').append(part.eTag()).append(' ');
                }
                files.put("s3-upload:" + upload.key() + " " + upload.uploadId(), parts.toString().trim());
            }
            try (Connection c = store.postgres().connect(store.jdbcUrl())) {
                return new StoreSnapshot(files, tables(c, "SELECT table_name FROM information_schema.tables"
                        + " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"));
            }
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dataDir.resolve("cairn.db"))) {
            return new StoreSnapshot(files, tables(c, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"));
        }
    }

    /** Every row of every table {@code listTables} names, each as {@code column=value ...}, sorted. */
    private static Map<String, List<String>> tables(Connection c, String listTables) throws SQLException {
        Map<String, List<String>> tables = new TreeMap<>();
        try (Statement s = c.createStatement()) {
            List<String> names = new ArrayList<>();
            try (ResultSet r = s.executeQuery(listTables)) {
                while (r.next()) names.add(r.getString(1));
            }
            for (String table : names) {
                List<String> rows = new ArrayList<>();
                try (ResultSet r = s.executeQuery("SELECT * FROM \"" + table + "\"")) {
                    ResultSetMetaData meta = r.getMetaData();
                    while (r.next()) {
                        StringBuilder row = new StringBuilder();
                        for (int i = 1; i <= meta.getColumnCount(); i++) {
                            Object value = r.getObject(i);
                            row.append(meta.getColumnName(i)).append('=')
                                    .append(value instanceof byte[] b ? HexFormat.of().formatHex(b) : value).append(' ');
                        }
                        rows.add(row.toString());
                    }
                }
                rows.sort(null);
                tables.put(table, rows);
            }
        }
        return tables;
    }

    /** What differs from {@code earlier}, one line per changed file or row; empty when nothing changed. */
    public List<String> changesSince(StoreSnapshot earlier) {
        List<String> changes = new ArrayList<>();
        java.util.Set<String> paths = new java.util.TreeSet<>(files.keySet());
        paths.addAll(earlier.files.keySet());
        for (String path : paths) {
            if (!java.util.Objects.equals(files.get(path), earlier.files.get(path))) {
                changes.add("file " + path + ": " + earlier.files.get(path) + " -> " + files.get(path));
            }
        }
        java.util.Set<String> names = new java.util.TreeSet<>(tables.keySet());
        names.addAll(earlier.tables.keySet());
        for (String table : names) {
            List<String> now = tables.getOrDefault(table, List.of());
            List<String> then = earlier.tables.getOrDefault(table, List.of());
            for (String row : then) if (!now.contains(row)) changes.add(table + " lost: " + row);
            for (String row : now) if (!then.contains(row)) changes.add(table + " gained: " + row);
        }
        return changes;
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) md.update(buffer, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
