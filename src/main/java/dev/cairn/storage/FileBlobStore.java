package dev.cairn.storage;

import dev.cairn.values.Digest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * Blobs as files on local disk: {@code <root>/blobs/<algorithm>/<first two hex>/<hex>}. New bytes go to
 * {@code <root>/tmp}, are hashed while they stream in, fsynced once, verified, then renamed into place,
 * so a reader never sees a partial blob. Upload sessions are files under {@code <root>/uploads}; their
 * size is the file's size, so a session survives a restart with no other bookkeeping.
 */
public final class FileBlobStore implements BlobStore {
    /** Bodies up to this size are written chunk by chunk on the request's thread; larger ones through a {@link WritePipeline}. */
    private static final long SMALL_BODY_LIMIT = 256 << 10;
    /** For streams that are not a {@link ChunkedBody} (re-hashing an upload from disk, tests). */
    private static final int STREAM_BUFFER_SIZE = 64 << 10;
    private static final Pattern UPLOAD_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");

    private final Path blobs;
    private final Path tmp;
    private final Path uploads;
    /** Upload sessions this process has written to, at most a bounded number of them holding their files open. */
    private final OpenUploads openUploads;
    /** Whether large bodies are written around the page cache ({@link WritePipeline}); probed at start. */
    private final boolean directWrites;

    private static volatile boolean directorySyncWarned;

    public FileBlobStore(Path root) throws IOException {
        root = root.toAbsolutePath().normalize();
        this.blobs = root.resolve("blobs");
        this.tmp = root.resolve("tmp");
        this.uploads = root.resolve("uploads");
        Files.createDirectories(blobs);
        Files.createDirectories(uploads);
        Files.createDirectories(tmp);
        // Leftovers of writes cut short by a crash: never published, so never referenced.
        try (var leftovers = Files.list(tmp)) {
            for (Path leftover : leftovers.toList()) {
                Files.deleteIfExists(leftover);
            }
        }
        this.directWrites = WritePipeline.supportsDirectWrites(tmp);
        this.openUploads = new OpenUploads(directWrites);
    }

    /** Whether large blobs are written around the page cache (O_DIRECT): the filesystem of the data directory allows it. */
    public boolean writesDirect() {
        return directWrites;
    }

    Path pathOf(Digest digest) {
        return blobs.resolve(digest.algorithm()).resolve(digest.hex().substring(0, 2)).resolve(digest.hex());
    }

