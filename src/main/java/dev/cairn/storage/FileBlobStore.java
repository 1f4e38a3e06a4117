package dev.cairn.storage;

import dev.cairn.registry.Digest;

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
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Blobs as files on local disk: {@code <root>/blobs/<algorithm>/<first two hex>/<hex>}. New bytes go to
 * {@code <root>/tmp}, are hashed while they stream in, fsynced once, verified, then renamed into place,
 * so a reader never sees a partial blob. Upload sessions are files under {@code <root>/uploads}; their
 * size is the file's size, so a session survives a restart with no other bookkeeping.
 */
public final class FileBlobStore implements BlobStore {
    private static final int BUFFER_SIZE = 1 << 20;
    private static final Pattern UPLOAD_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");

    private final Path blobs;
    private final Path tmp;
    private final Path uploads;
    /**
     * The hash of each upload's bytes so far, kept while the upload grows in this process, so that
     * committing does not read the bytes a second time. It is a shortcut only: after a restart, or if it
     * does not cover the file exactly, the file is hashed from disk.
     */
    private final Map<String, RunningHash> runningHashes = new ConcurrentHashMap<>();

    private static volatile boolean directorySyncWarned;

    private record RunningHash(long length, MessageDigest sha256) {
    }

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
            return Channels.newInputStream(channel);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    @Override
    public StagedBlob stage(Digest expected, InputStream body) throws IOException, DigestMismatchException {
        Path temp = tmp.resolve(UUID.randomUUID().toString());
        boolean staged = false;
        try {
            MessageDigest hasher = expected.newHasher();
            long size;
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                size = copyHashing(body, out, hasher);
                out.force(false);
            }
            verify(expected, Digest.of(expected.algorithm(), hasher.digest()));
            staged = true;
            return new StagedBlob(expected, size, temp);
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

    @Override
    public void startUpload(String id) throws IOException {
        Files.createFile(uploadPath(id));
        runningHashes.put(id, new RunningHash(0, Digest.newHasher("sha256")));
    }

    @Override
    public OptionalLong uploadSize(String id) throws IOException {
        try {
            return OptionalLong.of(Files.size(uploadPath(id)));
        } catch (NoSuchFileException e) {
            return OptionalLong.empty();
        }
    }

    @Override
    public long appendUpload(String id, OptionalLong expectedStart, InputStream body) throws IOException, UploadOffsetException {
        Path path = uploadPath(id);
        try (FileChannel out = FileChannel.open(path, StandardOpenOption.WRITE)) {
            long size = out.size();
            if (expectedStart.isPresent() && expectedStart.getAsLong() != size) {
                throw new UploadOffsetException(expectedStart.getAsLong(), size);
            }
            out.position(size);
            RunningHash running = runningHashes.remove(id);
            MessageDigest hasher = running != null && running.length() == size ? running.sha256()
                    : size == 0 ? Digest.newHasher("sha256") : null;
            long written;
            try {
                written = copyHashing(body, out, hasher);
            } catch (IOException | RuntimeException e) {
                // A chunk cut short (client gone, malformed chunked body) leaves the upload as it was, so the
                // client can resend the same chunk.
                out.truncate(size);
                throw e;
            }
            if (hasher != null) {
                runningHashes.put(id, new RunningHash(size + written, hasher));
            }
            return size + written;
        }
    }

    @Override
    public StagedBlob stageUpload(String id, Digest expected) throws IOException, DigestMismatchException {
        Path path = uploadPath(id);
        RunningHash running = runningHashes.remove(id);
        Path staged = tmp.resolve(UUID.randomUUID().toString());
        try {
            long size;
            Digest actual;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                size = channel.size();
                channel.force(false);
                if (running != null && running.length() == size && expected.algorithm().equals("sha256")) {
                    actual = Digest.of("sha256", running.sha256().digest());
                } else {
                    MessageDigest hasher = expected.newHasher();
                    channel.position(0);
                    copyHashing(Channels.newInputStream(channel), null, hasher);
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
        runningHashes.remove(id);
        Files.deleteIfExists(uploadPath(id));
    }

    @Override
    public int removeAbandonedUploads(java.time.Instant cutoff, java.util.function.Predicate<String> isOpenSession) throws IOException {
        int removed = 0;
        try (var files = Files.list(uploads)) {
            for (Path file : files.toList()) {
                String id = file.getFileName().toString();
                try {
                    if (!isOpenSession.test(id) && Files.getLastModifiedTime(file).toInstant().isBefore(cutoff)) {
                        runningHashes.remove(id);
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

    /** Copies everything, feeding the hasher (if any) on the way; returns the byte count. */
    private static long copyHashing(InputStream in, FileChannel out, MessageDigest hasher) throws IOException {
        byte[] buffer = new byte[BUFFER_SIZE];
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
