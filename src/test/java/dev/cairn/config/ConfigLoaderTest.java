package dev.cairn.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigLoaderTest {
    @Test
    void mirrorsMapPrefixesToUpstreamsAndRefuseWhatWouldBeAmbiguous(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("cairn.yaml"), """
                mirrors:
                  - prefix: hub
                    upstream: https://registry-1.docker.io
                    ttl: 10m
                    max-stale: 7d
                    credentials: {user: me, password-env: HUB_TOKEN}
                  - prefix: ghcr
                    upstream: https://ghcr.io
                  - prefix: ""
                    upstream: https://mirror.gcr.io
                """);
        CairnConfig config = ConfigLoader.load(Optional.of(file), Map.of(), Map.of()).config();
        assertThat(config.mirrors()).hasSize(3);
        MirrorRule fallback = config.mirrors().get(2);
        assertThat(fallback.isDefault()).isTrue();
        assertThat(fallback.upstreamName(dev.cairn.values.RepositoryName.of("library/node")).map(Object::toString))
                .as("the default mirror asks for the name the client sent").hasValue("library/node");
        MirrorRule hub = config.mirrors().getFirst();
        assertThat(hub.upstream().url().toString()).isEqualTo("https://registry-1.docker.io");
        assertThat(hub.upstream().user()).hasValue("me");
        assertThat(hub.upstream().passwordEnv()).hasValue("HUB_TOKEN");
        assertThat(hub.maxStale()).isEqualTo(Duration.ofDays(7));
        assertThat(hub.upstreamName(dev.cairn.values.RepositoryName.of("hub/library/node")).map(Object::toString)).hasValue("library/node");
        assertThat(hub.upstreamName(dev.cairn.values.RepositoryName.of("hubble/x"))).as("a prefix is whole path segments").isEmpty();
        assertThat(hub.upstreamName(dev.cairn.values.RepositoryName.of("hub"))).isEmpty();
        assertThat(config.mirrors().get(1).ttl()).as("the default TTL").isEqualTo(Duration.ofMinutes(10));

        assertThat(ConfigLoader.load(Optional.empty(), Map.of("CAIRN_MIRRORS", "[{prefix: '', upstream: 'http://a', repositories: ['library/**']}]"),
                Map.of()).config().mirrors().getFirst().upstreamName(dev.cairn.values.RepositoryName.of("team/app"))).as("outside its names").isEmpty();
        for (String bad : new String[]{"[{upstream: 'http://a'}]", "[{prefix: hub, upstream: 'http://a', repositories: ['x/**']}]",
                "[{prefix: '', upstream: 'http://a', repositories: []}]", "[{prefix: '', upstream: 'http://a'}, {prefix: '', upstream: 'http://b'}]", "[{prefix: hub, upstream: 'http://user:pw@a'}]",
                "[{prefix: hub, upstream: 'http://a'}, {prefix: hub, upstream: 'http://b'}]",
                "[{prefix: hub, upstream: 'http://a'}, {prefix: hub/x, upstream: 'http://b'}]", "[{prefix: Hub, upstream: 'http://a'}]",
                "[{prefix: hub, upstream: 'http://a', ttl: forever}]", "[{prefix: hub, upstream: 'http://a', proxy: x}]"}) {
            assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_MIRRORS", bad), Map.of()))
                    .as(bad).isInstanceOf(ConfigException.class).hasMessageContaining("mirrors");
        }
    }

    @Test
    void replicationRulesFromTheFileAndTheEnvironment(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path file = java.nio.file.Files.writeString(dir.resolve("cairn.yaml"), """
                replicate:
                  - from: https://cairn-eu.example:5000
                    repositories: ["team/**", "base/*:stable"]
                    every: 10m
                    credentials: {user: replicator, password-env: CAIRN_EU_PASSWORD}
                  - from: http://10.0.0.2:5000
                    repositories: cache/**
                """);
        CairnConfig config = ConfigLoader.load(Optional.of(file), Map.of(), Map.of()).config();
        assertThat(config.replication()).hasSize(2);
        ReplicationRule eu = config.replication().get(0);
        assertThat(eu.from().toString()).isEqualTo("https://cairn-eu.example:5000");
        assertThat(eu.repositories()).containsExactly("team/**", "base/*:stable");
        assertThat(eu.every()).isEqualTo(Duration.ofMinutes(10));
        assertThat(eu.user()).hasValue("replicator");
        assertThat(eu.passwordEnv()).hasValue("CAIRN_EU_PASSWORD");
        assertThat(config.replication().get(1).every()).as("the default interval").isEqualTo(Duration.ofMinutes(10));
        assertThat(config.replication().get(1).repositories()).containsExactly("cache/**");
        assertThat(ConfigLoader.load(Optional.empty(), Map.of(), Map.of()).config().replication()).isEmpty();

        assertThat(ConfigLoader.load(Optional.empty(), Map.of("CAIRN_REPLICATE", "[{from: 'http://a:5000', repositories: ['x/**'], every: 30s}]"),
                Map.of()).config().replication().getFirst().every()).isEqualTo(Duration.ofSeconds(30));
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_REPLICATE", "[{from: 'ftp://a', repositories: ['x']}]"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("replicate[0].from");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_REPLICATE", "[{from: 'http://a'}]"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("replicate[0].repositories");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_REPLICATE", "[{from: 'http://a', repositories: x, every: 0s}]"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("replicate[0].every");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_REPLICATE", "[{from: 'http://a', repositories: x, password: p}]"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("unknown key 'password'");
    }

    @Test
    void defaultsAreSafeAndDocumented() {
        CairnConfig config = ConfigLoader.load(Optional.empty(), Map.of(), Map.of()).config();
        assertThat(config.listenHost()).isEmpty();
        assertThat(config.listenPort()).isEqualTo(5000);
        assertThat(config.dataDir()).isEqualTo(Path.of("./cairn-data"));
        assertThat(config.maxManifestBytes()).isEqualTo(16L << 20);
        assertThat(config.accessLog()).isTrue();
    }

    @Test
    void flagsBeatTheEnvironmentWhichBeatsTheFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("cairn.yaml");
        Files.writeString(file, """
                listen: 127.0.0.1:6000
                data-dir: /from/file
                registry:
                  max-manifest-bytes: 8MiB
                  last-use-flush-interval: 2m
                log:
                  format: json
                """);
        ConfigLoader.Loaded loaded = ConfigLoader.load(Optional.of(file),
                Map.of("CAIRN_REGISTRY_MAX_MANIFEST_BYTES", "32MiB", "CAIRN_DATA_DIR", "/from/env", "UNRELATED", "x"),
                Map.of("data-dir", "/from/flag"));
        CairnConfig config = loaded.config();
        assertThat(config.listenPort()).isEqualTo(6000);
        assertThat(config.maxManifestBytes()).isEqualTo(32L << 20);
        assertThat(config.dataDir()).isEqualTo(Path.of("/from/flag"));
        assertThat(config.lastUseFlushInterval()).isEqualTo(Duration.ofMinutes(2));
        assertThat(config.logFormat()).isEqualTo(CairnConfig.LogFormat.JSON);
        assertThat(loaded.sources().sourceOf("registry.max-manifest-bytes")).isEqualTo("env CAIRN_REGISTRY_MAX_MANIFEST_BYTES");
        assertThat(loaded.sources().sourceOf("data-dir")).isEqualTo("flag");
        assertThat(loaded.sources().sourceOf("log.format")).startsWith("file ");
        assertThat(config.describe(loaded.sources())).contains("registry.max-manifest-bytes = 32MiB  (env CAIRN_REGISTRY_MAX_MANIFEST_BYTES)");
    }

    @Test
    void mistakesAreNamedByKey(@TempDir Path dir) throws Exception {
        Path typo = dir.resolve("typo.yaml");
        Files.writeString(typo, "registry:\n  max-manifest-byte: 1MiB\n");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.of(typo), Map.of(), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("registry.max-manifest-byte");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_REGISTRY_MAX_MANIFEST_BYTES", "lots"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("registry.max-manifest-bytes");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of(), Map.of("listen", "5000")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("listen");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_STORAGE_TYPE", "tape"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("storage.type");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_LOG_ACCESS", "maybe"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("log.access");
    }

    @Test
    void sizesAndDurations() {
        assertThat(Quantities.parseSize("512MiB")).isEqualTo(512L << 20);
        assertThat(Quantities.parseSize("20GiB")).isEqualTo(20L << 30);
        assertThat(Quantities.parseSize("1GB")).isEqualTo(1_000_000_000L);
        assertThat(Quantities.parseSize("4096")).isEqualTo(4096);
        assertThat(Quantities.parseDuration("90s")).isEqualTo(Duration.ofSeconds(90));
        assertThat(Quantities.parseDuration("2h")).isEqualTo(Duration.ofHours(2));
        assertThat(Quantities.parseDuration("7d")).isEqualTo(Duration.ofDays(7));
        assertThat(Quantities.formatSize(16L << 20)).isEqualTo("16MiB");
        assertThat(Quantities.formatDuration(Duration.ofDays(7))).isEqualTo("7d");
        assertThatThrownBy(() -> Quantities.parseSize("12 parsecs")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Quantities.parseDuration("soon")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void retentionKeysIncludingRulesFromTheFileOrTheEnvironment(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("cairn.yaml");
        Files.writeString(file, """
                retention:
                  max-bytes: 50GiB
                  high-watermark: 90%
                  untagged: keep
                  rules:
                    - repositories: "cache/**"
                      max-age: 7d
                      max-idle: 2d
                    - repositories: "releases/**"
                      evict: never
                    - repositories: "gradle"
                      max-bytes: 5GiB
                """);
        RetentionSettings r = ConfigLoader.load(Optional.of(file), Map.of(), Map.of()).config().retention();
        assertThat(r.maxBytes()).hasValue(50L << 30);
        assertThat(r.highWatermark()).isEqualTo(0.9);
        assertThat(r.lowWatermark()).isEqualTo(0.85);
        assertThat(r.untaggedAfter()).isEmpty();
        assertThat(r.rules()).hasSize(3);
        assertThat(r.rules().get(2).maxBytes()).hasValue(5L << 30);
        assertThat(r.rules().get(0).maxBytes()).isEmpty();
        assertThat(r.rules().get(0).maxAge()).hasValue(Duration.ofDays(7));
        assertThat(r.rules().get(0).maxIdle()).hasValue(Duration.ofDays(2));
        assertThat(r.rules().get(1).neverEvict()).isTrue();

        RetentionSettings fromEnv = ConfigLoader.load(Optional.empty(),
                Map.of("CAIRN_RETENTION_RULES", "[{\"repositories\": \"tmp/*\", \"max-idle\": \"1h\"}]"), Map.of()).config().retention();
        assertThat(fromEnv.rules().getFirst().repositories().matches("tmp/x")).isTrue();
        assertThat(fromEnv.maxBytes()).isEmpty();
        assertThat(fromEnv.untaggedAfter()).hasValue(Duration.ofHours(1));

        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_RETENTION_RULES", "[{\"repository\": \"x\"}]"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("retention.rules[0]");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_RETENTION_RULES",
                "[{\"repositories\": \"x\", \"max-bytes\": \"lots\"}]"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("retention.rules[0].max-bytes");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_RETENTION_RULES",
                "[{\"repositories\": \"x\", \"max-bytes\": \"1GiB\", \"evict\": \"never\"}]"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("never evicts");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_RETENTION_LOW_WATERMARK", "99%"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("low-watermark");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_RETENTION_UNTAGGED", "sometimes"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("retention.untagged");
    }

    @Test
    void theThreeSupportedStorageCombinationsAreNamedAndOthersRefused(@TempDir Path dir) throws Exception {
        CairnConfig embedded = ConfigLoader.load(Optional.empty(), Map.of(), Map.of()).config();
        assertThat(embedded.mode()).startsWith("embedded (file + sqlite)");

        Map<String, String> s3 = Map.of("storage.type", "s3", "storage.s3.bucket", "ci-cache", "storage.s3.prefix", "cairn",
                "storage.s3.endpoint", "http://127.0.0.1:9000", "storage.s3.path-style", "true");
        CairnConfig single = ConfigLoader.load(Optional.empty(), Map.of(), s3).config();
        assertThat(single.mode()).startsWith("single node, durable blobs (s3 + sqlite)").contains("s3://ci-cache/cairn");
        assertThat(single.storage().s3().orElseThrow().partSize()).isEqualTo(8L << 20);

        Map<String, String> scaleOut = new java.util.HashMap<>(s3);
        scaleOut.putAll(Map.of("metadata.type", "postgres", "metadata.postgres.url", "jdbc:postgresql://db:5432/cairn?password=hunter2",
                "metadata.postgres.user", "cairn", "metadata.postgres.password", "s3cret-pg", "storage.s3.access-key", "AKIAEXAMPLE",
                "storage.s3.secret-key", "very-secret-key", "storage.redirect", "true"));
        ConfigLoader.Loaded loaded = ConfigLoader.load(Optional.empty(), Map.of(), scaleOut);
        assertThat(loaded.config().mode()).startsWith("scale-out (s3 + postgres)");
        assertThat(loaded.config().storage().redirect()).isTrue();
        // Credentials never appear in what is printed at start or by `cairn config check`.
        String printed = String.join("\n", loaded.config().describe(loaded.sources())) + loaded.config().mode()
                + loaded.config().storage();
        assertThat(printed).doesNotContain("s3cret-pg").doesNotContain("very-secret-key").doesNotContain("AKIAEXAMPLE")
                .doesNotContain("hunter2").contains("metadata.postgres.password = (set)");

        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of(),
                Map.of("metadata.type", "postgres", "metadata.postgres.url", "jdbc:postgresql://db/cairn")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("file with metadata.type postgres is not supported")
                .hasMessageContaining("s3 + postgres");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of(), Map.of("storage.type", "s3")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("storage.s3.bucket");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of(), Map.of("storage.redirect", "true")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("storage.redirect needs storage.type s3");
        Map<String, String> tinyParts = new java.util.HashMap<>(s3);
        tinyParts.put("storage.s3.part-size", "1MiB");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of(), tinyParts))
                .isInstanceOf(ConfigException.class).hasMessageContaining("storage.s3.part-size");
        Map<String, String> halfCredentials = new java.util.HashMap<>(s3);
        halfCredentials.put("storage.s3.access-key", "AKIAEXAMPLE");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of(), halfCredentials))
                .isInstanceOf(ConfigException.class).hasMessageContaining("go together");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of(), Map.of("storage.type", "gcs")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("[file, s3]");
        Path yaml = dir.resolve("scale-out.yaml");
        Files.writeString(yaml, """
                storage:
                  type: s3
                  s3:
                    bucket: from-yaml
                metadata:
                  type: postgres
                  postgres:
                    url: jdbc:postgresql://db:5432/cairn
                """);
        CairnConfig fromYaml = ConfigLoader.load(Optional.of(yaml), Map.of("CAIRN_METADATA_POSTGRES_POOL_SIZE", "4"), Map.of()).config();
        assertThat(fromYaml.storage().s3().orElseThrow().bucket()).isEqualTo("from-yaml");
        assertThat(fromYaml.storage().postgres().orElseThrow().poolSize()).isEqualTo(4);
    }
}
