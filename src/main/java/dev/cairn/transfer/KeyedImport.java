package dev.cairn.transfer;

import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Puts the build-tool cache keys of a layout ({@link KeyedLayout}) back, through each kind's own front, so each is
 * checked as a client's write is. Everything is checked first, before an image or a key is written ({@link #check}):
 * every manifest of keys parses and names a kind this Cairn writes, every key's content is in the archive at the
 * size named, and a directory's blobs are read against their digests. Then ({@link #send}) a batch of keys at a
 * time, so memory does not grow with the keys: the keys the target holds already are skipped (an interrupted
 * import run again writes only the rest, and a key a build wrote meanwhile is kept), Bazel's action results go
 * after the CAS blobs they name, and the keys written get their old times back.
 */
final class KeyedImport {
    /**
     * Keys planned in memory at once (about 600 bytes each with their maps: ~12 MiB of the launcher's 112 MiB heap); a
     * compressed tar is read once per batch.
     */
    static final int BATCH_KEYS = 20_000;
    /** Keys one lookup or one change of times names. */
    private static final int REQUEST_KEYS = 1000;

    /** What the keys' import did. */
    record Report(long written, long present, long bytesSent) {
    }

    /** What {@link #check} found: the namespaces written into, and the bytes of every key's content. */
    record Checked(Set<RepositoryName> namespaces, long bytes) {
    }

    /** A key to write: its kind and namespace, and the key as the archive has it. */
    private record Planned(String kind, RepositoryName namespace, KeyedCaches.Entry entry) {
        String id() {
            return kind + " " + namespace + " " + entry.key();
        }
    }

    private final KeyedCaches caches;
    private final Consumer<String> progress;
    private final TransferMeter meter;

    KeyedImport(KeyedCaches caches, Consumer<String> progress, TransferMeter meter) {
        this.caches = caches;
        this.progress = progress;
        this.meter = meter;
    }

    Checked check(LayoutArchive archive, List<Descriptor> chunks) throws IOException {
        Set<RepositoryName> namespaces = new java.util.TreeSet<>(java.util.Comparator.comparing(RepositoryName::value));
        long bytes = 0;
        Set<Digest> batch = new HashSet<>();
        for (Descriptor d : chunks) {
            KeyedLayout.Chunk chunk = read(archive, d);
            if (!caches.writes(chunk.kind())) {
                throw LayoutArchive.bad(archive.toString(), "holds keys of kind " + chunk.kind() + ", which this Cairn does not keep");
            }
            namespaces.add(chunk.namespace());
            for (KeyedCaches.Entry e : chunk.entries()) {
                try {
                    KeyedCaches.checkKey(chunk.kind(), e.key());
                } catch (dev.cairn.values.Refusal r) {
                    throw LayoutArchive.bad(archive.toString(), "names a key Cairn would not write: " + r.getMessage());
                }
                java.util.Optional<Long> size = archive.blobSize(e.digest());
                if (size.isEmpty()) {
                    throw LayoutArchive.bad(archive.toString(), "lacks the content " + e.digest() + " of " + chunk.kind() + " " + chunk.namespace() + " " + e.key());
                }
                if (size.get() != e.size()) {
                    throw LayoutArchive.bad(archive.toString(), chunk.kind() + " " + chunk.namespace() + " " + e.key() + " names " + e.digest()
                            + " of " + e.size() + " bytes; the archive's has " + size.get());
                }
                bytes += e.size();
                batch.add(e.digest());
            }
            if (batch.size() >= BATCH_KEYS) {
                archive.verify(batch);
                batch.clear();
            }
        }
        archive.verify(batch);
        return new Checked(namespaces, bytes);
    }

    private static KeyedLayout.Chunk read(LayoutArchive archive, Descriptor d) throws IOException {
        byte[] manifest = archive.document(d.digest()).orElseThrow(() -> LayoutArchive.bad(archive.toString(),
                "index.json names the manifest of keys " + d.digest() + ", which the archive does not hold"));
        if (manifest.length != d.size()) {
            throw LayoutArchive.bad(archive.toString(), d.digest() + " holds " + manifest.length + " bytes where " + d.size() + " are named");
        }
        try {
            return KeyedLayout.parse(manifest);
        } catch (RuntimeException e) {
            throw LayoutArchive.bad(archive.toString(), "the manifest of keys " + d.digest() + " " + e.getMessage());
        }
    }

