package dev.cairn.testing;

import org.sqlite.SQLiteConfig;

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
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * What a node's data directory holds, read behind its back: blob files under {@code <data>/blobs} and the
 * rows of {@code <data>/cairn.db}, opened read-only (safe while the node runs: SQLite in WAL mode).
 */
public final class StoreInventory {
    private final Path dataDir;

    public StoreInventory(Path dataDir) {
        this.dataDir = dataDir;
    }

    /** A manifest row: repository, digest and the JSON content. */
    public record ManifestRow(String repository, String digest, byte[] content) {
    }

    /** A repository's link to a blob. */
    public record Link(String repository, String digest) {
    }

    public Path blobFile(String digest) {
        String[] parts = digest.split(":", 2);
        return dataDir.resolve("blobs").resolve(parts[0]).resolve(parts[1].substring(0, 2)).resolve(parts[1]);
    }

    /** Digests of every blob file on disk. */
    public Set<String> blobFiles() throws IOException {
        Set<String> digests = new TreeSet<>();
        Path root = dataDir.resolve("blobs");
        if (!Files.isDirectory(root)) return digests;
        try (Stream<Path> files = Files.walk(root)) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                digests.add(root.relativize(file).getName(0) + ":" + file.getFileName());
            }
        }
        return digests;
    }

    public Set<String> blobRecords() throws SQLException {
        return new TreeSet<>(strings("SELECT digest FROM blobs"));
    }

    public List<Link> links() throws SQLException {
        List<Link> links = new ArrayList<>();
        try (Connection c = connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT repository, digest FROM repository_blobs")) {
            while (r.next()) links.add(new Link(r.getString(1), r.getString(2)));
        }
        return links;
    }

    public List<ManifestRow> manifests() throws SQLException {
        List<ManifestRow> rows = new ArrayList<>();
        try (Connection c = connect(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT repository, digest, content FROM manifests")) {
            while (r.next()) rows.add(new ManifestRow(r.getString(1), r.getString(2), r.getBytes(3)));
        }
        return rows;
    }

    private List<String> strings(String sql) throws SQLException {
        List<String> values = new ArrayList<>();
        try (Connection c = connect(); Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
            while (r.next()) values.add(r.getString(1));
        }
        return values;
    }

    private Connection connect() throws SQLException {
        SQLiteConfig config = new SQLiteConfig();
        config.setReadOnly(true);
        config.setBusyTimeout(30_000);
        return DriverManager.getConnection("jdbc:sqlite:" + dataDir.resolve("cairn.db").toAbsolutePath(), config.toProperties());
    }
}
