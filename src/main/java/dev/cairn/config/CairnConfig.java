package dev.cairn.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** The effective configuration of one Cairn node, validated. */
public record CairnConfig(
        String listenHost,
        int listenPort,
        Path dataDir,
        StorageSettings storage,
        long maxManifestBytes,
        Duration lastUseFlushInterval,
        Duration uploadExpiry,
        int maxUploadSessionsPerClient,
        /** The largest content one key of the keyed cache may hold (build-tool results); larger writes get 413. */
        long maxEntryBytes,
        RetentionSettings retention,
        AuthSettings auth,
        TlsSettings tls,
        LogFormat logFormat,
        boolean accessLog,
        Duration shutdownTimeout,
        /** Proxies whose X-Forwarded-For / Forwarded headers name the client (for the login throttle); none by default. */
        List<AddressRange> trustedProxies,
        /** Other registries this node copies from on a schedule (replicate:); none by default. */
        List<ReplicationRule> replication,
        /** Upstream registries whose repositories this node mirrors under a prefix (mirrors:); none by default. */
        List<MirrorRule> mirrors) {

    public enum StorageType { FILE, S3 }

    public enum MetadataType { SQLITE, POSTGRES }

    public enum LogFormat { TEXT, JSON }

    /** One line per key, {@code key = value (source)}, for printing at start and by {@code cairn config check}. */
    public List<String> describe(ConfigSources sources) {
        return ConfigLoader.KEYS.stream()
                .map(key -> key.name() + " = " + key.show(this) + "  (" + sources.sourceOf(key.name()) + ")")
                .toList();
    }

    /** What the storage and metadata choice amounts to, in words. */
    public String mode() {
        return storage.mode(dataDir);
    }
}