    Report send(LayoutArchive archive, List<Descriptor> chunks) throws IOException {
        long written = 0;
        long present = 0;
        AtomicLong bytes = new AtomicLong();
        List<KeyedLayout.Chunk> batch = new ArrayList<>();
        int keys = 0;
        for (int i = 0; i < chunks.size(); i++) {
            KeyedLayout.Chunk chunk = read(archive, chunks.get(i));
            batch.add(chunk);
            keys += chunk.entries().size();
            if (keys >= BATCH_KEYS || i == chunks.size() - 1) {
                long[] done = sendBatch(archive, batch, bytes);
                written += done[0];
                present += done[1];
                batch.clear();
                keys = 0;
            }
        }
        return new Report(written, present, bytes.get());
    }

    /** One batch: what the target lacks, written (CAS before action results), then given its times; returns {written, present}. */
    private long[] sendBatch(LayoutArchive archive, List<KeyedLayout.Chunk> batch, AtomicLong bytes) throws IOException {
        // by kind and namespace, each key once (an action result's outputs travel as CAS keys the CAS export may hold too)
        Map<String, Map<String, Planned>> byNamespace = new LinkedHashMap<>();
        for (KeyedLayout.Chunk chunk : batch) {
            Map<String, Planned> keys = byNamespace.computeIfAbsent(chunk.kind() + " " + chunk.namespace(), k -> new LinkedHashMap<>());
            for (KeyedCaches.Entry e : chunk.entries()) keys.putIfAbsent(e.key(), new Planned(chunk.kind(), chunk.namespace(), e));
        }
        List<Planned> first = new ArrayList<>();
        List<Planned> last = new ArrayList<>();
        long present = 0;
        long skippedBytes = 0;
        for (Map<String, Planned> keys : byNamespace.values()) {
            List<Planned> all = new ArrayList<>(keys.values());
            for (int from = 0; from < all.size(); from += REQUEST_KEYS) {
                List<Planned> part = all.subList(from, Math.min(all.size(), from + REQUEST_KEYS));
                Planned one = part.getFirst();
                Set<String> there = caches.present(one.kind(), one.namespace(), part.stream().map(p -> p.entry().key()).toList()).keySet();
                for (Planned p : part) {
                    if (there.contains(p.entry().key())) {
                        present++;
                        skippedBytes += p.entry().size();
                    } else if (p.kind().equals(KeyedCaches.BAZEL_AC)) {
                        last.add(p);
                    } else {
                        first.add(p);
                    }
                }
            }
        }
        meter.skipped(skippedBytes);
        write(archive, first, bytes);
        write(archive, last, bytes);
        List<Planned> written = new ArrayList<>(first);
        written.addAll(last);
        backdate(written);
        Map<String, long[]> counts = new LinkedHashMap<>();
        for (Planned p : written) counts.computeIfAbsent(p.kind() + " " + p.namespace(), k -> new long[1])[0]++;
        counts.forEach((name, n) -> progress.accept("imported " + name + ": " + n[0] + " keys"));
        return new long[]{written.size(), present};
    }

