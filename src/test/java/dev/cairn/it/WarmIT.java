package dev.cairn.it;

import dev.cairn.testing.BaseImage;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code cairn warm}: a new runner, its storage empty, pulls what builds used lately from Cairn before it takes
 * jobs. Runner A builds with buildah and --cache-to (each step an image in Cairn); {@code cairn warm --engine
 * buildah} fills runner B's containers-storage with them; B then builds the same Dockerfile with a cache
 * repository that holds nothing, so every step it reports cached came from the warmed storage (without the
 * warm it runs every step, as checked). {@code --engine podman --top 2} fills another storage with two images.
 */
class WarmIT {
    private static final Duration LIMIT = Duration.ofMinutes(3);

    @Test
    void aWarmedRunnerTakesEveryStepFromItsOwnStorage() throws Exception {
        try (RunningCairn cairn = RunningCairn.start()) {
            String registry = cairn.hostPort();
            String base = BaseImage.pushTo(registry, "base/busybox", "latest");
            Map<String, String> context = Map.of("Dockerfile", """
                    FROM %s
                    RUN echo cairn-ran-1 && echo one > /one
                    RUN echo cairn-ran-2 && echo two > /two
                    """.formatted(base));
            try (CiRunner a = CiRunner.fresh(CiRunner.Client.BUILDAH, "A")) {
                CiRunner.Build built = a.build(a.checkout(context), registry + "/cache/app");
                assertThat(built.stepsAfterFrom()).noneMatch(CiRunner.Step::usedCache);
            }
            try (CiRunner b = CiRunner.fresh(CiRunner.Client.BUILDAH, "B")) {
                Path storageConf = b.home().resolve("storage.conf");
                Files.writeString(storageConf, "[storage]\ndriver = \"overlay\"\ngraphroot = \"%s\"\nrunroot = \"%s\"\n"
                        .formatted(b.home().resolve("root"), b.home().resolve("run")));
                Map<String, String> env = Map.of("CONTAINERS_STORAGE_CONF", storageConf.toString(), "TMPDIR", b.home().resolve("tmp").toString());

                Processes.Result dry = cairn(env, "warm", "--server", "http://" + registry, "--engine", "buildah", "--dry-run", "cache/**", "base/**");
                assertThat(dry.output()).contains("base/busybox:latest").contains("dry run: nothing pulled");
                assertThat(b.run(Map.of(), null, "images", "--quiet").output().strip()).as("a dry run pulls nothing").isEmpty();

                Processes.Result warmed = cairn(env, "warm", "--server", "http://" + registry, "--engine", "buildah", "cache/**", "base/**");
                assertThat(warmed.exitCode()).as(warmed.output()).isZero();
                assertThat(warmed.output()).contains("pulled " + registry + "/base/busybox:latest");
                assertThat(b.run(Map.of(), null, "images").output()).contains(registry + "/cache/app");

                CiRunner.Build second = b.build(b.checkout(context), registry + "/cache/empty");
                assertThat(second.stepsAfterFrom()).as(second.output()).allMatch(CiRunner.Step::usedCache);
                assertThat(second.printedLine("cairn-ran-1")).isFalse();
            }
            // podman, into a storage of its own: the two images used most lately, and only those
            try (CiRunner c = CiRunner.fresh(CiRunner.Client.PODMAN, "C")) {
                Path storageConf = c.home().resolve("storage.conf");
                Files.writeString(storageConf, "[storage]\ndriver = \"overlay\"\ngraphroot = \"%s\"\nrunroot = \"%s\"\n"
                        .formatted(c.home().resolve("root"), c.home().resolve("run")));
                cairn.node().lastUse().flush();
                Processes.Result warmed = cairn(Map.of("CONTAINERS_STORAGE_CONF", storageConf.toString(), "TMPDIR", c.home().resolve("tmp").toString()),
                        "warm", "--server", "http://" + registry, "--engine", "podman", "--top", "2");
                assertThat(warmed.exitCode()).as(warmed.output()).isZero();
                assertThat(warmed.output()).contains("2 images");
                List<String> pulled = warmed.output().lines().filter(l -> l.startsWith("pulled ")).map(l -> l.substring("pulled ".length())).toList();
                assertThat(pulled).hasSize(2);
                String images = c.run(Map.of(), null, "images", "--format", "{{.Repository}}:{{.Tag}}").output();
                for (String reference : pulled) assertThat(images).contains(reference);
                assertThat(images.lines().filter(l -> l.contains(registry)).count()).isEqualTo(2);
            }
        }
    }

    /** The cairn command line in a process of its own, with {@code env}: the engines it runs inherit it. */
    static Processes.Result cairn(Map<String, String> env, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.cairn.cli.CairnCommand"));
        command.addAll(List.of(args));
        return Processes.run(command, env, null, LIMIT);
    }
}
