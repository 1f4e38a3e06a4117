package dev.cairn.mirror;

import dev.cairn.registry.RepositoryBlobs;
import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.FilterInputStream;
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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

/**
 * Blobs on their way from an upstream, one fetch per digest however many requests want it at once. The fetch runs
 * on a thread of its own (a client that hangs up does not stop it: the others, and the cache, still want the
 * bytes); what arrives is stored as a push is (staged, verified against its digest, published, linked) and at the
 * same time written to a scratch file, which every waiting request reads as it grows. So clients get the bytes as
 * they arrive rather than after the whole blob is stored; the last byte is handed out only once the digest checked,
 * so a blob the upstream corrupted ends every reader's body short, and no client takes it for whole.
 */
public final class BlobFetches {
    /** Opens the upstream's copy of the blob (empty when the upstream does not hold it). */
    public interface Source {
        Optional<Upstream.Blob> open() throws IOException;
    }

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
     * comes in from the upstream (once, however many wait).
     */
    public Fetch fetch(RepositoryName repository, Digest digest, Source source, LongConsumer received) {
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
                Thread.ofVirtual().name("cairn-mirror-fetch").start(() -> fresh.run(source, received));
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
        private Exception failure;

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
                try (InputStream in = new Tee(blob.content(), out, received)) {
                    blobs.putBlob(first, digest, in);
                } catch (UncheckedIOException e) {
                    throw e.getCause();
                } catch (Refusal e) {
                    // bytes that are not the blob: the upstream's fault (the client asked rightly), and nothing is kept
                    if (e.reason() != Refusal.Reason.CONTENT_DIGEST_MISMATCH) throw e;
                    throw UpstreamFailure.badContent("the upstream's " + digest + " is not that blob: " + e.getMessage());
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
                try {
                    Files.deleteIfExists(scratch); // readers that opened it keep reading it
                } catch (IOException e) {
                    // the next start clears the directory
                }
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
            return new Following(FileChannel.open(scratch, StandardOpenOption.READ));
        }

        /** The repository the blob was stored into first: others link it from there. */
        public RepositoryName storedIn() {
            return first;
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

        /** How far a reader may go now: what is written, less the last byte until the blob was checked. */
        private synchronized long readable(long position) throws IOException {
            while (true) {
                if (ended && !stored) rethrow();
                long allowed = stored ? written : (length >= 0 ? Math.min(written, length - 1) : written - 1);
                if (position < allowed) return allowed;
                if (stored && position >= written) return -1;
                await();
            }
        }

        /** The scratch file read as it grows. */
        private final class Following extends InputStream {
            private final FileChannel in;
            private long position;

            Following(FileChannel in) {
                this.in = in;
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
                long allowed = readable(position);
                if (allowed < 0) return -1;
                int n = in.read(ByteBuffer.wrap(b, off, (int) Math.min(len, allowed - position)), position);
                if (n > 0) position += n;
                return n;
            }

            @Override
            public void close() throws IOException {
                in.close();
            }
        }

        /** The upstream's bytes on their way into the store, copied to the scratch file as they pass. */
        private final class Tee extends FilterInputStream {
            private final FileChannel out;
            private final LongConsumer received;

            Tee(InputStream in, FileChannel out, LongConsumer received) {
                super(in);
                this.out = out;
                this.received = received;
            }

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    ByteBuffer chunk = ByteBuffer.wrap(b, off, n);
                    while (chunk.hasRemaining()) out.write(chunk);
                    received.accept(n);
                    wrote(n);
                }
                return n;
            }
        }
    }
}
