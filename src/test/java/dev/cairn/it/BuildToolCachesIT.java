package dev.cairn.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.testing.DebianTools;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.Processes;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Build tools using Cairn as their remote cache, each the real Debian client on its own project: runner A
 * builds with an empty local cache; runner B, with its own empty local cache and a copy of the project in
 * another directory, gets every unit from Cairn; after a change to one source file only that unit misses.
 */
class BuildToolCachesIT {
    private static final Duration LIMIT = Duration.ofMinutes(3);
    private static final int SOURCES = 12;

    private Path work;

    @BeforeEach
    void makeWorkDir() throws IOException {
        work = Files.createTempDirectory("cairn-build-tools-");
    }

    @AfterEach
    void removeWorkDir() throws IOException {
        TempFiles.deleteRecursively(work);
    }

    @Test
    void ccacheRunnersShareCompiledObjectsInEveryLayout() throws Exception {
        String ccache = DebianTools.require("/usr/bin/ccache", "ccache");
        DebianTools.require("/usr/bin/gcc", "gcc");
        try (RunningCairn cairn = RunningCairn.start()) {
            for (String layout : List.of("subdirs", "flat", "bazel")) {
                String storage = "http://" + cairn.hostPort() + "/cache/cc-" + layout + "|layout=" + layout;
                Path projectA = cProject(work.resolve(layout + "-a"));
                Map<String, Long> a = compile(ccache, projectA, work.resolve(layout + "-ccache-a"), storage);
                assertThat(a.get("remote_storage_miss")).as(layout + ": runner A finds nothing").isEqualTo(SOURCES);
                assertThat(a.get("remote_storage_hit")).isZero();

                Path projectB = cProject(work.resolve(layout + "-b"));
                Map<String, Long> b = compile(ccache, projectB, work.resolve(layout + "-ccache-b"), storage);
                assertThat(b.get("remote_storage_hit")).as(layout + ": runner B, another directory, an empty local cache").isEqualTo(SOURCES);
                assertThat(b.get("remote_storage_miss")).isZero();
                assertThat(b.get("remote_storage_error")).isZero();

                Path projectC = cProject(work.resolve(layout + "-c"));
                Files.writeString(projectC.resolve("unit3.c"), "int unit3(int x) { return x * 1000 + 7; }\n");
                Map<String, Long> c = compile(ccache, projectC, work.resolve(layout + "-ccache-c"), storage);
                assertThat(c.get("remote_storage_hit")).as(layout + ": one source changed").isEqualTo(SOURCES - 1);
                assertThat(c.get("remote_storage_miss")).isEqualTo(1);
                assertThat(Files.readAllBytes(projectB.resolve("unit5.o"))).as("the object from the cache is the compiler's")
                        .isEqualTo(Files.readAllBytes(projectA.resolve("unit5.o")));
            }
            JsonNode stats = OciClient.json(new OciClient(cairn).get("/api/v1/stats"));
            assertThat(stats.path("namespaces")).anySatisfy(n -> {
                assertThat(n.path("namespace").asText()).isEqualTo("cc-flat");
                assertThat(n.path("hits").asLong()).as("runners B and C read results and manifests").isGreaterThanOrEqualTo(2L * SOURCES - 1);
            });
        }
    }

