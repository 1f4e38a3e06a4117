package dev.cairn.config;

import java.net.URI;
import java.util.Optional;

/**
 * Where blobs live and where records live, and how to reach them. {@code s3} is present when
 * {@code storage.type} is s3, {@code postgres} when {@code metadata.type} is postgres. Credentials are
 * kept here to be handed to the clients; {@link #toString()} and the config listing never show them.
 */
public record StorageSettings(CairnConfig.StorageType storageType, CairnConfig.MetadataType metadataType,
                              Optional<S3> s3, Optional<Postgres> postgres, boolean redirect) {

    /** {@code storage.s3.*}: the bucket, a key prefix, and how to reach it. */
    public record S3(String bucket, String prefix, String region, Optional<URI> endpoint, boolean pathStyle,
                     Optional<String> accessKey, Optional<String> secretKey, long partSize, int maxConnections) {
        @Override
        public String toString() {
            return "s3://" + bucket + "/" + prefix + endpoint.map(e -> " at " + e).orElse("");
        }
    }

    /** {@code metadata.postgres.*}: the database and the pool's size. */
    public record Postgres(String url, String user, Optional<String> password, int poolSize) {
        @Override
        public String toString() {
            return redactedUrl();
        }

        /** The JDBC URL without any password it carries in its query. */
        public String redactedUrl() {
            return url.replaceAll("(?i)(password=)[^&]*", "$1***");
        }
    }

    /** The supported combinations, in words; anything else is refused when the config is loaded. */
    public String mode(java.nio.file.Path dataDir) {
        return switch (storageType) {
            case FILE -> "embedded (file + sqlite): blobs on local disk under " + dataDir.resolve("blobs")
                    + ", metadata in " + dataDir.resolve("cairn.db") + "; one node";
            case S3 -> metadataType == CairnConfig.MetadataType.SQLITE
                    ? "single node, durable blobs (s3 + sqlite): blobs in " + s3.orElseThrow() + ", metadata in " + dataDir.resolve("cairn.db")
                    + "; one node only (the SQLite file is this node's)"
                    : "scale-out (s3 + postgres): blobs in " + s3.orElseThrow() + ", metadata in PostgreSQL at "
                    + postgres.orElseThrow().redactedUrl() + "; any number of identical nodes may share them";
        };
    }
}