    /**
     * Each key's content from the archive, in one pass: a content only one key holds goes straight from the archive;
     * one several keys hold (an empty output, one object under two names) is kept in a scratch file and sent to each,
     * since a compressed archive streams a blob once a pass.
     */
    private void write(LayoutArchive archive, List<Planned> keys, AtomicLong bytes) throws IOException {
        if (keys.isEmpty()) return;
        Map<Digest, List<Planned>> byContent = new LinkedHashMap<>();
        for (Planned p : keys) byContent.computeIfAbsent(p.entry().digest(), d -> new ArrayList<>()).add(p);
        Set<Digest> streamed = ConcurrentHashMap.newKeySet();
        try (SmallWrites small = new SmallWrites()) {
            archive.blobs(new TreeSet<>(byContent.keySet()), (digest, size, content) -> {
                List<Planned> holders = byContent.get(digest);
                if (holders.size() == 1 && size <= SMALL_CONTENT) {
                    // read whole (and so checked), then sent beside others: a compressed archive is one stream, and
                    // one small PUT at a time held an import of ccache-sized keys to a few hundred a second
                    byte[] whole = content.readAllBytes();
                    Planned p = holders.getFirst();
                    small.send(() -> caches.put(p.kind(), p.namespace(), p.entry(), meter.metered(new java.io.ByteArrayInputStream(whole))));
                } else if (holders.size() == 1) {
                    Planned p = holders.getFirst();
                    caches.put(p.kind(), p.namespace(), p.entry(), meter.metered(content));
                    content.transferTo(java.io.OutputStream.nullOutputStream()); // to its end, so its digest is checked
                } else {
                    java.nio.file.Path scratch = java.nio.file.Files.createTempFile("cairn-import-content-", ".blob");
                    try {
                        java.nio.file.Files.copy(content, scratch, java.nio.file.StandardCopyOption.REPLACE_EXISTING); // checked at its end
                        for (Planned p : holders) {
                            try (InputStream in = java.nio.file.Files.newInputStream(scratch)) {
                                caches.put(p.kind(), p.namespace(), p.entry(), meter.metered(in));
                            }
                        }
                    } finally {
                        java.nio.file.Files.deleteIfExists(scratch);
                    }
                }
                bytes.addAndGet(size * holders.size());
                streamed.add(digest);
            });
            small.finish();
        }
        if (streamed.size() < byContent.size()) {
            Set<Digest> missing = new TreeSet<>(byContent.keySet());
            missing.removeAll(streamed);
            throw LayoutArchive.bad(archive.toString(), "no longer holds " + missing.iterator().next() + " (changed since it was checked?)");
        }
    }

    /** Contents up to this size are read whole and sent several at once. */
    private static final int SMALL_CONTENT = 1 << 20;

    /** Small writes in flight, at most {@link #IN_FLIGHT} at once (so at most that many small contents in memory); the first failure ends them. */
    private static final int IN_FLIGHT = 8;

    private interface Write {
        void run() throws IOException;
    }

    private static final class SmallWrites implements AutoCloseable {
        private final java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(Parallel.WIDTH,
                Thread.ofVirtual().name("cairn-import-key-", 0).factory());
        private final java.util.concurrent.Semaphore inFlight = new java.util.concurrent.Semaphore(IN_FLIGHT);
        private final java.util.concurrent.atomic.AtomicReference<IOException> failure = new java.util.concurrent.atomic.AtomicReference<>();

        void send(Write write) throws IOException {
            rethrow();
            try {
                inFlight.acquire();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while keys were being written");
            }
            pool.execute(() -> {
                try {
                    if (failure.get() == null) write.run();
                } catch (IOException e) {
                    failure.compareAndSet(null, e);
                } catch (RuntimeException | Error e) {
                    // an Error too: on this pool thread it would go nowhere, and the import would say the key was written
                    failure.compareAndSet(null, new IOException(e.toString(), e));
                } finally {
                    inFlight.release();
                }
            });
        }

        /** Waits for every write sent; throws the first failure. */
        void finish() throws IOException {
            try {
                inFlight.acquire(IN_FLIGHT);
                inFlight.release(IN_FLIGHT);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while keys were being written");
            }
            rethrow();
        }

        private void rethrow() throws IOException {
            IOException e = failure.get();
            if (e != null) throw e;
        }

        @Override
        public void close() {
            pool.shutdownNow();
        }
    }

    /** The written keys' old times, a request per thousand keys of a namespace. */
    private void backdate(List<Planned> written) throws IOException {
        Map<String, List<KeyedCaches.KeyTimes>> byNamespace = new LinkedHashMap<>();
        Map<String, Planned> sample = new LinkedHashMap<>();
        for (Planned p : written) {
            String name = p.kind() + " " + p.namespace();
            sample.putIfAbsent(name, p);
            byNamespace.computeIfAbsent(name, k -> new ArrayList<>())
                    .add(new KeyedCaches.KeyTimes(p.entry().key(), p.entry().pushedAt(), p.entry().lastUsed()));
        }
        for (var e : byNamespace.entrySet()) {
            Planned one = sample.get(e.getKey());
            List<KeyedCaches.KeyTimes> times = e.getValue();
            for (int from = 0; from < times.size(); from += REQUEST_KEYS) {
                caches.backdate(one.kind(), one.namespace(), times.subList(from, Math.min(times.size(), from + REQUEST_KEYS)));
            }
        }
    }
}