    @Test
    void rcloneCopiesATreeInAndOutOverWebDav() throws Exception {
        String rclone = DebianTools.require("/usr/bin/rclone", "rclone");
        try (RunningCairn cairn = RunningCairn.start()) {
            Path tree = work.resolve("tree");
            Files.createDirectories(tree.resolve("sub/deeper"));
            Files.writeString(tree.resolve("a.txt"), "one\n");
            Files.writeString(tree.resolve("sub/b.txt"), "two\n");
            Files.write(tree.resolve("sub/deeper/big.bin"), SeededBytes.of(3_000_000, 1));
            Files.write(tree.resolve("sub/deeper/same.bin"), SeededBytes.of(3_000_000, 1));
            String remote = ":webdav,url='http://" + cairn.hostPort() + "/cache/files/':";
            Map<String, String> env = Map.of("RCLONE_CONFIG", work.resolve("rclone.conf").toString());

            rclone(rclone, env, "copy", tree.toString(), remote);
            String listing = rclone(rclone, env, "ls", remote);
            assertThat(listing).contains("4 a.txt").contains("4 sub/b.txt").contains("3000000 sub/deeper/big.bin");
            assertThat(rclone(rclone, env, "lsd", remote + "sub")).contains("deeper");
            assertThat(rclone(rclone, env, "check", tree.toString(), remote)).contains("4 matching files");

            Path copy = work.resolve("copy");
            rclone(rclone, env, "copy", remote, copy.toString());
            for (String file : List.of("a.txt", "sub/b.txt", "sub/deeper/big.bin", "sub/deeper/same.bin")) {
                assertThat(Files.readAllBytes(copy.resolve(file))).as(file).isEqualTo(Files.readAllBytes(tree.resolve(file)));
            }
            Files.writeString(tree.resolve("sub/b.txt"), "two, changed\n");
            rclone(rclone, env, "copy", tree.toString(), remote);
            assertThat(new String(new OciClient(cairn).get("/cache/files/sub/b.txt").body(), StandardCharsets.UTF_8)).isEqualTo("two, changed\n");
            rclone(rclone, env, "delete", remote + "sub/deeper/same.bin");
            assertThat(rclone(rclone, env, "ls", remote)).doesNotContain("same.bin").contains("big.bin");
            JsonNode files = null;
            for (JsonNode n : OciClient.json(new OciClient(cairn).get("/api/v1/stats")).path("namespaces")) {
                if (n.path("namespace").asText().equals("files")) files = n;
            }
            assertThat(files).isNotNull();
            assertThat(files.path("keys").asLong()).isEqualTo(3);
            assertThat(cairn.node().keeper().storedBytes()).as("identical files are stored once")
                    .isLessThan(2 * 3_000_000L);
        }
    }

    @Test
    void gradleRunnersTakeTaskOutputsFromTheCacheAndAnOversizedOneIsNotStored() throws Exception {
        String gradle = DebianTools.require("/usr/bin/gradle", "gradle");
        Path jdk17 = jdk17();
        // An entry of a few KiB is refused: the 'wide' project's classes (a large constant) get 413, and Gradle
        // builds on without storing them.
        try (RunningCairn cairn = RunningCairn.start(Map.of("cache.max-entry-bytes", "16KiB"))) {
            String url = "http://" + cairn.hostPort() + "/cache/gradle/";
            Path a = gradleProject(work.resolve("a"), url);
            String first = gradleBuild(gradle, jdk17, a, work.resolve("home-a"));
            assertThat(first).contains(":one:compileJava\n").contains(":two:compileJava\n").contains(":wide:compileJava\n");

            Path b = gradleProject(work.resolve("b"), url);
            String second = gradleBuild(gradle, jdk17, b, work.resolve("home-b"));
            assertThat(second).contains(":one:compileJava FROM-CACHE").contains(":two:compileJava FROM-CACHE")
                    .as("refused with 413, so never stored").contains(":wide:compileJava\n");

            Path c = gradleProject(work.resolve("c"), url);
            Files.writeString(c.resolve("two/src/main/java/demo/Two.java"), "package demo;\npublic class Two { public int f() { return 22; } }\n");
            String third = gradleBuild(gradle, jdk17, c, work.resolve("home-c"));
            assertThat(third).contains(":one:compileJava FROM-CACHE").contains(":two:compileJava\n").doesNotContain(":two:compileJava FROM-CACHE");
        }
    }

