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
    /** Bodies up to this size are written chunk by chunk on the request's thread; larger ones through a {@link WritePipeline}. */
    private static final long DIRECT_WRITE_LIMIT = 256 << 10;
    /** For streams that are not a {@link ChunkedBody} (re-hashing an upload from disk, tests). */
    private static final int STREAM_BUFFER_SIZE = 64 << 10;
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
            return new LocalFileStream(channel);
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

    /**
     * Copies everything, feeding the hasher (if any) on the way; returns the byte count. A {@link ChunkedBody}
     * (an HTTP request) is hashed and written from the server's own buffers; a large one is written by a
     * second thread while this one receives and hashes the next bytes ({@link WritePipeline}).
     */
    private static long copyHashing(InputStream in, FileChannel out, MessageDigest hasher) throws IOException {
        if (in instanceof ChunkedBody body && out != null) {
            long length = body.length();
            return length >= 0 && length <= DIRECT_WRITE_LIMIT ? copyChunks(body, out, hasher) : copyPipelined(body, out, hasher);
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
            hash(hasher, chunk);
            while (chunk.hasRemaining()) out.write(chunk);
        }
        return total;
    }

    /** A large (or unbounded) body: received and hashed here, gathered into pooled buffers that another thread writes. */
    private static long copyPipelined(ChunkedBody body, FileChannel out, MessageDigest hasher) throws IOException {
        long total = 0;
        try (WritePipeline pipeline = new WritePipeline(out)) {
            ByteBuffer filling = null;
            for (ByteBuffer chunk; (chunk = body.nextChunk()) != null; ) {
                total += chunk.remaining();
                hash(hasher, chunk);
                while (chunk.hasRemaining()) {
                    if (filling == null) filling = pipeline.emptyBuffer();
                    int n = Math.min(filling.remaining(), chunk.remaining());
                    filling.put(filling.position(), chunk, chunk.position(), n);
                    filling.position(filling.position() + n);
                    chunk.position(chunk.position() + n);
                    if (!filling.hasRemaining()) {
                        pipeline.write(filling);
                        filling = null;
                    }
                }
            }
            if (filling != null) pipeline.write(filling);
            pipeline.finish();
        }
        return total;
    }

    private static void hash(MessageDigest hasher, ByteBuffer chunk) {
        if (hasher == null) return;
        int position = chunk.position();
        hasher.update(chunk);
        chunk.position(position);
    }

    /**
     * Writes the buffers handed to it, in order, on a second (virtual) thread, so that receiving and hashing
     * (the request's thread) overlap the write system calls instead of adding to them. Each pipeline cycles
     * {@link #DEPTH} direct buffers (the kernel reads them as they are, no copy into a temporary one) taken
     * from a small shared pool. Closing it without {@link #finish()} stops the writer; either way, once
     * {@code close} returns nothing writes to the channel any more, so a caller may truncate it.
     */
    private static final class WritePipeline implements AutoCloseable {
        private static final int BUFFER_SIZE = 1 << 20;
        private static final int DEPTH = 3;
        private static final int MAX_IDLE = 8;
        private static final java.util.concurrent.ConcurrentLinkedQueue<ByteBuffer> IDLE = new java.util.concurrent.ConcurrentLinkedQueue<>();
        private static final java.util.concurrent.atomic.AtomicInteger IDLE_COUNT = new java.util.concurrent.atomic.AtomicInteger();
        private static final ByteBuffer END = ByteBuffer.allocate(0);

        private final FileChannel out;
        private final java.util.concurrent.BlockingQueue<ByteBuffer> toWrite = new java.util.concurrent.ArrayBlockingQueue<>(DEPTH + 1);
        private final java.util.concurrent.BlockingQueue<ByteBuffer> written = new java.util.concurrent.ArrayBlockingQueue<>(DEPTH);
        private final java.util.List<ByteBuffer> owned = new java.util.ArrayList<>(DEPTH);
        private Thread writer;
        private volatile IOException failure;
        private boolean ended;

        WritePipeline(FileChannel out) {
            this.out = out;
        }

        /** An empty buffer to fill: a pooled one while the pipeline has fewer than DEPTH, else the next one written. */
        ByteBuffer emptyBuffer() throws IOException {
            checkFailure();
            ByteBuffer buffer;
            if (owned.size() < DEPTH) {
                buffer = acquire();
                owned.add(buffer);
            } else {
                buffer = nextWritten();
            }
            checkFailure();
            return buffer.clear();
        }

        /** Queues a filled buffer for writing; the pipeline owns it again. */
        void write(ByteBuffer filled) throws IOException {
            checkFailure();
            filled.flip();
            if (writer == null) writer = Thread.ofVirtual().name("cairn-blob-writer").start(this::run);
            put(filled);
        }

        /** Waits until every queued buffer is written; throws what the writer met. */
        void finish() throws IOException {
            end();
            checkFailure();
        }

        private void end() {
            if (ended) return;
            ended = true;
            if (writer == null) return;
            put(END);
            boolean interrupted = false;
            while (true) {
                try {
                    writer.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the writer must be done before anyone touches the file again
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }

        @Override
        public void close() throws IOException {
            try {
                if (!ended && failure == null) failure = new IOException("upload stopped"); // the writer skips what is left
                end();
            } finally {
                for (ByteBuffer buffer : owned) release(buffer);
                owned.clear();
            }
        }

        private void run() {
            while (true) {
                ByteBuffer buffer;
                try {
                    buffer = toWrite.take();
                } catch (InterruptedException e) {
                    if (failure == null) failure = new java.io.InterruptedIOException("blob writer interrupted");
                    continue; // keep handing buffers back until END, so the request thread never waits forever
                }
                if (buffer == END) return;
                if (failure == null) {
                    try {
                        while (buffer.hasRemaining()) out.write(buffer);
                    } catch (IOException e) {
                        failure = e;
                    } catch (RuntimeException | Error e) {
                        failure = new IOException(e);
                    }
                }
                written.add(buffer); // never blocks: at most DEPTH buffers exist
            }
        }

        /** The next buffer the writer is done with; fails rather than waits if the writer is gone. */
        private ByteBuffer nextWritten() throws IOException {
            try {
                while (true) {
                    ByteBuffer buffer = written.poll(1, java.util.concurrent.TimeUnit.SECONDS);
                    if (buffer != null) return buffer;
                    if (writer == null || !writer.isAlive()) throw new IOException("the blob writer stopped");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while writing a blob");
            }
        }

        private void checkFailure() throws IOException {
            IOException e = failure;
            if (e != null) throw new IOException("writing the blob failed: " + e.getMessage(), e);
        }

        /** Never blocks nor fails: the queue has room for every buffer of the pipeline and the end mark. */
        private void put(ByteBuffer buffer) {
            if (!toWrite.offer(buffer)) throw new IllegalStateException("blob write queue full");
        }

        private static ByteBuffer acquire() {
            ByteBuffer buffer = IDLE.poll();
            if (buffer == null) return ByteBuffer.allocateDirect(BUFFER_SIZE);
            IDLE_COUNT.decrementAndGet();
            return buffer;
        }

        private static void release(ByteBuffer buffer) {
            if (IDLE_COUNT.incrementAndGet() <= MAX_IDLE) {
                IDLE.offer(buffer.clear());
            } else {
                IDLE_COUNT.decrementAndGet(); // freed with the object
            }
        }
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
