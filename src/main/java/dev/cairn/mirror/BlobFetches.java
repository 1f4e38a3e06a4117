package dev.cairn.mirror;

import dev.cairn.registry.RepositoryBlobs;
import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

/**
 * Blobs on their way from an upstream, one fetch per digest however many requests want it at once. The fetch runs
 * on a thread of its own (a client that hangs up does not stop it: the others, and the cache, still want the
 * bytes) and writes what arrives to a scratch file, hashing it as it passes; every waiting request reads that file
 * as it grows, and so does the store, on a thread of its own, which keeps the blob as a push is kept (staged,
 * verified against its digest, published, linked). So clients get the bytes at the upstream's pace, not after the
 * whole blob is stored nor at the pace of a disk slower than the network; the last byte is handed out only once the
 * fetch's hash matched the digest, so a blob the upstream corrupted ends every reader's body short, and no client
 * takes it for whole.
 */
public final class BlobFetches {
    /**
     * A blob's bytes as they arrive, for a sender that hands regions of the file to the socket itself instead of
     * copying them through the heap.
     */
    public interface ArrivingFile {
        FileChannel channel();

        /** Up to where the bytes from {@code position} may be read now, waiting while none may; -1 at their end. */
        long readableTo(long position) throws IOException;
    }

    /** Opens the upstream's copy of the blob (empty when the upstream does not hold it). */
    public interface Source {
        Optional<Upstream.Blob> open() throws IOException;
    }

    /** How much of the upstream's body is read at once. */
    private static final int COPY_BUFFER = 256 << 10;
    private final Path scratchDirectory;
    private final RepositoryBlobs blobs;
    /**
     * Fetches under way by repository and digest: a request joins only a fetch for its own repository. Keyed by the
     * digest alone, a request under any mirrored repository joined (and was linked into) a fetch another mirror's
     * upstream, or another repository the caller may not read, was serving (review of 9039177).
     */
    private record Key(RepositoryName repository, Digest digest) {
    }

    private final ConcurrentHashMap<Key, Fetch> running = new ConcurrentHashMap<>();

    public BlobFetches(Path scratchDirectory, RepositoryBlobs blobs) throws IOException {
        this.scratchDirectory = scratchDirectory;
        this.blobs = blobs;
        // what a node that stopped mid-fetch left: nobody reads it any more
        if (Files.isDirectory(scratchDirectory)) {
            try (var left = Files.list(scratchDirectory)) {
                for (Path p : left.toList()) Files.deleteIfExists(p);
            }
        }
        Files.createDirectories(scratchDirectory);
    }

    /**
     * The fetch of {@code digest} into {@code repository}: joined when one is under way (its blob is linked into this
     * repository too once stored), started from {@code source} otherwise. {@code received} hears of each byte that
     * comes in from the upstream (once, however many wait). {@code held} says whether the repository holds the blob
     * now: asked once this fetch is the one under way, so that a fetch that ended (and linked it) between the caller's
     * look and this one is not made again.
     */
    public Fetch fetch(RepositoryName repository, Digest digest, Source source, java.util.function.BooleanSupplier held, LongConsumer received) {
        while (true) {
            Key key = new Key(repository, digest);
            Fetch f = running.get(key);
            if (f != null) {
                if (f.join(repository)) return f;
                // its bytes are in and it is linking: this one links from there once it ends (see Fetch#storedIn)
                f.awaitEnd();
                return f;
            }
            Fetch fresh = new Fetch(digest, repository);
            if (running.putIfAbsent(key, fresh) == null) {
                boolean isHeld;
                try {
                    isHeld = held.getAsBoolean();
                } catch (RuntimeException | Error e) {
                    // no fetch behind it: those who joined meanwhile hear of the failure, and the next request starts afresh
                    running.remove(key, fresh);
                    fresh.finished(new IOException("cannot tell whether " + repository + " holds " + digest + ": " + e.getMessage(), e));
                    throw e;
                }
                if (isHeld) {
                    running.remove(key, fresh);
                    fresh.finished(null); // nothing to fetch: its readers find no scratch file and read the store
                    return fresh;
                }
                // a platform thread: its copy and hash keep a core busy, which on a carrier of virtual threads would hold
                // back the requests scheduled there (Jetty's among them)
                Thread.ofPlatform().daemon().name("cairn-mirror-fetch").start(() -> fresh.run(source, received));
                return fresh;
            }
        }
    }

