package dev.cairn.it;

import dev.cairn.testing.DebianTools;
import dev.cairn.testing.Processes;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A dockerd of its own for one test: data, exec root, socket and pid file under {@code dir}; its own
 * containerd under the exec root; Debian's {@code /usr/bin/docker} client with a config directory of
 * the test's own (so the caller's {@code ~/.docker} and its credentials stay out).
 * Use a short {@code dir} under /tmp: dockerd and containerd put unix sockets under the exec root (108-byte limit).
 */
final class DockerDaemon implements AutoCloseable {
    private static final Duration DAEMON_START = Duration.ofSeconds(60);
    private static final Duration DAEMON_STOP = Duration.ofSeconds(30);
    private static final Duration SHORT = Duration.ofSeconds(30);

    private final Path dir;
    private final Path socket;
    private final Path clientConfig;
    private final Process process;

    private DockerDaemon(Path dir, Path clientConfig, Process process) {
        this.dir = dir;
        this.socket = dir.resolve("docker.sock");
        this.clientConfig = clientConfig;
        this.process = process;
    }

    /** Starts dockerd, trusting {@code insecureRegistry} (HOST:PORT) over plain HTTP, and waits until it answers. */
    static DockerDaemon start(Path dir, String insecureRegistry, Path clientConfig) throws Exception {
        return start(dir, insecureRegistry, clientConfig, List.of());
    }

