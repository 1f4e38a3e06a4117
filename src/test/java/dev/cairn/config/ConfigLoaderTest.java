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
                """);
        RetentionSettings r = ConfigLoader.load(Optional.of(file), Map.of(), Map.of()).config().retention();
        assertThat(r.maxBytes()).hasValue(50L << 30);
        assertThat(r.highWatermark()).isEqualTo(0.9);
        assertThat(r.lowWatermark()).isEqualTo(0.85);
        assertThat(r.untaggedAfter()).isEmpty();
        assertThat(r.rules()).hasSize(2);
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
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_RETENTION_LOW_WATERMARK", "99%"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("low-watermark");
        assertThatThrownBy(() -> ConfigLoader.load(Optional.empty(), Map.of("CAIRN_RETENTION_UNTAGGED", "sometimes"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("retention.untagged");
    }
}
