package dev.cairn.it;

import dev.cairn.testing.BaseImage;
import dev.cairn.testing.CairnCli;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Docker's inline cache through Cairn, across two runners: one dockerd builds with
 * {@code BUILDKIT_INLINE_CACHE=1} and pushes; a second, empty dockerd builds the same Dockerfile with
 * {@code --cache-from} and must take every step from the cache instead of running it; and the same with the
 * cache carried as a {@code docker save} tar through {@code cairn import}.
 */
class DockerInlineCacheIT {
    private static final Duration BUILD = Duration.ofSeconds(90);
    private static final Duration PUSH = Duration.ofSeconds(60);
    private static final Duration SHORT = Duration.ofSeconds(30);

    /** A BuildKit vertex header for a Dockerfile step: {@code #5 [2/5] RUN echo ...}. */
    private static final Pattern STEP = Pattern.compile("(?m)^#(\\d+) \\[(\\d+)/(\\d+)] (\\S+) .*$");

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void secondDaemonTakesEveryStepFromTheInlineCacheThroughCairn() throws Exception {
        // Short paths under /tmp: dockerd and its containerd put unix sockets under exec-root (108-byte limit).
        Path work = Files.createTempDirectory(Path.of("/tmp"), "cairn-dk-");
        try (RunningCairn cairn = RunningCairn.start()) {
            String registry = cairn.hostPort();
            String base = BaseImage.pushTo(registry, "base/busybox", "latest");
            String marker = "cairn-marker-" + UUID.randomUUID();
            Path context = writeBuildContext(work.resolve("ctx"), base, marker);
            String image = registry + "/app/inline:main";
            Path clientConfig = Files.createDirectories(work.resolve("client"));

            Build first;
            List<String> firstLayers;
            try (DockerDaemon d1 = DockerDaemon.start(work.resolve("d1"), registry, clientConfig)) {
                first = build(d1, context, "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", image);
                System.out.printf("daemon 1 build (no cache): %d ms%n", first.elapsed().toMillis());
                assertThat(first.steps()).as("steps of the first build:\n%s", first.output()).hasSize(5);
                assertThat(first.cachedSteps()).as("a fresh daemon has nothing cached:\n%s", first.output()).isEmpty();
                assertThat(executedMarkers(first.output(), marker)).as("the first build runs every RUN step")
                        .containsExactlyInAnyOrder(marker + "-1", marker + "-2", marker + "-3");

                Processes.Result push = d1.docker(PUSH, "push", image);
                assertThat(push.output()).as("push output").contains("main: digest: sha256:");
                firstLayers = d1.rootFsLayers(image);
            }

            try (DockerDaemon d2 = DockerDaemon.start(work.resolve("d2"), registry, clientConfig)) {
                assertThat(d2.docker(SHORT, "images", "-q").output().strip()).as("the second daemon starts empty").isEmpty();
                Build second = build(d2, context, "--cache-from", image, "-t", "app/inline:copy");
                System.out.printf("daemon 2 build (--cache-from %s): %d ms%n", image, second.elapsed().toMillis());
                System.out.printf("build wall times: daemon 1 %d ms, daemon 2 %d ms%n",
                        first.elapsed().toMillis(), second.elapsed().toMillis());

                assertThat(second.output()).as("the cache manifest comes from Cairn:\n%s", second.output())
                        .contains("importing cache manifest from " + image);
                List<String> mustBeCached = second.steps().values().stream()
                        .filter(s -> !s.instruction().equals("FROM")).map(Step::vertex).toList();
                assertThat(mustBeCached).as("RUN and COPY steps").hasSize(4);
                assertThat(second.cachedSteps()).as("every step CACHED in the second build:\n%s", second.output())
                        .containsAll(mustBeCached);
                assertThat(executedMarkers(second.output(), marker)).as("no RUN step may run again:\n%s", second.output())
                        .isEmpty();
                assertThat(d2.rootFsLayers("app/inline:copy")).as("same layers as the pushed image").isEqualTo(firstLayers);
                assertThat(d2.docker(SHORT, "run", "--rm", "--network", "none", "app/inline:copy",
                        "cat", "/app/marker.txt", "/app/payload.txt").output())
                        .as("the cached image's files").contains(marker + "-1").contains("payload " + marker);
            }
        } finally {
            DockerDaemon.removeTree(work);
        }
    }

