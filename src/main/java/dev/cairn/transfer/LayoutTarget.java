package dev.cairn.transfer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cairn.values.Digest;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorOutputStream;

import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where an export writes: an OCI image layout in a directory, or a tar of one ({@code .tar}, {@code .tar.gz}
 * or {@code .tgz}, {@code .tar.zst}). Blobs are written as they arrive, each once and verified against its
 * digest on the way; {@code index.json} comes last, so a layout whose export failed names nothing it lacks.
 * A tar is written beside its final name and renamed into place only when complete.
 */
public abstract sealed class LayoutTarget implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final byte[] OCI_LAYOUT = "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8);
    static final String REF_NAME = "org.opencontainers.image.ref.name";
    /** When an exported entry was pushed and last used, in RFC 3339: import gives them back to the entry. */
    static final String PUSHED_AT = "dev.cairn.pushed-at";
    static final String LAST_USED = "dev.cairn.last-used";

    /** One entry of {@code index.json}: a manifest or index the layout names, with its annotations. */
    public record IndexEntry(String mediaType, Digest digest, long size, Map<String, String> annotations) {
        public IndexEntry {
            annotations = Map.copyOf(annotations);
        }
    }

    /**
     * An image as {@code docker load} reads it from {@code manifest.json}: its config and layers by their paths in
     * the layout (Docker decompresses the layers as it loads them), and the names it is tagged with.
     */
    public record DockerImage(List<String> repoTags, Digest config, List<Digest> layers) {
        public DockerImage {
            repoTags = List.copyOf(repoTags);
            layers = List.copyOf(layers);
        }
    }

    final Path path;
    final Set<Digest> written = java.util.concurrent.ConcurrentHashMap.newKeySet();

    LayoutTarget(Path path) {
        this.path = path;
    }

    /** A directory unless the name ends in a tar suffix. */
    public static LayoutTarget create(Path path) throws IOException {
        String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (name.endsWith(".tar") || name.endsWith(".tar.gz") || name.endsWith(".tgz") || name.endsWith(".tar.zst")) {
            if (Files.isDirectory(path)) throw new IOException(path + " is a directory; a tar is written to a file of that name");
            return new Tar(path);
        }
        return new Directory(path);
    }

    public boolean holds(Digest digest) {
        return written.contains(digest);
    }

    /** Whether blobs may be written from several threads at once (a directory's are files of their own; a tar's are not). */
    public abstract boolean writesInParallel();



    /** Writes {@code size} bytes of {@code content} as the blob {@code digest}; fails if they are not that. */
    public abstract void blob(Digest digest, long size, InputStream content) throws IOException;

    public void document(Digest digest, byte[] content) throws IOException {
        blob(digest, content.length, new ByteArrayInputStream(content));
    }

    /**
     * Writes {@code index.json} naming {@code entries} (and {@code manifest.json} listing {@code images}, for
     * {@code docker load}, when there are any) and completes the layout.
     */
    public abstract void finish(List<IndexEntry> entries, List<DockerImage> images) throws IOException;

    static byte[] dockerManifest(List<DockerImage> images) throws IOException {
        ArrayNode list = JSON.createArrayNode();
        for (DockerImage image : images) {
            ObjectNode item = list.addObject();
            item.put("Config", "blobs/" + image.config().algorithm() + "/" + image.config().hex());
            ArrayNode tags = item.putArray("RepoTags");
            image.repoTags().forEach(tags::add);
            ArrayNode layers = item.putArray("Layers");
            image.layers().forEach(l -> layers.add("blobs/" + l.algorithm() + "/" + l.hex()));
        }
        return JSON.writeValueAsBytes(list);
    }

    /** Gives up a layout that was not finished: a tar's partial file goes; a directory keeps the blobs written. */
    @Override
    public abstract void close() throws IOException;

    static byte[] index(List<IndexEntry> entries) throws IOException {
        ObjectNode index = JSON.createObjectNode();
        index.put("schemaVersion", 2);
        index.put("mediaType", "application/vnd.oci.image.index.v1+json");
        ArrayNode manifests = index.putArray("manifests");
        for (IndexEntry entry : entries) {
            ObjectNode d = manifests.addObject();
            d.put("mediaType", entry.mediaType());
            d.put("digest", entry.digest().toString());
            d.put("size", entry.size());
            if (!entry.annotations().isEmpty()) {
                ObjectNode annotations = d.putObject("annotations");
                new java.util.TreeMap<>(entry.annotations()).forEach(annotations::put);
            }
        }
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(index);
    }

    static final class Directory extends LayoutTarget {
        @Override
        public boolean writesInParallel() {
            return true;
        }

        private final List<IndexEntry> kept = new ArrayList<>();
        /** A directory this export made: one that fails leaves nothing behind rather than a layout without an index. */
        private final boolean created;
        private boolean finished;

        /**
         * An existing layout is added to (its blobs kept, its entries kept unless an export names the same
         * reference again); any other directory that is not empty is refused rather than written into.
         */
        Directory(Path path) throws IOException {
            super(path);
            created = !Files.exists(path);
            if (Files.isDirectory(path) && !isEmpty(path)) {
                if (!Files.isRegularFile(path.resolve("oci-layout"))) {
                    throw new IOException(path + " is a directory that holds something other than an OCI image layout; name an empty or new one");
                }
                Path index = path.resolve("index.json");
                if (Files.isRegularFile(index)) {
                    try {
                        for (JsonNode d : JSON.readTree(index.toFile()).path("manifests")) {
                            Map<String, String> annotations = new LinkedHashMap<>();
                            d.path("annotations").fields().forEachRemaining(f -> annotations.put(f.getKey(), f.getValue().asText()));
                            kept.add(new IndexEntry(d.path("mediaType").asText(), Digest.parse(d.path("digest").asText()),
                                    d.path("size").asLong(), annotations));
                        }
                    } catch (IOException | RuntimeException e) {
                        throw new IOException(index + " cannot be added to (" + e.getMessage() + "); export into a new directory");
                    }
                }
            }
            Files.createDirectories(path.resolve("blobs"));
            Files.write(path.resolve("oci-layout"), OCI_LAYOUT);
        }

        private static boolean isEmpty(Path dir) throws IOException {
            try (var files = Files.list(dir)) {
                return files.findAny().isEmpty();
            }
        }

        @Override
        public boolean holds(Digest digest) {
            return super.holds(digest) || Files.isRegularFile(blobPath(digest));
        }

        private Path blobPath(Digest digest) {
            return path.resolve("blobs").resolve(digest.algorithm()).resolve(digest.hex());
        }

        @Override
        public void blob(Digest digest, long size, InputStream content) throws IOException {
            Path target = blobPath(digest);
            Files.createDirectories(target.getParent());
            Path partial = target.resolveSibling("." + digest.hex() + ".partial");
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(partial), 1 << 16)) {
                LayoutArchive.verifyTo(path.toString(), digest, size, content, out);
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(partial);
                throw e;
            }
            move(partial, target);
            written.add(digest);
        }

        @Override
        public void finish(List<IndexEntry> entries, List<DockerImage> images) throws IOException {
            if (!images.isEmpty()) {
                Path manifest = path.resolve(".manifest.json.partial");
                Files.write(manifest, dockerManifest(images));
                move(manifest, path.resolve("manifest.json"));
            }
            Set<String> renamed = new HashSet<>();
            for (IndexEntry e : entries) renamed.add(e.annotations().getOrDefault(REF_NAME, e.digest().toString()));
            List<IndexEntry> all = new ArrayList<>();
            for (IndexEntry e : kept) {
                if (!renamed.contains(e.annotations().getOrDefault(REF_NAME, e.digest().toString()))) all.add(e);
            }
            all.addAll(entries);
            Path partial = path.resolve(".index.json.partial");
            Files.write(partial, index(all));
            move(partial, path.resolve("index.json"));
            finished = true;
        }

        private static void move(Path from, Path to) throws IOException {
            try {
                Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
            }
        }

        @Override
        public void close() throws IOException {
            if (finished || !created) return;
            try (var files = Files.walk(path)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    static final class Tar extends LayoutTarget {
        @Override
        public boolean writesInParallel() {
            return false;
        }

        private final Path partial;
        private final TarArchiveOutputStream tar;
        private final Set<String> algorithms = new HashSet<>();
        private final Thread cleanup;
        private boolean finished;

        Tar(Path path) throws IOException {
            super(path);
            Path parent = path.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            // a name of its own, with this process's id: two exports to one file must not write into one partial file,
            // and one an export killed outright (SIGKILL) left behind is removed by the next export to that name
            removeAbandonedPartials(parent == null ? Path.of(".") : parent, path.getFileName().toString());
            this.partial = Files.createTempFile(parent, "." + path.getFileName() + "." + ProcessHandle.current().pid() + "-" + HOST + ".", ".partial");
            // an export stopped by Ctrl-C or SIGTERM takes its partial file with it (SIGKILL cannot be helped)
            this.cleanup = new Thread(() -> {
                try {
                    Files.deleteIfExists(partial);
                } catch (IOException e) {
                    // nothing more to do on the way out
                }
            });
            Runtime.getRuntime().addShutdownHook(cleanup);
            String name = path.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
            OutputStream out = new BufferedOutputStream(Files.newOutputStream(partial), 1 << 16);
            try {
                if (name.endsWith(".gz") || name.endsWith(".tgz")) out = new GzipCompressorOutputStream(out);
                else if (name.endsWith(".zst")) out = new ZstdCompressorOutputStream(out);
            } catch (IOException | RuntimeException | LinkageError e) {
                out.close();
                Files.deleteIfExists(partial);
                throw new IOException("cannot compress " + path + ": " + e.getMessage(), e);
            }
            tar = new TarArchiveOutputStream(out);
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            file("oci-layout", OCI_LAYOUT);
            tar.putArchiveEntry(directory("blobs/"));
            tar.closeArchiveEntry();
        }

        /** This host's name as partial files carry it (letters, digits and '-' only). */
        private static final String HOST = hostName();

        private static String hostName() {
            String name;
            try {
                name = java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                name = "localhost";
            }
            String safe = name.replaceAll("[^A-Za-z0-9-]", "-");
            return safe.isEmpty() ? "localhost" : safe;
        }

        /** Partial files of exports to {@code name} by this host whose process is gone (killed before it could clean up). */
        private static void removeAbandonedPartials(Path parent, String name) throws IOException {
            String prefix = "." + name + ".";
            try (var listing = Files.newDirectoryStream(parent, p -> {
                String file = p.getFileName().toString();
                return file.startsWith(prefix) && file.endsWith(".partial");
            })) {
                for (Path p : listing) {
                    String rest = p.getFileName().toString().substring(prefix.length());
                    // PID-HOST.: only this host's, whose processes this one can see (a directory may be shared between hosts)
                    String owner = "-" + HOST + ".";
                    int end = rest.indexOf(owner);
                    if (end <= 0) continue;
                    long pid;
                    try {
                        pid = Long.parseLong(rest.substring(0, end));
                    } catch (NumberFormatException e) {
                        continue; // not one of ours
                    }
                    if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) continue; // an export still under way
                    Files.deleteIfExists(p);
                }
            }
        }

        private static TarArchiveEntry directory(String name) {
            TarArchiveEntry entry = new TarArchiveEntry(name);
            entry.setMode(0755 | TarArchiveEntry.DEFAULT_DIR_MODE);
            return entry;
        }

        private void file(String name, byte[] content) throws IOException {
            TarArchiveEntry entry = new TarArchiveEntry(name);
            entry.setSize(content.length);
            entry.setMode(0644 | 0100000);
            tar.putArchiveEntry(entry);
            tar.write(content);
            tar.closeArchiveEntry();
        }

        @Override
        public void blob(Digest digest, long size, InputStream content) throws IOException {
            if (algorithms.add(digest.algorithm())) {
                tar.putArchiveEntry(directory("blobs/" + digest.algorithm() + "/"));
                tar.closeArchiveEntry();
            }
            TarArchiveEntry entry = new TarArchiveEntry("blobs/" + digest.algorithm() + "/" + digest.hex());
            entry.setSize(size);
            entry.setMode(0644 | 0100000);
            tar.putArchiveEntry(entry);
            // a blob shorter than it said fails here and leaves the tar unfinished, and so never renamed into place
            LayoutArchive.verifyTo(path.toString(), digest, size, content, tar);
            tar.closeArchiveEntry();
            written.add(digest);
        }

        @Override
        public void finish(List<IndexEntry> entries, List<DockerImage> images) throws IOException {
            if (!images.isEmpty()) file("manifest.json", dockerManifest(images));
            file("index.json", index(entries));
            tar.finish();
            tar.close();
            try {
                Files.move(partial, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (java.nio.file.FileSystemException e) {
                throw new IOException("cannot put the finished tar at " + path + ": " + e.getReason(), e);
            }
            finished = true;
            forgetCleanup();
        }

        private void forgetCleanup() {
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException e) {
                // shutting down already: the hook runs, and finds nothing or the partial file to delete
            }
        }

        @Override
        public void close() throws IOException {
            if (finished) return;
            try {
                tar.close();
            } catch (IOException e) {
                // the export failed already: what matters is that its half-written file goes
            } finally {
                Files.deleteIfExists(partial);
                forgetCleanup();
            }
        }
    }
}