    /** One blob coming in: its scratch file, how much of it is written, and how it ended. */
    public final class Fetch {
        private final Digest digest;
        private final Set<RepositoryName> repositories = ConcurrentHashMap.newKeySet();
        private final Path scratch;
        private long length = -1;
        private long written;
        /** Still taking repositories to link into: until the bytes are in and the links are being made. */
        private boolean joinable = true;
        private boolean ended;
        private boolean stored;
        /** Every byte arrived and they hash to the digest: readers may have the last one, whatever the store still does. */
        private boolean verified;
        private Exception failure;
        /** What broke the fetch before its end (the upstream's failure, bad bytes): readers, the store's too, fail with it. */
        private Throwable broken;

        private final RepositoryName first;

        private Fetch(Digest digest, RepositoryName first) {
            this.digest = digest;
            this.first = first;
            this.repositories.add(first);
            this.scratch = scratchDirectory.resolve(digest.hex() + "." + System.nanoTime());
        }

        /** Adds a repository to link the blob into; false once the fetch has ended (then start another or read the store). */
        private synchronized boolean join(RepositoryName repository) {
            if (!joinable) return false;
            repositories.add(repository);
            return true;
        }

        private void run(Source source, LongConsumer received) {
            try (FileChannel out = FileChannel.open(scratch, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                Upstream.Blob blob = source.open().orElseThrow(() -> new Refusal(Refusal.Reason.BLOB_NOT_FOUND,
                        "the upstream does not hold " + digest, java.util.Map.of("digest", digest.toString())));
                started(blob.length());
                CompletableFuture<Void> storing = new CompletableFuture<>();
                Thread.ofPlatform().daemon().name("cairn-mirror-store").start(() -> {
                    try (InputStream in = new Following(FileChannel.open(scratch, StandardOpenOption.READ), true)) {
                        // the fetch hashes what passes, and this stream ends only once that hash matched
                        blobs.putCheckedBlob(first, digest, in);
                        storing.complete(null);
                    } catch (Throwable e) {
                        storing.completeExceptionally(e);
                    }
                });
                try (InputStream in = blob.content()) {
                    copy(in, out, received);
                } catch (IOException | RuntimeException | Error e) {
                    deleteScratch(); // before anyone hears of the failure: readers that opened it keep reading it
                    broke(e); // the store's reader fails with it, and nothing is kept
                    awaitQuietly(storing);
                    throw e;
                }
                try {
                    storing.join();
                } catch (CompletionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof Refusal r && r.reason() == Refusal.Reason.CONTENT_DIGEST_MISMATCH) {
                        throw UpstreamFailure.badContent("the upstream's " + digest + " is not that blob: " + r.getMessage());
                    }
                    if (cause instanceof Refusal r) throw r; // the budget's or the store's word, for the client as for a push
                    if (cause instanceof UncheckedIOException io) cause = io.getCause();
                    throw new LocalStoreFailure("storing " + digest + " failed: " + cause, cause);
                }
                // every other repository that asked meanwhile: its link, now the bytes are in
                synchronized (this) {
                    joinable = false;
                }
                for (RepositoryName other : repositories) {
                    if (!other.equals(first)) blobs.mount(other, digest, first);
                }
                finished(null);
            } catch (Exception e) {
                finished(e);
            } catch (Error e) {
                finished(new IOException("fetching " + digest + " failed: " + e, e)); // else its readers wait for ever
                throw e;
            } finally {
                running.remove(new Key(first, digest), this);
                deleteScratch();
            }
        }

        private void deleteScratch() {
            try {
                Files.deleteIfExists(scratch); // readers that opened it keep reading it
            } catch (IOException e) {
                // the next start clears the directory
            }
        }

        /**
         * The upstream's bytes into the scratch file, hashed as they pass; at their end, verified against the digest
         * (bytes that are not the blob are the upstream's fault: the client asked rightly).
         */
        private void copy(InputStream in, FileChannel out, LongConsumer received) throws IOException {
            java.security.MessageDigest hasher = digest.newHasher();
            byte[] buffer = new byte[COPY_BUFFER];
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (n == 0) continue;
                ByteBuffer chunk = ByteBuffer.wrap(buffer, 0, n);
                while (chunk.hasRemaining()) out.write(chunk);
                wrote(n); // readers send these bytes while they are hashed
                hasher.update(buffer, 0, n);
                received.accept(n);
            }
            Digest actual = Digest.of(digest.algorithm(), hasher.digest());
            if (!actual.equals(digest)) throw UpstreamFailure.badContent("the upstream's " + digest + " is not that blob: its bytes hash to " + actual);
            arrived();
        }