    /**
     * The cache moved as a file instead: the first daemon's image leaves as a {@code docker save} tar (Docker 20.10's
     * own format, layers as uncompressed tars), {@code cairn import} puts it into Cairn, and a second, empty daemon
     * takes every step from it with {@code --cache-from}; {@code cairn export --format docker-archive} gives it back
     * as a tar {@code docker load} accepts; {@code cairn warm --engine docker} pulls the base image back into it.
     */
    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aDockerSaveTarImportedIntoCairnServesAsTheCacheOfTheNextBuildAndExportsBackToDockerLoad() throws Exception {
        Path work = Files.createTempDirectory(Path.of("/tmp"), "cairn-ds-");
        try (RunningCairn cairn = RunningCairn.start()) {
            String registry = cairn.hostPort();
            String base = BaseImage.pushTo(registry, "base/busybox", "latest");
            String marker = "cairn-marker-" + UUID.randomUUID();
            Path context = writeBuildContext(work.resolve("ctx"), base, marker);
            Path clientConfig = Files.createDirectories(work.resolve("client"));
            Path saved = work.resolve("saved.tar");

            List<String> firstLayers;
            try (DockerDaemon d1 = DockerDaemon.start(work.resolve("d1"), registry, clientConfig)) {
                Build first = build(d1, context, "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", "app/saved:main");
                assertThat(first.cachedSteps()).as("a fresh daemon has nothing cached:\n%s", first.output()).isEmpty();
                d1.docker(PUSH, "save", "-o", saved.toString(), "app/saved:main");
                firstLayers = d1.rootFsLayers("app/saved:main");
            }
            CairnCli.Run imported = CairnCli.run("import", "--server", "http://" + registry, saved.toString());
            assertThat(imported.exit()).as(imported.err()).isZero();
            assertThat(imported.out()).contains("imported app/saved:main");

            Path exported = work.resolve("exported.tar");
            try (DockerDaemon d2 = DockerDaemon.start(work.resolve("d2"), registry, clientConfig)) {
                String image = registry + "/app/saved:main";
                Build second = build(d2, context, "--cache-from", image, "-t", "app/inline:copy");
                assertThat(second.output()).as("the cache manifest comes from Cairn:\n%s", second.output())
                        .contains("importing cache manifest from " + image);
                List<String> mustBeCached = second.steps().values().stream()
                        .filter(s -> !s.instruction().equals("FROM")).map(Step::vertex).toList();
                assertThat(mustBeCached).hasSize(4);
                assertThat(second.cachedSteps()).as("every step CACHED:\n%s", second.output()).containsAll(mustBeCached);
                assertThat(executedMarkers(second.output(), marker)).as("no RUN step may run again").isEmpty();
                assertThat(d2.rootFsLayers("app/inline:copy")).isEqualTo(firstLayers);

                CairnCli.Run export = CairnCli.run("export", "--server", "http://" + registry, "--format", "docker-archive",
                        "-o", exported.toString(), "app/saved:main");
                assertThat(export.exit()).as(export.err()).isZero();
                assertThat(d2.docker(SHORT, "load", "-i", exported.toString()).output()).contains("app/saved:main");
                assertThat(d2.rootFsLayers("app/saved:main")).isEqualTo(firstLayers);
                assertThat(d2.docker(SHORT, "run", "--rm", "--network", "none", "app/saved:main", "cat", "/app/marker.txt").output())
                        .contains(marker + "-1");

                // cairn warm into this daemon: the most recently used image of base/** (the build above read it)
                assertThat(d2.docker(SHORT, "rmi", "--force", base).exitCode()).isZero();
                Processes.Result warmed = WarmIT.cairn(d2.engineEnv(), "warm", "--server", "http://" + registry, "--engine", "docker",
                        "--top", "1", "base/**");
                assertThat(warmed.exitCode()).as(warmed.output()).isZero();
                assertThat(warmed.output()).contains("1 images").contains("pulled " + base);
                assertThat(d2.docker(SHORT, "images", "--format", "{{.Repository}}:{{.Tag}}").output()).contains(base);
            }
        } finally {
            DockerDaemon.removeTree(work);
        }
    }

    /** A BuildKit build with plain progress output, on the host network (the daemons have no bridge). */
    private static Build build(DockerDaemon daemon, Path context, String... options) throws Exception {
        List<String> args = new ArrayList<>(List.of("build", "--progress", "plain", "--network", "host"));
        args.addAll(List.of(options));
        args.add(context.toString());
        Processes.Result r = daemon.docker(BUILD, args.toArray(String[]::new));
        return new Build(r.output(), r.elapsed());
    }

    private static Path writeBuildContext(Path dir, String base, String marker) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("payload.txt"), "payload " + marker + "\n");
        Files.writeString(dir.resolve("Dockerfile"), """
                FROM %1$s
                RUN echo "%2$s-1" && sleep 1 && mkdir -p /app && echo "%2$s-1" > /app/marker.txt
                RUN echo "%2$s-2" && sleep 2 && dd if=/dev/zero of=/app/zeros.bin bs=1024 count=256 2>/dev/null
                COPY payload.txt /app/payload.txt
                RUN echo "%2$s-3" && sha256sum /app/payload.txt > /app/payload.sha256 && date > /app/built-at
                """.formatted(base, marker));
        return dir;
    }

    /** The markers RUN steps printed while running: BuildKit prints a step's output as {@code #5 0.071 text}. */
    private static List<String> executedMarkers(String output, String marker) {
        Matcher m = Pattern.compile("(?m)^#\\d+ \\d+\\.\\d+ (" + Pattern.quote(marker) + "-\\d+)\\s*$").matcher(output);
        List<String> found = new ArrayList<>();
        while (m.find()) found.add(m.group(1));
        return found;
    }

    record Step(String vertex, int index, String instruction) {
    }

    record Build(String output, Duration elapsed) {
        /** Dockerfile steps by index, from the plain progress output. */
        Map<Integer, Step> steps() {
            Map<Integer, Step> steps = new LinkedHashMap<>();
            Matcher m = STEP.matcher(output);
            while (m.find()) {
                steps.putIfAbsent(Integer.parseInt(m.group(2)), new Step(m.group(1), Integer.parseInt(m.group(2)), m.group(4)));
            }
            return steps;
        }

        /** Vertices BuildKit reported as {@code #N CACHED}. */
        List<String> cachedSteps() {
            Matcher m = Pattern.compile("(?m)^#(\\d+) CACHED\\s*$").matcher(output);
            List<String> cached = new ArrayList<>();
            while (m.find()) cached.add(m.group(1));
            return cached;
        }
    }
}
