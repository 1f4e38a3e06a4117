package dev.cairn.testing;

import java.util.Locale;

/**
 * Where {@link RunningCairn#start} puts a node's blobs and records, chosen for the whole test JVM by the
 * system property {@code cairn.test.backend}: {@code embedded} (the default: files and SQLite under the
 * data directory) or {@code s3-postgres} (a {@link SharedStore} of its own in S3Proxy and PostgreSQL), so
 * the same spec tests run against either.
 */
public enum TestBackend {
    EMBEDDED, S3_POSTGRES;

    public static final String PROPERTY = "cairn.test.backend";

    public static TestBackend current() {
        String value = System.getProperty(PROPERTY, "embedded").trim();
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "", "embedded" -> EMBEDDED;
            case "s3-postgres" -> S3_POSTGRES;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + ": expected embedded or s3-postgres");
        };
    }
}
