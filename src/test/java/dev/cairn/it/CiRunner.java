package dev.cairn.it;

import dev.cairn.testing.DebianTools;
import dev.cairn.testing.Processes;
import dev.cairn.testing.TempFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One CI runner as a fleet has them: buildah or podman over storage of its own (fresh {@code --root},
 * {@code --runroot} and temp directories), so it holds nothing but what it builds or pulls.
 * Closing it removes its containers, unmounts what the client left mounted, and deletes its storage.
 */
final class CiRunner implements AutoCloseable {
    private static final Duration BUILD_LIMIT = Duration.ofMinutes(2);
    private static final Duration CLEANUP_LIMIT = Duration.ofMinutes(1);

    /** The Debian build clients, and the global flags that confine each to one runner's directories. */
    enum Client {
        BUILDAH(DebianTools::buildah, List.of("rm", "--all")),
        PODMAN(DebianTools::podman, List.of("rm", "--all", "--force"));

        private final Supplier<String> executable;
        private final List<String> removeContainers;

        Client(Supplier<String> executable, List<String> removeContainers) {
            this.executable = executable;
            this.removeContainers = removeContainers;
        }

        String displayName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        List<String> command(Path home, List<String> args) {
            List<String> command = new ArrayList<>(List.of(executable.get(),
                    "--root", home.resolve("root").toString(),
                    // podman refuses a runroot path longer than 50 characters, hence the short names
                    "--runroot", home.resolve("run").toString(),
                    "--storage-driver", "overlay"));
            if (this == PODMAN) {
                // podman keeps libpod state, network configs and events in host-wide places by default
                command.addAll(List.of("--tmpdir", home.resolve("libpod-tmp").toString(),
                        "--network-config-dir", home.resolve("networks").toString(),
                        "--events-backend", "none"));
            }
            command.addAll(args);
            return command;
        }
    }

    /** One step of a build as the client reported it: {@code STEP n/m: INSTRUCTION} and the lines after it. */
    record Step(int number, String instruction, List<String> lines) {
        boolean usedCache() {
            return lines.stream().anyMatch(line -> line.startsWith("--> Using cache "));
        }
    }

    /** A finished build: its steps, the image it produced, and how long the client ran. */
    record Build(String runner, List<Step> steps, String imageId, Duration elapsed, String output) {
        private static final Pattern STEP = Pattern.compile("^STEP (\\d+)/\\d+: (.*)$");
        private static final Pattern IMAGE_ID = Pattern.compile("^[0-9a-f]{64}$");

        static Build parse(String runner, String output, Duration elapsed) {
            List<Step> steps = new ArrayList<>();
            int number = 0;
            String instruction = null;
            List<String> lines = new ArrayList<>();
            String imageId = null;
            for (String line : output.split("\\R")) {
                Matcher m = STEP.matcher(line);
                if (m.matches()) {
                    if (instruction != null) steps.add(new Step(number, instruction, List.copyOf(lines)));
                    number = Integer.parseInt(m.group(1));
                    instruction = m.group(2);
                    lines.clear();
                } else if (instruction != null) {
                    lines.add(line);
                }
                if (IMAGE_ID.matcher(line.strip()).matches()) imageId = line.strip();
            }
            if (instruction != null) steps.add(new Step(number, instruction, List.copyOf(lines)));
            if (imageId == null) throw new AssertionError(runner + " printed no image ID:\n" + output);
            return new Build(runner, List.copyOf(steps), imageId, elapsed, output);
        }

        List<Step> stepsAfterFrom() {
            return steps.subList(1, steps.size());
        }

        /** Whether the build printed {@code text} as a line of its own (a RUN's output, not the echoed instruction). */
        boolean printedLine(String text) {
            return output.lines().anyMatch(line -> line.strip().equals(text));
        }

        long usingCacheLines() {
            return output.lines().filter(line -> line.startsWith("--> Using cache ")).count();
        }

        String seconds() {
            return String.format(java.util.Locale.ROOT, "%.1f s", elapsed.toMillis() / 1000.0);
        }
    }