    @Override
    public Optional<BlobInfo> stat(Digest digest) throws IOException {
        try {
            return Optional.of(new BlobInfo(digest, Files.size(pathOf(digest))));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    @Override
    public InputStream open(Digest digest, long offset) throws IOException {
        FileChannel channel = FileChannel.open(pathOf(digest), StandardOpenOption.READ);
        try {
            channel.position(offset);
            return new LocalFileStream(channel);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    @Override
    public StagedBlob stage(Digest expected, InputStream body) throws IOException, DigestMismatchException {
        return stageHashing(expected.algorithm(), Optional.of(expected), body);
    }

    @Override
    public StagedBlob stageByContent(InputStream body) throws IOException {
        try {
            return stageHashing("sha256", Optional.empty(), body);
        } catch (DigestMismatchException e) {
            throw new IllegalStateException("nothing was expected", e);
        }
    }

    private StagedBlob stageHashing(String algorithm, Optional<Digest> expected, InputStream body) throws IOException, DigestMismatchException {
        MessageDigest hasher = Digest.newHasher(algorithm);
        return stageInto(body, hasher, () -> {
            Digest actual = Digest.of(algorithm, hasher.digest());
            if (expected.isPresent()) verify(expected.get(), actual);
            return actual;
        });
    }

    @Override
    public StagedBlob stageChecked(Digest digest, InputStream body) throws IOException, DigestMismatchException {
        return stageInto(body, null, () -> digest);
    }

    /** What names staged bytes once they are written: their digest, checked when there is something to check it against. */
    private interface StagedName {
        Digest get() throws DigestMismatchException;
    }

    /** Writes {@code body} to a new file under tmp (hashing it into {@code hasher} unless null) and fsyncs it. */
    private StagedBlob stageInto(InputStream body, MessageDigest hasher, StagedName name) throws IOException, DigestMismatchException {
        Path temp = tmp.resolve(UUID.randomUUID().toString());
        boolean staged = false;
        try {
            long size;
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                size = copyHashing(body, out, directWrites ? temp : null, hasher);
                out.force(false);
            }
            Digest digest = name.get();
            staged = true;
            return new StagedBlob(digest, size, temp);
        } finally {
            if (!staged) Files.deleteIfExists(temp);
        }
    }

    private static void verify(Digest expected, Digest actual) throws DigestMismatchException {
        if (!actual.equals(expected)) {
            throw new DigestMismatchException(expected, actual);
        }
    }

    @Override
    public BlobInfo publish(StagedBlob staged) throws IOException {
        Path file = stagedFile(staged);
        Path target = pathOf(staged.digest());
        if (Files.exists(target)) {
            Files.deleteIfExists(file); // same digest, same bytes: keep the one copy we have
            return new BlobInfo(staged.digest(), staged.size());
        }
        ensureDurableDirectory(target.getParent());
        try {
            Files.move(file, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException e) {
            Files.deleteIfExists(file); // a concurrent push of the same blob won the rename; its bytes are identical
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the data directory must be one filesystem (rename is not atomic)", e);
        }
        syncDirectory(target.getParent());
        return new BlobInfo(staged.digest(), staged.size());
    }

    @Override
    public void discard(StagedBlob staged) throws IOException {
        Files.deleteIfExists(stagedFile(staged));
    }

    /** Staged bytes live in the temporary area; refuse any other path (the location comes back from callers). */
    private Path stagedFile(StagedBlob staged) {
        if (!(staged.handle() instanceof Path file) || !tmp.equals(file.getParent())) {
            throw new IllegalArgumentException("not a staged blob of this store: " + staged.handle());
        }
        return file;
    }

    @Override
    public void forEachBlob(java.util.function.Consumer<StoredBlob> visitor) throws IOException {
        for (String algorithm : new String[]{"sha256", "sha512"}) {
            Path root = blobs.resolve(algorithm);
            if (!Files.isDirectory(root)) continue;
            try (var files = Files.walk(root, 2)) {
                for (Path file : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                    Digest digest;
                    try {
                        digest = new Digest(algorithm, file.getFileName().toString());
                    } catch (RuntimeException e) {
                        continue; // not one of ours
                    }
                    try {
                        var attributes = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class);
                        visitor.accept(new StoredBlob(digest, attributes.size(), attributes.lastModifiedTime().toInstant()));
                    } catch (NoSuchFileException e) {
                        // deleted while we looked
                    }
                }
            }
        }
    }

    @Override
    public void delete(Digest digest) throws IOException {
        Files.deleteIfExists(pathOf(digest));
    }

    /** An unlink costs ~0.1 ms on a local disk, mostly waiting: eight at a time, sixteen or more each. */
    @Override
    public void deleteAll(List<Digest> digests) throws IOException {
        DeletionWorkers.deleteAll(digests, 8, 16, this::delete);
    }

    @Override
    public void startUpload(String id) throws IOException {
        Files.createFile(uploadPath(id));
    }

    @Override
    public OptionalLong uploadSize(String id) throws IOException {
        Path path = uploadPath(id);
        OpenUpload open = openUploads.get(id);
        if (open != null) return OptionalLong.of(open.length);
        try {
            return OptionalLong.of(Files.size(path));
        } catch (NoSuchFileException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * Appends a chunk without waiting for its last bytes to be written: they are written while the answer
     * goes out and the next chunk comes in. A process killed meanwhile leaves the file shorter than the
     * client was told; its next chunk then gets 416 with the true size, or the digest check at the end fails,
     * and the client starts the blob over. Nothing unverified is ever published.
     */
    @Override
    public long appendUpload(String id, OptionalLong expectedStart, InputStream body) throws IOException, UploadOffsetException {
        OpenUpload open = openUploads.claim(id, uploadPath(id));
        try {
            long start = open.length;
            if (expectedStart.isPresent() && expectedStart.getAsLong() != start) {
                throw new UploadOffsetException(expectedStart.getAsLong(), start);
            }
            try {
                open.length = start + open.pipeline.feed(body, open.sha256);
                return open.length;
            } catch (IOException | RuntimeException e) {
                // A chunk cut short (client gone, malformed chunked body) leaves the upload as it was, so the
                // client can resend the same chunk; the hash had taken part of it, so it is dropped.
                openUploads.forget(id);
                try (FileChannel file = open.channel; FileChannel directFile = open.direct) {
                    open.pipeline.close();
                    file.truncate(start);
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        } finally {
            synchronized (open) {
                open.busy = false;
            }
        }
    }

    @Override
    public StagedBlob stageUpload(String id, Digest expected) throws IOException, DigestMismatchException {
        Path path = uploadPath(id);
        Path staged = tmp.resolve(UUID.randomUUID().toString());
        try {
            OpenUpload open = openUploads.get(id);
            openUploads.forget(id);
            if (open != null) {
                synchronized (open) {
                    open.finish();
                }
            }
            long size;
            Digest actual;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                size = channel.size();
                channel.force(false);
                if (open != null && open.sha256 != null && open.length == size && expected.algorithm().equals("sha256")) {
                    actual = Digest.of("sha256", open.sha256.digest());
                } else {
                    MessageDigest hasher = expected.newHasher();
                    channel.position(0);
                    copyHashing(Channels.newInputStream(channel), null, null, hasher);
                    actual = Digest.of(expected.algorithm(), hasher.digest());
                }
            }
            verify(expected, actual);
            Files.move(path, staged, StandardCopyOption.ATOMIC_MOVE);
            return new StagedBlob(expected, size, staged);
        } finally {
            Files.deleteIfExists(path);
        }
    }

    @Override
    public Optional<java.time.Instant> uploadLastWrite(String id) throws IOException {
        try {
            return Optional.of(Files.getLastModifiedTime(uploadPath(id)).toInstant());
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    @Override
    public void abortUpload(String id) throws IOException {
        Path path = uploadPath(id);
        OpenUpload open = openUploads.get(id);
        openUploads.forget(id);
        OpenUpload.closeQuietly(open);
        Files.deleteIfExists(path);
    }

    /** Writes out every open session's accepted bytes, so a restart finds each session's file complete. */
    @Override
    public void close() throws IOException {
        openUploads.finishAll();
    }

    @Override
    public int removeAbandonedUploads(java.time.Instant cutoff, java.util.function.Predicate<String> isOpenSession) throws IOException {
        int removed = 0;
        try (var files = Files.list(uploads)) {
            for (Path file : files.toList()) {
                String id = file.getFileName().toString();
                try {
                    if (!isOpenSession.test(id) && Files.getLastModifiedTime(file).toInstant().isBefore(cutoff)) {
                        OpenUpload.closeQuietly(openUploads.removeAbandoned(id));
                        if (Files.deleteIfExists(file)) removed++;
                    }
                } catch (NoSuchFileException e) {
                    // finished meanwhile
                }
            }
        }
        return removed;
    }

    private Path uploadPath(String id) {
        if (!UPLOAD_ID.matcher(id).matches()) {
            throw new IllegalArgumentException("bad upload id");
        }
        return uploads.resolve(id);
    }

    /**
     * Copies everything, feeding the hasher (if any) on the way; returns the byte count. A {@link ChunkedBody}
     * (an HTTP request) is hashed and written from the server's own buffers; a large one is written by a
     * second thread while this one receives and hashes the next bytes ({@link WritePipeline}), around the
     * page cache when {@code directPath} (the file {@code out} writes) is given.
     */
    private static long copyHashing(InputStream in, FileChannel out, Path directPath, MessageDigest hasher) throws IOException {
        if (in instanceof ChunkedBody body && out != null) {
            long length = body.length();
            if (length >= 0 && length <= SMALL_BODY_LIMIT) return copyChunks(body, out, hasher);
            try (FileChannel direct = directPath == null ? null : WritePipeline.openDirect(directPath);
                 WritePipeline pipeline = new WritePipeline(out, direct, 0)) {
                long total = pipeline.feed(in, hasher);
                pipeline.drain();
                return total;
            }
        }
        byte[] buffer = new byte[STREAM_BUFFER_SIZE];
        long total = 0;
        int n;
        while ((n = in.read(buffer)) >= 0) {
            if (n == 0) continue;
            if (hasher != null) hasher.update(buffer, 0, n);
            if (out != null) {
                ByteBuffer chunk = ByteBuffer.wrap(buffer, 0, n);
                while (chunk.hasRemaining()) out.write(chunk);
            }
            total += n;
        }
        return total;
    }

    /** A small body: each chunk is hashed and written as it comes, on this thread. */
    private static long copyChunks(ChunkedBody body, FileChannel out, MessageDigest hasher) throws IOException {
        long total = 0;
        for (ByteBuffer chunk; (chunk = body.nextChunk()) != null; ) {
            total += chunk.remaining();
            if (hasher != null) {
                int position = chunk.position();
                hasher.update(chunk);
                chunk.position(position);
            }
            while (chunk.hasRemaining()) out.write(chunk);
        }
        return total;
    }

    /** Creates {@code dir} if needed and fsyncs every directory it added, so a published blob's path survives power loss. */
    private static void ensureDurableDirectory(Path dir) throws IOException {
        if (Files.isDirectory(dir)) return;
        ensureDurableDirectory(dir.getParent());
        try {
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            return; // a concurrent publish made it
        }
        syncDirectory(dir.getParent());
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException e) {
            // Some filesystems refuse to fsync a directory; the rename itself is still atomic.
            if (!directorySyncWarned) {
                directorySyncWarned = true;
                org.slf4j.LoggerFactory.getLogger(FileBlobStore.class)
                        .warn("this filesystem does not fsync directories ({}); new blob paths rely on its journal", e.getMessage());
            }
        }
    }
}