    /**
     * As above, with {@code moreFlags} for dockerd ({@code --registry-mirror URL}, say). Whatever it would fetch from
     * anywhere but loopback goes to a proxy address where nothing listens, so it fails here instead of leaving the machine.
     */
    static DockerDaemon start(Path dir, String insecureRegistry, Path clientConfig, List<String> moreFlags) throws Exception {
        String dockerd = DebianTools.dockerd();
        DebianTools.docker();
        Files.createDirectories(dir);
        Files.createDirectories(clientConfig);
        List<String> command = List.of(dockerd,
                "--data-root", dir.resolve("data").toString(),
                "--exec-root", dir.resolve("exec").toString(),
                "-H", "unix://" + dir.resolve("docker.sock"),
                "--pidfile", dir.resolve("docker.pid").toString(),
                "--storage-driver", "overlay2", "--bridge=none", "--iptables=false", "--ip-masq=false",
                "--insecure-registry", insecureRegistry);
        command = new ArrayList<>(command);
        command.addAll(moreFlags);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("dockerd.log").toFile());
        // Debian's containerd, runc and docker-init, whatever else is earlier on the caller's PATH.
        builder.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String proxy : List.of("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")) builder.environment().put(proxy, "http://127.0.0.1:9");
        builder.environment().put("NO_PROXY", "127.0.0.1,localhost");
        builder.environment().put("no_proxy", "127.0.0.1,localhost");
        DockerDaemon daemon = new DockerDaemon(dir, clientConfig, builder.start());
        try {
            daemon.awaitReady();
        } catch (Throwable e) {
            daemon.close();
            throw e;
        }
        return daemon;
    }

    private void awaitReady() throws Exception {
        long deadline = System.nanoTime() + DAEMON_START.toNanos();
        Processes.Result last = null;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new AssertionError("dockerd exited with " + process.exitValue() + ":\n" + log());
            }
            if (Files.exists(socket)) {
                last = Processes.run(client("info"), clientEnv(), null, Duration.ofSeconds(10));
                if (last.exitCode() == 0) return;
            }
            Thread.sleep(250);
        }
        throw new AssertionError("dockerd did not answer within " + DAEMON_START + ": "
                + (last == null ? "no socket" : last.output()) + "\n" + log());
    }

    /** Runs the client; fails (with the daemon's log) unless it succeeds. */
    Processes.Result docker(Duration limit, String... args) throws Exception {
        Processes.Result r = run(limit, null, args);
        if (r.exitCode() != 0) {
            throw new AssertionError("command failed (exit " + r.exitCode() + "): " + String.join(" ", client(args))
                    + "\n" + Processes.tail(r.output(), 8000) + "\n--- dockerd log ---\n" + log());
        }
        return r;
    }

    /** Runs the client with {@code stdin} (null: none) and returns whatever happened. */
    Processes.Result run(Duration limit, String stdin, String... args) throws Exception {
        return Processes.run(client(args), clientEnv(), null, stdin, limit);
    }

    List<String> rootFsLayers(String image) throws Exception {
        String out = docker(SHORT, "image", "inspect", "--format", "{{range .RootFS.Layers}}{{println .}}{{end}}", image)
                .output();
        return out.lines().map(String::strip).filter(l -> l.startsWith("sha256:")).toList();
    }

    /** The client's config directory (DOCKER_CONFIG), where {@code docker login} keeps credentials. */
    Path clientConfig() {
        return clientConfig;
    }

    private List<String> client(String... args) {
        List<String> command = new ArrayList<>(List.of(DebianTools.docker(), "-H", "unix://" + socket));
        command.addAll(List.of(args));
        return command;
    }

    /** What a program that runs the docker client itself (cairn warm) needs to reach this daemon. */
    Map<String, String> engineEnv() {
        return Map.of("DOCKER_HOST", "unix://" + socket, "DOCKER_CONFIG", clientConfig.toString());
    }

    private Map<String, String> clientEnv() {
        // BuildKit with Debian's client; a config directory of our own so the caller's ~/.docker stays out.
        return Map.of("DOCKER_BUILDKIT", "1", "DOCKER_CONFIG", clientConfig.toString());
    }

    /** The end of the daemon's log, for failure messages. */
    String log() {
        try {
            return Processes.tail(Files.readString(dir.resolve("dockerd.log"), StandardCharsets.UTF_8), 6000);
        } catch (IOException e) {
            return "(no dockerd log: " + e + ")";
        }
    }

    /**
     * SIGTERM, wait; then SIGKILL dockerd and what it started; then unmount anything left under {@code dir}.
     * An interrupt (the test's timeout) does not cut the clean-up short; it is passed on afterwards.
     */
    @Override
    public void close() throws IOException {
        boolean interrupted = Thread.interrupted();
        List<ProcessHandle> children = process.descendants().toList();
        process.destroy();
        if (!await(process.toHandle(), DAEMON_STOP)) {
            System.err.println("dockerd did not stop within " + DAEMON_STOP + "; killing it");
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            await(process.toHandle(), SHORT);
        }
        // Its containerd normally exits with it; make sure.
        for (ProcessHandle child : children) {
            if (child.isAlive()) {
                child.destroy();
                if (!await(child, SHORT)) child.destroyForcibly();
            }
        }
        unmountUnder(dir);
        if (interrupted) Thread.currentThread().interrupt();
    }

    private static boolean await(ProcessHandle handle, Duration limit) {
        try {
            handle.onExit().get(limit.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !handle.isAlive();
        } catch (ExecutionException e) {
            return !handle.isAlive();
        }
    }

    /** Unmounts (lazily, deepest first) every mount point under {@code root} left by a daemon. */
    static void unmountUnder(Path root) throws IOException {
        String prefix = root.toAbsolutePath() + "/";
        List<String> mounts = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                .map(line -> unescape(line.split(" ")[4]))
                .filter(p -> p.startsWith(prefix))
                .sorted(Comparator.comparingInt(String::length).reversed())
                .toList();
        for (String mount : mounts) {
            try {
                Processes.run(List.of("umount", "-l", mount), SHORT);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while unmounting " + mount, e);
            }
        }
    }

    private static String unescape(String mountInfoPath) {
        Matcher m = Pattern.compile("\\\\([0-7]{3})").matcher(mountInfoPath);
        StringBuilder out = new StringBuilder();
        while (m.find()) m.appendReplacement(out, Matcher.quoteReplacement(Character.toString((char) Integer.parseInt(m.group(1), 8))));
        m.appendTail(out);
        return out.toString();
    }

    /** Unmounts what daemons left under {@code root}, then deletes it without crossing into other file systems. */
    static void removeTree(Path root) throws Exception {
        boolean interrupted = Thread.interrupted();
        try {
            unmountUnder(root);
            // --one-file-system: never follow a mount we failed to remove into someone else's files.
            Processes.run(List.of("rm", "-rf", "--one-file-system", root.toString()), Duration.ofSeconds(60));
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }
}
