package dev.cairn.testing;

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
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Everything a node has stored, byte for byte: every blob and upload file with its hash, and every row
 * of every metadata table. Two snapshots are equal exactly when nothing stored changed.
 */
public record StoreSnapshot(Map<String, String> files, Map<String, List<String>> tables) {

    public static StoreSnapshot of(RunningCairn cairn) throws IOException, SQLException {
        cairn.node().lastUse().flush();
        Map<String, String> files = new TreeMap<>();
        for (String dir : List.of("blobs", "uploads")) {
            Path root = cairn.dataDir().resolve(dir);
            if (!Files.exists(root)) continue;
            try (Stream<Path> paths = Files.walk(root)) {
                for (Path p : paths.filter(Files::isRegularFile).sorted().toList()) {
                    files.put(cairn.dataDir().relativize(p).toString(), sha256(p));
                }
            }
        }
        Map<String, List<String>> tables = new TreeMap<>();
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + cairn.dataDir().resolve("cairn.db"));
             Statement s = c.createStatement()) {
            List<String> names = new ArrayList<>();
            try (ResultSet r = s.executeQuery("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) {
                while (r.next()) names.add(r.getString(1));
            }
            for (String table : names) {
                List<String> rows = new ArrayList<>();
                try (ResultSet r = s.executeQuery("SELECT * FROM " + table)) {
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
        return new StoreSnapshot(files, tables);
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
