package dev.cairn.transfer;

import dev.cairn.registry.Manifest;
import dev.cairn.registry.ManifestParser;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import dev.cairn.values.Glob;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;
import dev.cairn.values.Tag;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Writes what a registry holds under some names into an OCI image layout: for each selected tag (or digest)
 * its manifest, every manifest an index names, and every blob they reference, each blob once however many
 * entries share it. Each {@code index.json} entry keeps its repository and tag in
 * {@code org.opencontainers.image.ref.name} ({@code team/app:1}, or {@code team/app@sha256:...} for an
 * untagged one), and, from a Cairn, when it was pushed and last used ({@code dev.cairn.pushed-at},
 * {@code dev.cairn.last-used}), which import reads back so the entries keep their place in the eviction order.
 */
public final class Export {
    /** What an export wrote. */
    public record Report(int entries, int blobsWritten, long bytesWritten, int blobsShared) {
    }

    /**
     * What to export: {@code REPO}, {@code REPO:TAG} or {@code REPO@DIGEST}, where REPO and TAG may be globs as
     * in the retention rules ({@code team/**}, {@code cache/*:main-*}).
     */
    public record Selector(Glob repositories, Optional<Glob> tags, Optional<Digest> digest) {
        public static Selector parse(String text) {
            int at = text.indexOf('@');
            if (at >= 0) {
                return new Selector(new Glob(text.substring(0, at)), Optional.empty(), Optional.of(Digest.parse(text.substring(at + 1))));
            }
            int colon = text.lastIndexOf(':');
            if (colon >= 0) {
                return new Selector(new Glob(text.substring(0, colon)), Optional.of(new Glob(text.substring(colon + 1))), Optional.empty());
            }
            return new Selector(new Glob(text), Optional.empty(), Optional.empty());
        }

        boolean isOneRepository() {
            return repositories.pattern().indexOf('*') < 0 && repositories.pattern().indexOf('?') < 0;
        }
    }

    private final OciRegistry registry;
    private final LayoutTarget target;
    private final Consumer<String> progress;
    private TransferMeter meter = TransferMeter.NONE;
    /** Only entries used since then, when set. */
    private final Optional<java.time.Instant> usedSince;
    /** The registry's times of each repository's entries, read once per repository. */
    private final Map<RepositoryName, Map<Digest, OciRegistry.EntryTimes>> times = new java.util.HashMap<>();
    /** For {@code docker load}: each entry's image (an index's manifest for this machine's platform), by manifest. */
    private final Optional<Map<Digest, LayoutTarget.DockerImage>> dockerImages;
    private int blobsWritten;
    private long bytesWritten;
    private int blobsShared;

    /** With {@code dockerArchive}, the layout also carries the {@code manifest.json} that {@code docker load} reads. */
    public Export(OciRegistry registry, LayoutTarget target, boolean dockerArchive, Optional<java.time.Instant> usedSince,
                  Consumer<String> progress) {
        this.registry = registry;
        this.target = target;
        this.progress = progress;
        this.usedSince = usedSince;
        this.dockerImages = dockerArchive ? Optional.of(new LinkedHashMap<>()) : Optional.empty();
    }

    /** Reports the bytes as they are written, for a progress display. */
    public Export meteredBy(TransferMeter meter) {
        this.meter = meter;
        return this;
    }

    public Report run(List<Selector> selectors) throws IOException {
        Map<String, LayoutTarget.IndexEntry> entries = new LinkedHashMap<>();
        RepositoryCatalog catalog = new RepositoryCatalog(registry);
        for (Selector selector : selectors) {
            List<RepositoryName> repositories = catalog.matching(selector);
            // a name named outright must be there; one a glob or a listing found may have gone since (a cache evicts)
            boolean named = selector.isOneRepository() && selector.tags().map(t -> isLiteral(t.pattern())).orElse(selector.digest().isPresent());
            boolean matched = false;
            for (RepositoryName repository : repositories) {
                if (selector.digest().isPresent()) {
                    Digest digest = selector.digest().get();
                    matched |= collect(entries, repository, new Reference.ByDigest(digest), repository + "@" + digest, named);
                    continue;
                }
                for (Tag tag : registry.tags(repository)) {
                    if (selector.tags().isPresent() && !selector.tags().get().matches(tag.value())) continue;
                    matched |= collect(entries, repository, new Reference.ByTag(tag), repository + ":" + tag, named);
                }
            }
            if (!matched) {
                throw new IOException("nothing in the registry matches " + describe(selector) + usedSince.map(t -> " used since " + t).orElse(""));
            }
        }
        target.finish(new ArrayList<>(entries.values()), dockerImages.map(m -> List.copyOf(m.values())).orElse(List.of()));
        return new Report(entries.size(), blobsWritten, bytesWritten, blobsShared);
    }

