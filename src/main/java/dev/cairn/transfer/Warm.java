package dev.cairn.transfer;

import dev.cairn.registry.Manifest;
import dev.cairn.registry.ManifestParser;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Readies a host that is about to join the fleet: the images its first builds will ask for, ranked by when
 * builds last used them in Cairn, pulled into the host's own engine so those builds find them locally. Build
 * caches that are not images (BuildKit's cache indexes and cache manifests) are left out: builders read them
 * from Cairn at build time.
 */
public final class Warm {
    private static final Duration PULL_LIMIT = Duration.ofMinutes(30);
    private static final java.util.Set<String> IMAGE_CONFIGS = java.util.Set.of(
            "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json");

    /** The engines a runner builds with; podman and buildah share containers-storage, chosen as they choose it. */
    public enum Engine {
        DOCKER, PODMAN, BUILDAH;

        public static Engine parse(String name) {
            try {
                return valueOf(name.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--engine takes docker, podman or buildah, not " + name);
            }
        }

        String command() {
            return name().toLowerCase(Locale.ROOT);
        }

        List<String> pull(String reference, boolean plainHttp) {
            List<String> command = new ArrayList<>(List.of(command(), "pull"));
            // docker's daemon decides by its insecure-registries (loopback always allowed); the others ask per pull
            if (plainHttp && this != DOCKER) command.add("--tls-verify=false");
            if (this != BUILDAH) command.add("--quiet");
            command.add(reference);
            return command;
        }
    }

    /** An image to pull: where it is, how much it brings and when builds last used it. */
    public record Candidate(RepositoryName repository, String tag, Digest digest, Instant lastUsed, long bytes) {
        public String name() {
            return repository + ":" + tag;
        }
    }

    private final OciRegistry registry;
    private final Consumer<String> out;

    public Warm(OciRegistry registry, Consumer<String> out) {
        this.registry = registry;
        this.out = out;
    }

    /** The {@code top} tagged images the selectors match, most recently used first, used since {@code since} if given. */
    public List<Candidate> plan(List<Export.Selector> selectors, int top, Optional<Instant> since) throws IOException {
        List<Candidate> ranked = new ArrayList<>();
        RepositoryCatalog catalog = new RepositoryCatalog(registry);
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (Export.Selector selector : selectors) {
            for (RepositoryName repository : catalog.matching(selector)) {
                for (OciRegistry.ListedEntry entry : registry.entries(repository)) {
                    if (since.isPresent() && entry.times().lastUsed().isBefore(since.get())) continue;
                    if (selector.digest().isPresent() && !selector.digest().get().equals(entry.digest())) continue;
                    for (String tag : entry.tags()) {
                        if (selector.tags().isPresent() && !selector.tags().get().matches(tag)) continue;
                        if (seen.add(repository + ":" + tag)) {
                            ranked.add(new Candidate(repository, tag, entry.digest(), entry.times().lastUsed(), 0));
                        }
                    }
                }
            }
        }
        ranked.sort(Comparator.comparing(Candidate::lastUsed).reversed().thenComparing(Candidate::name));
        List<Candidate> chosen = new ArrayList<>();
        for (Candidate c : ranked) {
            if (chosen.size() == top) break;
            Optional<Long> bytes = imageBytes(c);
            if (bytes.isEmpty()) continue;
            chosen.add(new Candidate(c.repository(), c.tag(), c.digest(), c.lastUsed(), bytes.get()));
        }
        return chosen;
    }

    /** What pulling the entry brings (config and layers of the image for this machine), or empty for what is not an image. */
    private Optional<Long> imageBytes(Candidate c) throws IOException {
        Optional<OciRegistry.FetchedManifest> fetched = registry.manifest(c.repository(), new Reference.ByDigest(c.digest()));
        if (fetched.isEmpty()) return Optional.empty();
        Manifest manifest = ManifestParser.parse(fetched.get().content(), Optional.of(fetched.get().mediaType()));
        if (MediaTypes.INDEXES.contains(manifest.mediaType())) {
            Optional<Digest> platform = Export.platformImage(fetched.get().content(), Export.hostArchitecture());
            if (platform.isEmpty()) return Optional.empty(); // a BuildKit cache index: layers as index entries
            fetched = registry.manifest(c.repository(), new Reference.ByDigest(platform.get()));
            if (fetched.isEmpty()) return Optional.empty();
            manifest = ManifestParser.parse(fetched.get().content(), Optional.of(fetched.get().mediaType()));
        }
        if (manifest.config().isEmpty() || !IMAGE_CONFIGS.contains(manifest.config().get().mediaType())) return Optional.empty();
        long bytes = manifest.config().get().size();
        for (Descriptor layer : manifest.layers()) bytes += layer.size();
        return Optional.of(bytes);
    }

    /** Pulls each image through {@code engine} from {@code host}; the number of pulls that failed. */
    public int pull(List<Candidate> images, Engine engine, String host, boolean plainHttp) throws IOException {
        int failed = 0;
        for (Candidate image : images) {
            String reference = host + "/" + image.name();
            List<String> command = engine.pull(reference, plainHttp);
            Path log = Files.createTempFile("cairn-warm-", ".log");
            try {
                Process process;
                try {
                    process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
                } catch (IOException e) {
                    throw new IOException("cannot run " + engine.command() + " (is it installed and on PATH?): " + e.getMessage(), e);
                }
                boolean done = process.waitFor(PULL_LIMIT.toMillis(), TimeUnit.MILLISECONDS);
                if (!done) process.destroyForcibly();
                if (done && process.exitValue() == 0) {
                    out.accept("pulled " + reference);
                } else {
                    failed++;
                    String output = Files.readString(log, StandardCharsets.UTF_8).strip();
                    out.accept("failed " + reference + (done ? " (exit " + process.exitValue() + ")" : " (timed out)") + ": "
                            + (output.length() > 2000 ? output.substring(output.length() - 2000) : output));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while pulling " + reference);
            } finally {
                Files.deleteIfExists(log);
            }
        }
        return failed;
    }
}