    @Test
    void bazelRunnersGetRemoteCacheHitsAndRebuildWhatWasEvicted() throws Exception {
        String bazel = DebianTools.require("/usr/bin/bazel", "bazel-bootstrap");
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.grace", "1s"))) {
            String remote = "--remote_cache=http://" + cairn.hostPort() + "/bazel/bz";
            Path a = bazelWorkspace(work.resolve("ws-a"));
            String first = bazelBuild(bazel, a, work.resolve("root-a"), remote);
            assertThat(first).contains("3 linux-sandbox").doesNotContain("remote cache hit");

            Path b = bazelWorkspace(work.resolve("ws-b"));
            String second = bazelBuild(bazel, b, work.resolve("root-b"), remote);
            assertThat(second).contains("3 remote cache hit");
            assertThat(Files.readString(b.resolve("bazel-bin/unit1.out"))).isEqualTo("UNIT 1\n");

            Path c = bazelWorkspace(work.resolve("ws-c"));
            Files.writeString(c.resolve("unit2.txt"), "unit 2, changed\n");
            String third = bazelBuild(bazel, c, work.resolve("root-c"), remote);
            assertThat(third).as("one source changed").contains("2 remote cache hit").contains("1 linux-sandbox");
            assertThat(Files.readString(c.resolve("bazel-bin/unit2.out"))).isEqualTo("UNIT 2, CHANGED\n");

            // Everything of the namespace evicted: the next runner builds it all again, and no action fails.
            cairn.node().keeper().invalidate(new dev.cairn.values.Glob("bz"), java.util.Optional.empty(), java.util.Optional.empty(), false);
            Thread.sleep(1100);
            cairn.node().keeper().collect(false);
            Path d = bazelWorkspace(work.resolve("ws-d"));
            String fourth = bazelBuild(bazel, d, work.resolve("root-d"), remote);
            assertThat(fourth).contains("3 linux-sandbox").doesNotContain("remote cache hit");
            assertThat(Files.readString(d.resolve("bazel-bin/unit3.out"))).isEqualTo("UNIT 3\n");
        }
    }

    @Test
    void turborepoRunnersReplayTasksFromTheCacheAndCountWhatTheySaved() throws Exception {
        Path turbo = Path.of(".tools/npm/node_modules/.bin/turbo").toAbsolutePath();
        if (!Files.isExecutable(turbo)) {
            throw new AssertionError(turbo + " is missing: bin/test installs it (npm install --prefix .tools/npm turbo@2.11.13)");
        }
        try (RunningCairn cairn = RunningCairn.start()) {
            List<String> run = List.of(turbo.toString(), "run", "build", "--api=http://" + cairn.hostPort(), "--token=any", "--team=web");
            String first = turboRun(turboRepo(work.resolve("repo-a")), run);
            assertThat(first).contains("one:build: cache miss").contains("two:build: cache miss").contains("0 cached, 2 total");

            Path b = turboRepo(work.resolve("repo-b"));
            String second = turboRun(b, run);
            assertThat(second).contains("one:build: cache hit").contains("two:build: cache hit").contains("2 cached, 2 total");
            assertThat(Files.readString(b.resolve("packages/one/dist/out.txt"))).isEqualTo("SOURCE OF ONE\n");

            Path c = turboRepo(work.resolve("repo-c"));
            Files.writeString(c.resolve("packages/two/src.txt"), "source of two, changed\n");
            gitCommit(c);
            String third = turboRun(c, run);
            assertThat(third).contains("one:build: cache hit").contains("two:build: cache miss").contains("1 cached, 2 total");

            // The dry run's batch query and the preflights of --preflight.
            Path d = turboRepo(work.resolve("repo-d"));
            String dry = turboRun(d, concat(run, "--dry=json"));
            assertThat(dry).contains("\"remote\": true");
            String preflight = turboRun(d, concat(run, "--preflight"));
            assertThat(preflight).contains("2 cached, 2 total");

            JsonNode web = null;
            for (JsonNode n : OciClient.json(new OciClient(cairn).get("/api/v1/stats")).path("namespaces")) {
                if (n.path("kind").asText().equals("turbo") && n.path("namespace").asText().equals("web")) web = n;
            }
            assertThat(web).as("the team is the namespace").isNotNull();
            assertThat(web.path("hits").asLong()).isEqualTo(5);
            assertThat(web.path("misses").asLong()).as("runner C's; runner A's came before the team's first write ('(other)')").isBetween(1L, 3L);
            assertThat(web.path("savedSeconds").asDouble()).as("the build time turbo said its hits took").isPositive();
            assertThat(OciClient.text(new OciClient(cairn).get("/metrics")))
                    .containsPattern("cairn_cache_client_events_total\\{event=\"hit\",kind=\"turbo\",namespace=\"web\",source=\"remote\"} [1-9]");
        }
    }

    /** A C project of {@link #SOURCES} files, the same content wherever it is made. */
    private static Path cProject(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (int i = 0; i < SOURCES; i++) {
            Files.writeString(dir.resolve("unit" + i + ".c"), "int unit" + i + "(int x) { return x * " + (i + 3) + "; }\n");
        }
        return dir;
    }

    /** Compiles every source with ccache and a local cache of its own (empty at first); ccache's counters after. */
    private static Map<String, Long> compile(String ccache, Path project, Path localCache, String remote) throws Exception {
        Map<String, String> env = Map.of("CCACHE_DIR", localCache.toString(), "CCACHE_REMOTE_STORAGE", remote,
                "CCACHE_BASEDIR", project.toString(), "CCACHE_CONFIGPATH", project.resolve("ccache.conf").toString());
        for (int i = 0; i < SOURCES; i++) {
            Processes.run(List.of(ccache, "gcc", "-O2", "-c", "unit" + i + ".c", "-o", "unit" + i + ".o"), env, project, LIMIT)
                    .requireSuccess(List.of("ccache gcc unit" + i + ".c"));
        }
        Processes.Result stats = Processes.run(List.of(ccache, "--print-stats"), env, project, LIMIT);
        stats.requireSuccess(List.of("ccache --print-stats"));
        Map<String, Long> counters = new HashMap<>();
        for (String line : stats.output().split("\n")) {
            String[] parts = line.split("\t");
            if (parts.length == 2 && parts[1].matches("\\d+")) counters.put(parts[0], Long.parseLong(parts[1]));
        }
        return counters;
    }

    /** Three genrules, one per source file; no external dependency, so nothing to download. */
    private static Path bazelWorkspace(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("WORKSPACE"), "");
        StringBuilder build = new StringBuilder();
        for (int i = 1; i <= 3; i++) {
            Files.writeString(dir.resolve("unit" + i + ".txt"), "unit " + i + "\n");
            build.append("genrule(name = \"unit").append(i).append("\", srcs = [\"unit").append(i).append(".txt\"], outs = [\"unit")
                    .append(i).append(".out\"], cmd = \"tr a-z A-Z < $< > $@\")\n");
        }
        Files.writeString(dir.resolve("BUILD"), build.toString());
        return dir;
    }

    /** A build in a Bazel of its own (its own output root: an empty local cache); Bazel's summary lines. */
    private static String bazelBuild(String bazel, Path workspace, Path outputRoot, String remote) throws Exception {
        List<String> command = List.of(bazel, "--output_user_root=" + outputRoot, "--batch", "build", remote, "//:all");
        Processes.Result result = Processes.run(command, Map.of("JAVA_HOME", jdk17().toString()), workspace, LIMIT);
        result.requireSuccess(command);
        return result.output();
    }

    /** Debian's Gradle 4.4.1 and Bazel 4.2 run on Java 17, not on the JDK the build uses. */
    private static Path jdk17() {
        return Stream.of("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64").map(Path::of)
                .filter(Files::isDirectory).findFirst()
                .orElseThrow(() -> new AssertionError("no Java 17 for Debian's gradle and bazel: install the Debian package 'openjdk-17-jdk-headless'"));
    }

    /** An npm workspace of two packages whose build writes dist/; a git repository, as turbo hashes what git tracks. */
    private static Path turboRepo(Path dir) throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("package.json"), """
                { "name": "mono", "private": true, "packageManager": "npm@10.0.0", "workspaces": ["packages/*"] }
                """);
        Files.writeString(dir.resolve("turbo.json"), """
                { "tasks": { "build": { "outputs": ["dist/**"] } } }
                """);
        Files.writeString(dir.resolve(".gitignore"), "node_modules/\n.turbo/\ndist/\n");
        for (String name : List.of("one", "two")) {
            Path p = Files.createDirectories(dir.resolve("packages/" + name));
            Files.writeString(p.resolve("package.json"), "{ \"name\": \"" + name + "\", \"version\": \"1.0.0\", \"scripts\": { \"build\": \"node build.js\" } }\n");
            Files.writeString(p.resolve("build.js"), "const fs = require('fs'); fs.mkdirSync('dist', {recursive: true}); "
                    + "fs.writeFileSync('dist/out.txt', fs.readFileSync('src.txt', 'utf8').toUpperCase());\n");
            Files.writeString(p.resolve("src.txt"), "source of " + name + "\n");
        }
        List<String> install = List.of("npm", "install", "--offline", "--no-audit", "--no-fund");
        Processes.run(install, Map.of(), dir, LIMIT).requireSuccess(install);
        List<String> init = List.of("git", "init", "-q", ".");
        Processes.run(init, Map.of(), dir, LIMIT).requireSuccess(init);
        gitCommit(dir);
        return dir;
    }

    private static void gitCommit(Path repo) throws Exception {
        List<String> add = List.of("git", "add", "-A");
        Processes.run(add, Map.of(), repo, LIMIT).requireSuccess(add);
        List<String> commit = List.of("git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", "commit", "-q", "-m", "sources");
        Processes.run(commit, Map.of(), repo, LIMIT).requireSuccess(commit);
    }

    private static String turboRun(Path repo, List<String> command) throws Exception {
        Processes.Result result = Processes.run(command, Map.of("TURBO_TELEMETRY_DISABLED", "1", "DO_NOT_TRACK", "1", "TURBO_NO_UPDATE_NOTIFIER", "1"),
                repo, LIMIT);
        result.requireSuccess(command);
        return result.output();
    }

    private static List<String> concat(List<String> command, String more) {
        List<String> all = new java.util.ArrayList<>(command);
        all.add(more);
        return all;
    }

    private static String rclone(String rclone, Map<String, String> env, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(rclone, "--retries", "1", "--low-level-retries", "1"));
        command.addAll(List.of(args));
        Processes.Result result = Processes.run(command, env, null, LIMIT);
        result.requireSuccess(command);
        return result.output();
    }

    /**
     * Three projects, no dependencies (nothing to download): 'one' and 'two' small, 'wide' with a class past the
     * entry limit, built last: Gradle 4.4 turns the remote cache off for the rest of a build after a refused
     * store (later versions take a 413 as "do not store" and go on).
     */
    private static Path gradleProject(Path dir, String cacheUrl) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("settings.gradle"), """
                rootProject.name = 'demo'
                include 'one', 'two', 'wide'
                buildCache {
                    local { enabled = false }
                    remote(HttpBuildCache) {
                        url = '%s'
                        push = true
                    }
                }
                """.formatted(cacheUrl));
        Files.writeString(dir.resolve("build.gradle"), "subprojects { apply plugin: 'java' }\n");
        for (String project : List.of("one", "two", "wide")) {
            Path sources = Files.createDirectories(dir.resolve(project + "/src/main/java/demo"));
            String name = Character.toUpperCase(project.charAt(0)) + project.substring(1);
            String body = project.equals("wide")
                    ? "public static final String TEXT = \"" + java.util.HexFormat.of().formatHex(SeededBytes.of(20_000, 9)) + "\";"
                    : "public int f() { return " + project.length() + "; }";
            Files.writeString(sources.resolve(name + ".java"), "package demo;\npublic class " + name + " { " + body + " }\n");
        }
        return dir;
    }

    private static String gradleBuild(String gradle, Path jdk, Path project, Path gradleHome) throws Exception {
        List<String> command = List.of(gradle, "--no-daemon", "--build-cache", "--console=plain", "-g", gradleHome.toString(), "build");
        Processes.Result result = Processes.run(command, Map.of("JAVA_HOME", jdk.toString()), project, LIMIT);
        result.requireSuccess(command);
        return result.output();
    }
}