    private static String describe(Selector s) {
        return s.repositories() + s.tags().map(t -> ":" + t).orElse("") + s.digest().map(d -> "@" + d).orElse("");
    }

    /** The entry named {@code name} into {@code entries}, once however many patterns match it; whether it is there. */
    private boolean collect(Map<String, LayoutTarget.IndexEntry> entries, RepositoryName repository, Reference reference,
                            String name, boolean named) throws IOException {
        if (entries.containsKey(name)) return true;
        Optional<LayoutTarget.IndexEntry> e = entry(repository, reference, name, named);
        e.ifPresent(found -> entries.put(name, found));
        return e.isPresent();
    }

    private static boolean isLiteral(String pattern) {
        return pattern.indexOf('*') < 0 && pattern.indexOf('?') < 0;
    }

    /**
     * The entry, written; empty when it was not used since {@link #usedSince}, or when it is gone though a listing
     * showed it (an eviction in between) and it was not {@code named} outright.
     */
    private Optional<LayoutTarget.IndexEntry> entry(RepositoryName repository, Reference reference, String name, boolean named) throws IOException {
        Map<Digest, OciRegistry.EntryTimes> known = timesOf(repository);
        Optional<OciRegistry.FetchedManifest> found = registry.manifest(repository, reference);
        if (found.isEmpty()) {
            if (named) throw new IOException(name + " is not in the registry");
            if (reference instanceof Reference.ByTag) progress.accept("skipped " + name + ": gone since it was listed");
            return Optional.empty();
        }
        OciRegistry.FetchedManifest manifest = found.get();
        Optional<OciRegistry.EntryTimes> when = Optional.ofNullable(known.get(manifest.digest()));
        if (usedSince.isPresent()) {
            if (when.isEmpty()) throw new IOException("the registry keeps no use times for " + name + ": --since needs a Cairn");
            if (when.get().lastUsed().isBefore(usedSince.get())) return Optional.empty();
        }
        writeTree(repository, manifest);
        if (dockerImages.isPresent()) dockerImage(repository, name, manifest, reference);
        progress.accept("exported " + name + " " + manifest.digest());
        Map<String, String> annotations = new java.util.HashMap<>();
        annotations.put(LayoutTarget.REF_NAME, name);
        when.ifPresent(t -> {
            annotations.put(LayoutTarget.PUSHED_AT, t.pushedAt().toString());
            annotations.put(LayoutTarget.LAST_USED, t.lastUsed().toString());
        });
        return Optional.of(new LayoutTarget.IndexEntry(manifest.mediaType(), manifest.digest(), manifest.content().length, annotations));
    }

    private Map<Digest, OciRegistry.EntryTimes> timesOf(RepositoryName repository) throws IOException {
        Map<Digest, OciRegistry.EntryTimes> known = times.get(repository);
        if (known == null) {
            known = registry.entryTimes(repository);
            times.put(repository, known);
        }
        return known;
    }

    /** A manifest and what it references, children before the document that names them. */
    private void writeTree(RepositoryName repository, OciRegistry.FetchedManifest fetched) throws IOException {
        if (target.holds(fetched.digest())) {
            blobsShared++;
            return;
        }
        Manifest manifest = fetched.parsed(repository);
        List<Descriptor> blobs = new ArrayList<>();
        for (Descriptor child : manifest.children()) {
            if (MediaTypes.isSupportedManifest(child.mediaType())) {
                OciRegistry.FetchedManifest childManifest = registry.manifest(repository, new Reference.ByDigest(child.digest()))
                        .orElseThrow(() -> new IOException(repository + "@" + fetched.digest() + " names " + child.digest() + ", which the registry does not hold"));
                writeTree(repository, childManifest);
            } else {
                blobs.add(child); // a BuildKit cache index lists its layers as index entries
            }
        }
        manifest.config().ifPresent(blobs::add);
        for (Descriptor layer : manifest.layers()) {
            if (!layer.isForeignLayer()) blobs.add(layer);
        }
        writeBlobs(repository, blobs);
        target.document(fetched.digest(), fetched.content());
        blobsWritten++;
        bytesWritten += fetched.content().length;
    }

