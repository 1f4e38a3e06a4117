package dev.cairn.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a command to completion with a time limit and returns what it printed. */
public final class Processes {
    private Processes() {
    }

    public record Result(int exitCode, String output, Duration elapsed) {
        public Result requireSuccess(List<String> command) {
            if (exitCode != 0) {
                throw new AssertionError("command failed (exit " + exitCode + "): " + String.join(" ", command)
                        + "\n" + tail(output, 8000));
            }
            return this;
        }
    }

    public static Result run(List<String> command, Duration limit) throws IOException, InterruptedException {
        return run(command, Map.of(), null, limit);
    }

    /** Runs {@code command} with extra {@code env} in {@code dir} (null: current), output and errors merged. */
    public static Result run(List<String> command, Map<String, String> env, Path dir, Duration limit)
            throws IOException, InterruptedException {
        return run(command, env, dir, null, limit);
    }

    /** As {@link #run(List, Map, Path, Duration)}, with {@code stdin} (null: none) as the command's standard input, e.g. a password. */
    public static Result run(List<String> command, Map<String, String> env, Path dir, String stdin, Duration limit)
            throws IOException, InterruptedException {
        Path log = Files.createTempFile("cairn-cmd-", ".log");
        Path input = stdin == null ? null : Files.createTempFile("cairn-stdin-", ".txt");
        try {
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
            if (input != null) {
                Files.writeString(input, stdin, StandardCharsets.UTF_8);
                builder.redirectInput(input.toFile());
            }
            builder.environment().putAll(env);
            if (dir != null) builder.directory(dir.toFile());
            long start = System.nanoTime();
            Process process = builder.start();
            if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                throw new AssertionError("command timed out after " + limit + ": " + String.join(" ", command)
                        + "\n" + tail(Files.readString(log, StandardCharsets.UTF_8), 8000));
            }
            return new Result(process.exitValue(), Files.readString(log, StandardCharsets.UTF_8),
                    Duration.ofNanos(System.nanoTime() - start));
        } finally {
            Files.deleteIfExists(log);
            if (input != null) Files.deleteIfExists(input);
        }
    }

    public static Result runOk(List<String> command, Duration limit) throws IOException, InterruptedException {
        return run(command, limit).requireSuccess(command);
    }

    public static String tail(String text, int max) {
        return text.length() <= max ? text : "..." + text.substring(text.length() - max);
    }
}
