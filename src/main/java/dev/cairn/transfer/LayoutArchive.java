package dev.cairn.transfer;

import dev.cairn.values.Digest;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorInputStream;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * An OCI image layout to import from: a directory, or a tar of one (plain, gzip or zstd, told apart by their
 * first bytes, not the file's name). A tar is read twice: once to find {@code index.json} and the manifests
 * (it may hold them anywhere, after the blobs they name) and to check every blob against its name, so a
 * corrupt or truncated archive is refused before anything is sent; once more to stream the blobs out.
 * A directory is read where it lies.
 */
public abstract sealed class LayoutArchive {
    /**
     * The largest JSON document (a manifest, an index, index.json) an import reads: the registry's default manifest
     * limit, since BuildKit's mode=max cache indexes run to megabytes.
     */
    static final int MAX_DOCUMENT = 16 << 20;
    /**
     * The JSON documents a tar's first pass keeps in memory, all together: a small part of the launcher's 112 MiB heap,
     * which an import of build-tool caches needs for its batch of keys (64 MiB here and 150,000 keys ran out of it).
     * The rest go to a scratch file (an export of build-tool caches holds a manifest of keys per thousand keys).
     */
    static final long MAX_DOCUMENTS = 16L << 20;

    /** What a blob entry of the archive holds, as its first pass or a stat found. */
    public interface BlobSink {
        void accept(Digest digest, long size, InputStream content) throws IOException;
    }

    final String name;

    LayoutArchive(String name) {
        this.name = name;
    }

    public static LayoutArchive open(Path path) throws IOException {
        if (Files.isDirectory(path)) return new Directory(path);
        if (!Files.isRegularFile(path)) throw new NoSuchFileException(path.toString(), null, "no such file or directory");
        return Tar.read(path);
    }

    /** A file at the layout's root ({@code index.json}, {@code oci-layout}, {@code manifest.json}), if there. */
    public abstract Optional<byte[]> rootFile(String fileName) throws IOException;

    /**
     * The digest of the file at {@code path} (relative to the layout's root), for layouts that name their
     * content by path rather than by digest: {@code docker save}'s {@code <id>/layer.tar} and {@code <hex>.json}.
     * From then on the file is a blob of the archive under that digest.
     */
    public abstract Optional<Digest> fileDigest(String path) throws IOException;

    /** The size of a blob the archive holds. */
    public abstract Optional<Long> blobSize(Digest digest) throws IOException;

    /** A blob read whole: a manifest or config, at most {@link #MAX_DOCUMENT} bytes. */
    public abstract Optional<byte[]> document(Digest digest) throws IOException;

    /** Checks the blobs among {@code digests} the archive holds against their names; a tar's first pass did already. */
    public void verify(Set<Digest> digests) throws IOException {
    }

    /** Streams each of {@code wanted} the archive holds to {@code sink}, verified against its digest as it goes. */
    public abstract void blobs(Set<Digest> wanted, BlobSink sink) throws IOException;

    @Override
    public String toString() {
        return name;
    }

    static BadArchiveException bad(String archive, String message) {
        return new BadArchiveException(archive + ": " + message);
    }

    /** A path as the archive's root sees it: {@code ./a/b} and {@code a//b} are {@code a/b}. */
    static String normalized(String path) {
        String p = path.replaceAll("/+", "/");
        while (p.startsWith("./")) p = p.substring(2);
        return p;
    }

    /** A layout's path for a blob, {@code blobs/<algorithm>/<hex>}, or empty for any other path. */
    static Optional<Digest> blobDigest(String entryName) {
        String path = normalized(entryName);
        String[] parts = path.split("/");
        if (parts.length != 3 || !parts[0].equals("blobs")) return Optional.empty();
        try {
            return Optional.of(new Digest(parts[1], parts[2]));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Reads {@code in} to its end through a hasher and checks the result against {@code digest}. */
    static void verifyTo(String archive, Digest digest, long size, InputStream in, OutputStream out) throws IOException {
        MessageDigest hasher = digest.newHasher();
        long copied = new DigestInputStream(in, hasher).transferTo(out);
        if (copied != size) throw bad(archive, digest + " holds " + copied + " bytes where " + size + " were expected (truncated?)");
        Digest actual = Digest.of(digest.algorithm(), hasher.digest());
        if (!actual.equals(digest)) throw bad(archive, "the blob named " + digest + " holds content of " + actual);
    }

    static final class Directory extends LayoutArchive {
        private final Path root;
        /** Files named by path whose digests were asked for: where those blobs lie. */
        private final Map<Digest, Path> named = new HashMap<>();

        Directory(Path root) {
            super(root.toString());
            this.root = root;
        }

        @Override
        public Optional<Digest> fileDigest(String path) throws IOException {
            Path file = root.resolve(normalized(path)).normalize();
            if (!file.startsWith(root.normalize()) || !Files.isRegularFile(file)) return Optional.empty();
            MessageDigest hasher = Digest.newHasher("sha256");
            try (InputStream in = new DigestInputStream(Files.newInputStream(file), hasher)) {
                in.transferTo(OutputStream.nullOutputStream());
            }
            Digest digest = Digest.of("sha256", hasher.digest());
            named.put(digest, file);
            return Optional.of(digest);
        }

        @Override
        public Optional<byte[]> rootFile(String fileName) throws IOException {
            Path file = root.resolve(fileName);
            if (!Files.isRegularFile(file)) return Optional.empty();
            if (Files.size(file) > MAX_DOCUMENT) throw bad(name, fileName + " is more than " + (MAX_DOCUMENT >> 20) + " MiB");
            return Optional.of(Files.readAllBytes(file));
        }

        /** Every one of {@code digests} the directory holds read and checked, before an import sends any of them. */
        @Override
        public void verify(Set<Digest> digests) throws IOException {
            for (Digest digest : digests) {
                Optional<Long> size = blobSize(digest);
                if (size.isEmpty()) continue;
                try (InputStream in = Files.newInputStream(blobPath(digest))) {
                    verifyTo(name, digest, size.get(), in, OutputStream.nullOutputStream());
                }
            }
        }

        private Path blobPath(Digest digest) {
            Path file = named.get(digest);
            return file != null ? file : root.resolve("blobs").resolve(digest.algorithm()).resolve(digest.hex());
        }

        @Override
        public Optional<Long> blobSize(Digest digest) throws IOException {
            Path file = blobPath(digest);
            return Files.isRegularFile(file) ? Optional.of(Files.size(file)) : Optional.empty();
        }

        @Override
        public Optional<byte[]> document(Digest digest) throws IOException {
            Optional<Long> size = blobSize(digest);
            if (size.isEmpty()) return Optional.empty();
            if (size.get() > MAX_DOCUMENT) throw bad(name, digest + " is named as a manifest but holds " + size.get() + " bytes");
            ByteArrayOutputStream content = new ByteArrayOutputStream();
            try (InputStream in = Files.newInputStream(blobPath(digest))) {
                verifyTo(name, digest, size.get(), in, content);
            }
            return Optional.of(content.toByteArray());
        }

        /** Several at once: each blob is a file of its own, and uploads overlap their round trips. */
        @Override
        public void blobs(Set<Digest> wanted, BlobSink sink) throws IOException {
            List<Digest> held = new ArrayList<>();
            for (Digest digest : wanted) if (blobSize(digest).isPresent()) held.add(digest);
            Parallel.forEach(held, digest -> {
                long size = blobSize(digest).orElseThrow();
                try (InputStream in = Files.newInputStream(blobPath(digest))) {
                    sink.accept(digest, size, new VerifyingStream(name, digest, size, in, false)); // verify() read it already
                }
            });
        }
    }

    static final class Tar extends LayoutArchive {
        private final Path file;
        private final Map<String, byte[]> rootFiles;
        private final Map<Digest, Long> sizes;
        private final KeptDocuments documents;
        /** The digest of every file that is not under {@code blobs/}, by its path. */
        private final Map<String, Digest> byPath;
        /** Files at the root too large to read as a document: index.json past the limit is an error, not an absence. */
        private final Set<String> oversized;

        private Tar(Path file, Map<String, byte[]> rootFiles, Map<Digest, Long> sizes, KeptDocuments documents,
                    Map<String, Digest> byPath, Set<String> oversized) {
            super(file.toString());
            this.file = file;
            this.rootFiles = rootFiles;
            this.sizes = sizes;
            this.documents = documents;
            this.byPath = byPath;
            this.oversized = oversized;
        }

        /** The first pass: every entry read, every blob checked, the small JSON files kept. */
        static Tar read(Path file) throws IOException {
            String archive = file.toString();
            Map<String, byte[]> rootFiles = new HashMap<>();
            Map<Digest, Long> sizes = new TreeMap<>();
            KeptDocuments documents = new KeptDocuments(MAX_DOCUMENTS);
            Map<String, Digest> byPath = new HashMap<>();
            java.util.Set<String> oversized = new java.util.HashSet<>();
            try (TarArchiveInputStream tar = entries(file)) {
                TarArchiveEntry entry;
                while ((entry = nextEntry(archive, tar)) != null) {
                    if (!entry.isFile()) continue;
                    String path = normalized(entry.getName());
                    Optional<Digest> named = blobDigest(path);
                    DocumentCapture capture = new DocumentCapture(MAX_DOCUMENT);
                    Digest digest;
                    if (named.isPresent()) {
                        digest = named.get();
                        verifyTo(archive, digest, entry.getSize(), tar, capture);
                    } else {
                        // named by path (docker save's layers and configs): its digest is what it holds
                        MessageDigest hasher = Digest.newHasher("sha256");
                        long read = new DigestInputStream(tar, hasher).transferTo(capture);
                        if (read != entry.getSize()) throw bad(archive, path + " ends after " + read + " of its " + entry.getSize() + " bytes");
                        digest = Digest.of("sha256", hasher.digest());
                        byPath.put(path, digest);
                        if (!path.contains("/")) {
                            if (capture.document().isPresent()) rootFiles.put(path, capture.document().get());
                            else if (capture.tooLarge()) oversized.add(path);
                        }
                    }
                    sizes.put(digest, entry.getSize());
                    Optional<byte[]> document = capture.document();
                    if (document.isPresent() && !documents.contains(digest)) documents.put(digest, document.get());
                }
            } catch (BadArchiveException e) {
                throw e;
            } catch (IOException e) {
                throw damaged(archive, e);
            }
            return new Tar(file, rootFiles, sizes, documents, byPath, oversized);
        }

        private static TarArchiveEntry nextEntry(String archive, TarArchiveInputStream tar) throws IOException {
            try {
                return tar.getNextEntry();
            } catch (IOException | RuntimeException e) {
                throw damaged(archive, e);
            }
        }

        /** A read that failed inside the archive: an end too early (an EOFException says nothing), a bad block. */
        private static BadArchiveException damaged(String archive, Exception e) {
            String why = e instanceof java.io.EOFException || e.getMessage() == null ? "it ends too early" : e.getMessage();
            return bad(archive, "damaged or truncated archive (" + why + ")");
        }

        private boolean isPlainTar() throws IOException {
            try (InputStream in = Files.newInputStream(file)) {
                return compression(in.readNBytes(4)) == Compression.NONE;
            }
        }

        private enum Compression { NONE, GZIP, ZSTD }

        /** What a file's first bytes say it is compressed with: gzip's and zstd's magic numbers, else nothing. */
        private static Compression compression(byte[] magic) {
            if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) return Compression.GZIP;
            if (magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5
                    && (magic[2] & 0xff) == 0x2f && (magic[3] & 0xff) == 0xfd) return Compression.ZSTD;
            return Compression.NONE;
        }

        /**
         * An uncompressed tar's blobs read where they lie, several at once as a directory's are: the entries' data
         * offsets come from the tar's headers, and each blob is a range of the file read through a channel of its own.
         */
        private void blobsAt(Set<Digest> wanted, BlobSink sink) throws IOException {
            record Range(Digest digest, long offset, long size) {
            }
            List<Range> ranges = new ArrayList<>();
            Set<Digest> found = new java.util.HashSet<>();
            try (org.apache.commons.compress.archivers.tar.TarFile tar = new org.apache.commons.compress.archivers.tar.TarFile(file)) {
                for (TarArchiveEntry entry : tar.getEntries()) {
                    if (!entry.isFile() || entry.isSparse()) continue;
                    String path = normalized(entry.getName());
                    Optional<Digest> digest = blobDigest(path).or(() -> Optional.ofNullable(byPath.get(path)));
                    if (digest.isPresent() && wanted.contains(digest.get()) && found.add(digest.get())) {
                        ranges.add(new Range(digest.get(), entry.getDataOffset(), entry.getSize()));
                    }
                }
            } catch (IOException | RuntimeException e) {
                throw damaged(name, e);
            }
            Parallel.forEach(ranges, range -> {
                try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(file)) {
                    if (channel.size() < range.offset() + range.size()) throw bad(name, range.digest() + " ends past the end of the file (changed since?)");
                    InputStream in = new BufferedInputStream(java.nio.channels.Channels.newInputStream(channel.position(range.offset())), 1 << 16);
                    sink.accept(range.digest(), range.size(), new VerifyingStream(name, range.digest(), range.size(), in, false));
                }
            });
        }

        /** The archive's entries, decompressed as its first bytes say: gzip, zstd, or none. */
        private static TarArchiveInputStream entries(Path file) throws IOException {
            InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
            try {
                in.mark(4);
                byte[] magic = in.readNBytes(4);
                in.reset();
                switch (compression(magic)) {
                    case GZIP -> in = GzipCompressorInputStream.builder().setInputStream(in).setDecompressConcatenated(true).get();
                    case ZSTD -> in = new ZstdCompressorInputStream(in);
                    case NONE -> { }
                }
                return new TarArchiveInputStream(in);
            } catch (IOException | RuntimeException e) {
                in.close();
                throw bad(file.toString(), "cannot be read as a tar, gzip or zstd archive (" + e.getMessage() + ")");
            }
        }

        @Override
        public Optional<byte[]> rootFile(String fileName) throws IOException {
            if (oversized.contains(fileName)) throw bad(name, fileName + " is more than " + (MAX_DOCUMENT >> 20) + " MiB");
            return Optional.ofNullable(rootFiles.get(fileName));
        }

        @Override
        public Optional<Digest> fileDigest(String path) {
            String p = normalized(path);
            return blobDigest(p).filter(sizes::containsKey).or(() -> Optional.ofNullable(byPath.get(p)));
        }

        @Override
        public Optional<Long> blobSize(Digest digest) {
            return Optional.ofNullable(sizes.get(digest));
        }

        @Override
        public Optional<byte[]> document(Digest digest) throws IOException {
            if (!sizes.containsKey(digest)) return Optional.empty();
            byte[] content = documents.get(digest);
            if (content == null) throw bad(name, digest + " is named as a manifest but is not a JSON document of at most " + MAX_DOCUMENT + " bytes");
            return Optional.of(content);
        }

        @Override
        public void blobs(Set<Digest> wanted, BlobSink sink) throws IOException {
            if (wanted.isEmpty()) return;
            if (isPlainTar()) {
                blobsAt(wanted, sink);
                return;
            }
            Set<Digest> sent = new java.util.HashSet<>();
            try (TarArchiveInputStream tar = entries(file)) {
                TarArchiveEntry entry;
                while ((entry = nextEntry(name, tar)) != null) {
                    String path = normalized(entry.getName());
                    Optional<Digest> digest = entry.isFile()
                            ? blobDigest(path).or(() -> Optional.ofNullable(byPath.get(path)))
                            : Optional.empty();
                    if (digest.isPresent() && wanted.contains(digest.get()) && sent.add(digest.get())) {
                        // checked in the first pass; a file changed since is caught by its length here and by the
                        // registry, which checks every digest it is sent, so the bytes are not hashed a second time
                        sink.accept(digest.get(), entry.getSize(), new VerifyingStream(name, digest.get(), entry.getSize(), tar, false));
                    }
                }
            } catch (java.io.EOFException e) {
                throw damaged(name, e);
            }
        }
    }

    /**
     * The JSON documents a tar's first pass found, by digest: in memory up to a budget, the rest in a scratch file
     * (unlinked once open, so nothing stays behind), so an archive of many manifests imports in a small heap.
     */
    static final class KeptDocuments {
        private final long memoryBudget;
        private final Map<Digest, byte[]> inMemory = new HashMap<>();
        private final Map<Digest, long[]> spilled = new HashMap<>();
        private long inMemoryBytes;
        private java.nio.channels.FileChannel spill;
        private long spillEnd;

        KeptDocuments(long memoryBudget) {
            this.memoryBudget = memoryBudget;
        }

        boolean contains(Digest digest) {
            return inMemory.containsKey(digest) || spilled.containsKey(digest);
        }

        void put(Digest digest, byte[] content) throws IOException {
            if (inMemoryBytes + content.length <= memoryBudget) {
                inMemory.put(digest, content);
                inMemoryBytes += content.length;
                return;
            }
            if (spill == null) {
                Path file = Files.createTempFile("cairn-import-documents-", ".json");
                spill = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE);
                Files.delete(file); // open, it stays readable; gone, nothing is left behind however the import ends
            }
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(content);
            long at = spillEnd;
            while (buffer.hasRemaining()) spillEnd += spill.write(buffer, spillEnd);
            spilled.put(digest, new long[]{at, content.length});
        }

        /** The document, or null when the archive holds no JSON document of that digest. */
        byte[] get(Digest digest) throws IOException {
            byte[] kept = inMemory.get(digest);
            if (kept != null) return kept;
            long[] place = spilled.get(digest);
            if (place == null) return null;
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate((int) place[1]);
            while (buffer.hasRemaining()) {
                if (spill.read(buffer, place[0] + buffer.position()) < 0) throw new java.io.EOFException("the scratch file of documents ends early");
            }
            return buffer.array();
        }
    }

    /**
     * What an entry holds, kept while it may be a JSON document: it starts with '{' or '[' (after white space) and stays
     * within the limit. Layers are dropped at their first byte, so a pass over an archive holds only documents.
     */
    static final class DocumentCapture extends OutputStream {
        private final long limit;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        private boolean decided;
        private boolean json;
        private boolean tooLarge;

        DocumentCapture(long limit) {
            this.limit = limit;
        }

        @Override
        public void write(int b) {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            if (decided && !json) return;
            if (!decided) {
                for (int i = off; i < off + len; i++) {
                    byte c = b[i];
                    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
                    decided = true;
                    json = c == '{' || c == '['; // docker save's manifest.json is a list
                    break;
                }
                if (decided && !json) {
                    kept.reset();
                    return;
                }
            }
            if (kept.size() + (long) len > limit) {
                tooLarge = true;
                json = false;
                decided = true;
                kept.reset();
                return;
            }
            kept.write(b, off, len);
        }

        Optional<byte[]> document() {
            return decided && json ? Optional.of(kept.toByteArray()) : Optional.empty();
        }

        boolean tooLarge() {
            return tooLarge;
        }
    }

    /**
     * A blob's bytes as they are read, checked at their end: the last read throws when the content is not
     * what its name says, so a consumer that sends the bytes on (an upload) fails rather than finishes.
     */
    static final class VerifyingStream extends InputStream {
        private final String archive;
        private final Digest digest;
        private final long size;
        private final InputStream in;
        private final MessageDigest hasher;
        private long read;
        private boolean checked;

        VerifyingStream(String archive, Digest digest, long size, InputStream in, boolean hash) {
            this.archive = archive;
            this.digest = digest;
            this.size = size;
            this.in = in;
            this.hasher = hash ? digest.newHasher() : null;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (read >= size) {
                check();
                return -1;
            }
            int n = in.read(b, off, (int) Math.min(len, size - read));
            if (n < 0) throw bad(archive, digest + " ends after " + read + " of its " + size + " bytes (truncated?)");
            if (hasher != null) hasher.update(b, off, n);
            read += n;
            if (read == size) check();
            return n;
        }

        private void check() throws IOException {
            if (checked || hasher == null) return;
            checked = true;
            Digest actual = Digest.of(digest.algorithm(), hasher.digest());
            if (!actual.equals(digest)) throw bad(archive, "the blob named " + digest + " holds content of " + actual);
        }

        /** Does not close the archive's stream: a tar's next entry follows on it. */
        @Override
        public void close() {
        }
    }
}