    /** The image {@code docker load} takes for an entry: the manifest itself, or an index's for this machine's platform. */
    private void dockerImage(RepositoryName repository, String name, OciRegistry.FetchedManifest fetched, Reference reference) throws IOException {
        Manifest manifest = ManifestParser.parse(fetched.content(), Optional.of(fetched.mediaType()));
        Digest digest = fetched.digest();
        if (MediaTypes.INDEXES.contains(manifest.mediaType())) {
            Digest platform = platformImage(fetched.content(), hostArchitecture())
                    .orElseThrow(() -> new IOException(name + " is an index of no images (a build cache?): docker load takes images"));
            OciRegistry.FetchedManifest chosen = registry.manifest(repository, new Reference.ByDigest(platform))
                    .orElseThrow(() -> new IOException(name + " names " + platform + ", which the registry does not hold"));
            manifest = ManifestParser.parse(chosen.content(), Optional.of(chosen.mediaType()));
            digest = chosen.digest();
        }
        Manifest image = manifest;
        String tag = reference instanceof Reference.ByTag ? name : null;
        dockerImages.get().compute(digest, (d, known) -> {
            List<String> tags = new ArrayList<>(known == null ? List.of() : known.repoTags());
            if (tag != null) tags.add(tag);
            return new LayoutTarget.DockerImage(tags, image.config().orElseThrow().digest(),
                    image.layers().stream().map(Descriptor::digest).toList());
        });
    }

    /** This machine's architecture as image platforms name it. */
    static String hostArchitecture() {
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            default -> System.getProperty("os.arch");
        };
    }

    /** The index's image for linux on {@code arch}, else its first image; empty when it lists no images at all. */
    static Optional<Digest> platformImage(byte[] index, String arch) throws IOException {
        Optional<Digest> first = Optional.empty();
        for (var entry : new com.fasterxml.jackson.databind.ObjectMapper().readTree(index).path("manifests")) {
            if (!MediaTypes.MANIFESTS.contains(entry.path("mediaType").asText())) continue;
            Digest digest = Digest.parse(entry.path("digest").asText());
            var platform = entry.path("platform");
            if (platform.path("os").asText().equals("linux") && platform.path("architecture").asText().equals(arch)) return Optional.of(digest);
            if (first.isEmpty()) first = Optional.of(digest);
        }
        return first;
    }

    /** A manifest's blobs: into a directory {@link Parallel#WIDTH} at a time, each straight to its file; into a tar in order. */
    private void writeBlobs(RepositoryName repository, List<Descriptor> blobs) throws IOException {
        List<Descriptor> todo = new ArrayList<>();
        java.util.Set<Digest> seen = new java.util.HashSet<>();
        for (Descriptor d : blobs) {
            if (target.holds(d.digest()) || !seen.add(d.digest())) blobsShared++;
            else todo.add(d);
        }
        if (target.writesInParallel()) {
            Parallel.forEach(todo, d -> {
                try (InputStream content = registry.blob(repository, d.digest())) {
                    target.blob(d.digest(), d.size(), meter.metered(content));
                }
                counted(d);
            });
            return;
        }
        // a tar is written in order: one blob at a time (fetching the next ones into scratch files meanwhile measured
        // 204 against 194 MB/s at 2 GiB, within the noise, for twice the writes)
        for (Descriptor d : todo) {
            try (InputStream content = registry.blob(repository, d.digest())) {
                target.blob(d.digest(), d.size(), meter.metered(content));
            }
            counted(d);
        }
    }

    private synchronized void counted(Descriptor blob) {
        blobsWritten++;
        bytesWritten += blob.size();
    }
}
