package dev.cairn.metadata;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Statements prepared once per transaction and reused (the collector runs the same few statements for
 * thousands of rows; preparing each anew was a good part of its time). Closing closes them all. The static
 * methods run one statement once on a connection.
 */
final class Statements implements AutoCloseable {
    private final Connection connection;
    private final Map<String, PreparedStatement> prepared = new HashMap<>();

    Statements(Connection connection) {
        this.connection = connection;
    }

    PreparedStatement prepare(String sql) throws SQLException {
        PreparedStatement s = prepared.get(sql);
        if (s == null) {
            s = connection.prepareStatement(sql);
            prepared.put(sql, s);
        }
        return s;
    }

    int update(String sql, Object... args) throws SQLException {
        PreparedStatement s = prepare(sql);
        bind(s, args);
        return s.executeUpdate();
    }

    boolean exists(String sql, Object... args) throws SQLException {
        PreparedStatement s = prepare(sql);
        bind(s, args);
        try (ResultSet r = s.executeQuery()) {
            return r.next();
        }
    }

    List<String> strings(String sql, Object... args) throws SQLException {
        PreparedStatement s = prepare(sql);
        bind(s, args);
        return firstColumn(s);
    }

    @Override
    public void close() throws SQLException {
        SQLException first = null;
        for (PreparedStatement s : prepared.values()) {
            try {
                s.close();
            } catch (SQLException e) {
                if (first == null) first = e;
            }
        }
        prepared.clear();
        if (first != null) throw first;
    }

    static int update(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            bind(s, args);
            return s.executeUpdate();
        }
    }

    static boolean exists(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            bind(s, args);
            try (ResultSet r = s.executeQuery()) {
                return r.next();
            }
        }
    }

    static List<String> strings(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            bind(s, args);
            return firstColumn(s);
        }
    }

    /** {@code n} JDBC placeholders for an IN list: "?, ?, ?". */
    static String placeholders(int n) {
        return String.join(", ", java.util.Collections.nCopies(n, "?"));
    }

    static void bind(PreparedStatement s, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            s.setObject(i + 1, args[i]);
        }
    }

    private static List<String> firstColumn(PreparedStatement s) throws SQLException {
        List<String> values = new ArrayList<>();
        try (ResultSet r = s.executeQuery()) {
            while (r.next()) values.add(r.getString(1));
        }
        return values;
    }
}