    private final Client client;
    private final String name;
    private final Path home;

    private CiRunner(Client client, String name, Path home) {
        this.client = client;
        this.name = name;
        this.home = home;
    }

    /** A runner with empty storage. */
    static CiRunner fresh(Client client, String name) throws IOException {
        Path home = Files.createTempDirectory("cairn-" + client.displayName() + "-" + name + "-");
        for (String dir : List.of("root", "run", "libpod-tmp", "networks", "tmp", "checkout")) {
            Files.createDirectories(home.resolve(dir));
        }
        return new CiRunner(client, name, home);
    }

    /** Where this runner keeps its storage ({@code root}, {@code run}) and its checkout. */
    Path home() {
        return home;
    }

    /** Writes the build context into this runner's own checkout directory, as a CI job would clone it. */
    Path checkout(Map<String, String> files) throws IOException {
        Path checkout = home.resolve("checkout");
        for (Map.Entry<String, String> file : files.entrySet()) {
            Files.writeString(checkout.resolve(file.getKey()), file.getValue(), StandardCharsets.UTF_8);
        }
        return checkout;
    }

    /** Builds {@code context}'s Dockerfile with layers, pulling and pushing step caches at {@code cacheRepository}. */
    Build build(Path context, String cacheRepository) throws IOException, InterruptedException {
        return build(context, cacheRepository, List.of());
    }

    /** As {@link #build(Path, String)}, with more flags for the client ({@code --secret}, {@code -v}). */
    Build build(Path context, String cacheRepository, List<String> moreFlags) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("build",
                "--isolation", "chroot",
                "--tls-verify=false",
                "--layers",
                "--cache-to", cacheRepository,
                "--cache-from", cacheRepository));
        args.addAll(moreFlags);
        args.addAll(List.of("-f", context.resolve("Dockerfile").toString(), context.toString()));
        List<String> command = client.command(home, args);
        Processes.Result result = Processes.run(command, Map.of("TMPDIR", home.resolve("tmp").toString()), context, BUILD_LIMIT)
                .requireSuccess(command);
        return Build.parse(client.displayName() + " runner " + name, result.output(), result.elapsed());
    }

    /**
     * Runs the client with {@code args} over this runner's storage (a pull, a push, a login), with extra
     * {@code env} and {@code stdin} (null: none); returns whatever happened, success or not.
     */
    Processes.Result run(Map<String, String> env, String stdin, String... args) throws IOException, InterruptedException {
        Map<String, String> all = new java.util.HashMap<>(env);
        all.put("TMPDIR", home.resolve("tmp").toString());
        return Processes.run(client.command(home, List.of(args)), all, null, stdin, BUILD_LIMIT);
    }

    @Override
    public void close() throws IOException {
        try {
            Processes.run(client.command(home, client.removeContainers), CLEANUP_LIMIT);
            unmountEverythingUnder(home);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        TempFiles.deleteRecursively(home);
    }

    /** Overlay mounts a client left behind would make deleting its storage fail or reach into a lower layer. */
    private static void unmountEverythingUnder(Path dir) throws IOException, InterruptedException {
        String prefix = dir.toRealPath() + "/";
        List<String> mountPoints = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                .map(line -> unescapeMountPoint(line.split(" ")[4]))
                .filter(mountPoint -> mountPoint.startsWith(prefix))
                .sorted(Comparator.comparingInt(String::length).reversed())
                .toList();
        for (String mountPoint : mountPoints) {
            Processes.runOk(List.of(DebianTools.require("/usr/bin/umount", "mount"), "--lazy", mountPoint), CLEANUP_LIMIT);
        }
    }

    private static String unescapeMountPoint(String field) {
        Matcher m = Pattern.compile("\\\\([0-7]{3})").matcher(field);
        StringBuilder out = new StringBuilder();
        while (m.find()) m.appendReplacement(out, Matcher.quoteReplacement(String.valueOf((char) Integer.parseInt(m.group(1), 8))));
        return m.appendTail(out).toString();
    }
}