        private static void awaitQuietly(CompletableFuture<Void> storing) {
            try {
                storing.join();
            } catch (CompletionException | java.util.concurrent.CancellationException e) {
                // the fetch's own failure is the one to report
            }
        }

        private synchronized void started(long announced) {
            length = announced;
            notifyAll();
        }

        private synchronized void wrote(long n) {
            written += n;
            notifyAll();
        }

        private synchronized void arrived() {
            verified = true;
            notifyAll();
        }

        private synchronized void broke(Throwable e) {
            broken = e;
            notifyAll();
        }

        private synchronized void finished(Exception e) {
            joinable = false;
            ended = true;
            stored = e == null;
            failure = e;
            if (stored && length < 0) length = written;
            notifyAll();
        }

        /**
         * The blob's length once the upstream announced it (or, when it did not, once all of it arrived); throws
         * what ended the fetch when it failed first: a Refusal (BLOB_NOT_FOUND) or the upstream's failure.
         */
        public synchronized long awaitLength() throws IOException {
            while (length < 0 && !ended) await();
            if (length < 0 || (ended && !stored)) rethrow();
            return length;
        }

        /** The bytes as they arrive; a read that would take the last byte waits for the digest's check, and fails if it failed. */
        public InputStream read() throws IOException {
            return new Following(FileChannel.open(scratch, StandardOpenOption.READ), false);
        }

        public Digest digest() {
            return digest;
        }

        /** The repository the blob was stored into first: others link it from there. */
        public RepositoryName storedIn() {
            return first;
        }

        /**
         * Waits until every byte arrived and matched the digest (the store may still be writing them), or the fetch
         * failed; true in the first case.
         */
        public synchronized boolean awaitArrival() {
            while (!verified && !ended) {
                try {
                    await();
                } catch (IOException e) {
                    return false;
                }
            }
            return verified || stored;
        }

        /** Waits until the bytes arrived and matched the digest (or were stored); throws what ended the fetch otherwise. */
        public synchronized void awaitWhole() throws IOException {
            while (!verified && !ended) await();
            if (!verified && !stored) rethrow();
        }

        public synchronized boolean hasEnded() {
            return ended;
        }

        /** Waits for the end; true when the blob was stored. */
        public synchronized boolean awaitEnd() {
            while (!ended) {
                try {
                    await();
                } catch (IOException e) {
                    return false;
                }
            }
            return stored;
        }

        private void await() throws IOException {
            try {
                wait(TimeUnit.SECONDS.toMillis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while the upstream's blob came in");
            }
        }

        private void rethrow() throws IOException {
            if (failure instanceof Refusal r) throw r;
            if (failure instanceof IOException io) throw io;
            throw new IOException("fetching " + digest + " from the upstream failed: " + failure, failure);
        }

        /**
         * How far a reader may go now: what is written, less the last byte until the blob was checked (the store's
         * reader takes every byte as it comes: the store checks them itself); -1 at the end.
         */
        private synchronized long readable(long position, boolean forStore) throws IOException {
            while (true) {
                boolean whole = stored || verified;
                if (!whole && broken != null) throw new IOException("the upstream's " + digest + " did not arrive whole: " + broken, broken);
                if (ended && !whole) rethrow();
                long allowed = whole || forStore ? written : (length >= 0 ? Math.min(written, length - 1) : written - 1);
                if (position < allowed) return allowed;
                if (whole && position >= written) return -1;
                await();
            }
        }

        /** The scratch file read as it grows. */
        private final class Following extends InputStream implements ArrivingFile {
            private final FileChannel in;
            private final boolean forStore;
            private long position;

            Following(FileChannel in, boolean forStore) {
                this.in = in;
                this.forStore = forStore;
            }

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) return 0;
                long allowed = readable(position, forStore);
                if (allowed < 0) return -1;
                int n = in.read(ByteBuffer.wrap(b, off, (int) Math.min(len, allowed - position)), position);
                if (n > 0) position += n;
                return n;
            }

            @Override
            public FileChannel channel() {
                return in;
            }

            @Override
            public long readableTo(long from) throws IOException {
                return readable(from, forStore);
            }

            @Override
            public void close() throws IOException {
                in.close();
            }
        }
    }
}
