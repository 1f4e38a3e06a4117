package dev.cairn.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Review of scale-out: secrets now live in the config file, and a YAML syntax error echoes the file. */
class ConfigSecretsTest {
    @Test
    void aSyntaxErrorInTheConfigFileDoesNotPrintItsSecrets(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("cairn.yaml");
        Files.writeString(file, """
                metadata:
                  type: postgres
                  postgres:
                    url: jdbc:postgresql://db:5432/cairn
                    password: pg-password-do-not-print
                storage:
                  type: s3
                  s3:
                    bucket: b
                    access-key: AKIAEXAMPLE
                    secret-key: "s3-secret-do-not-print
                """);
        // `cairn config check` prints this message; `cairn serve` logs it.
        assertThatThrownBy(() -> ConfigLoader.load(Optional.of(file), Map.of(), Map.of()))
                .isInstanceOf(ConfigException.class)
                .satisfies(e -> org.assertj.core.api.Assertions.assertThat(e.getMessage())
                        .doesNotContain("pg-password-do-not-print").doesNotContain("s3-secret-do-not-print"));
    }
}
