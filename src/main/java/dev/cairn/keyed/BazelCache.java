package dev.cairn.keyed;

import dev.cairn.metadata.EntryRecords;
import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Bazel's remote cache (its HTTP protocol: {@code /ac/<hash>}, {@code /cas/<hash>}) over the keyed cache. The
 * CAS holds blobs under their own SHA-256, verified as they arrive. An action-cache entry holds its own bytes
 * and every blob it names (output files, the files of output directories' trees, stdout and stderr), so no
 * eviction can take an output of an action whose result is still served: a hit never fails later. A CAS
 * read finds a blob under its CAS key or, when that key was evicted, held by an action result of the
 * namespace. The action cache's hits and misses are counted apart from the CAS's: CAS reads follow a hit.
 */
public final class BazelCache {
    public static final String ACTION_CACHE = "bazel-ac";
    public static final String CAS = "bazel-cas";
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final Digest EMPTY = Digest.sha256(new byte[0]);
    /**
     * Action results are small protobuf messages (a few hundred bytes an output), read whole; a Tree names every
     * file of an output directory and is read as it streams, one directory at a time. The bounds keep what one
     * request holds in memory small whatever a client sends.
     */
    private static final int MAX_ACTION_RESULT_BYTES = 4 << 20;
    private static final int MAX_DIRECTORY_BYTES = 16 << 20;
    /** What the trees one result names may hold together, and how many blobs it may name: each is a row the entry holds. */
    private static final long MAX_TREE_BYTES = 256L << 20;
    static final int MAX_NAMED_BLOBS = 50_000;

    private final KeyedCache cache;

    public BazelCache(KeyedCache cache) {
        this.cache = cache;
    }

    public long maxEntryBytes() {
        return cache.maxEntryBytes();
    }

    public Refusal tooLarge(String size) {
        return cache.tooLarge(size);
    }

    /** The digest a key of either store names: 64 lower-case hex digits, SHA-256 (KEY_INVALID otherwise). */
    public static Digest casDigest(String hash) {
        if (!SHA256_HEX.matcher(hash).matches()) {
            throw new Refusal(Refusal.Reason.INVALID_KEY, "a Bazel cache key is a SHA-256 in 64 lower-case hex digits, not '"
                    + dev.cairn.values.ClientText.shortened(hash) + "'");
        }
        return new Digest("sha256", hash);
    }

    public Optional<KeyedCache.Hit> readCas(RepositoryName namespace, String hash, boolean withContent) {
        Digest digest = casDigest(hash);
        if (digest.equals(EMPTY)) { // Bazel never uploads the empty blob; it is always there
            KeyedCache.Hit empty = new KeyedCache.Hit(EMPTY, 0, java.time.Instant.EPOCH, EntryRecords.ContentNotes.NONE,
                    Optional.of(InputStream.nullInputStream()));
            cache.counted(CAS, namespace, Optional.of(empty), withContent);
            return Optional.of(empty);
        }
        Optional<KeyedCache.Hit> hit = cache.find(CAS, namespace, new CacheKey(hash), withContent);
        if (hit.isEmpty()) hit = cache.findHeld(ACTION_CACHE, namespace, digest, withContent);
        cache.counted(CAS, namespace, hit, withContent);
        return hit;
    }

    /** Stores a CAS blob; CONTENT_DIGEST_MISMATCH (nothing kept) when its bytes do not hash to its key. */
    public KeyedCache.Hit writeCas(RepositoryName namespace, String hash, OptionalLong declaredLength, InputStream body) {
        Digest digest = casDigest(hash);
        return cache.write(CAS, namespace, new CacheKey(hash), declaredLength, body, Optional.of(digest), List.of(), EntryRecords.ContentNotes.NONE);
    }

    public Optional<KeyedCache.Hit> readActionResult(RepositoryName namespace, String hash, boolean withContent) {
        casDigest(hash);
        return cache.read(ACTION_CACHE, namespace, new CacheKey(hash), withContent);
    }

    /**
     * Stores an action result once every blob it names is in the namespace's CAS; refused (INVALID_REQUEST,
     * naming one) when one is not, or when the message is not an ActionResult.
     */
    public KeyedCache.Hit writeActionResult(RepositoryName namespace, String hash, OptionalLong declaredLength, InputStream body) {
        casDigest(hash);
        long limit = Math.min(MAX_ACTION_RESULT_BYTES, cache.maxEntryBytes());
        if (declaredLength.isPresent() && declaredLength.getAsLong() > limit) throw cache.tooLarge(declaredLength.getAsLong() + " bytes");
        byte[] message = readAtMost(body, limit);
        ActionResults.Named named = ActionResults.actionResult(message);
        Set<Digest> held = new LinkedHashSet<>();
        for (ActionResults.CasDigest file : named.files()) held.add(file.digest());
        Set<Digest> trees = new LinkedHashSet<>();
        long treeBytes = 0;
        for (ActionResults.CasDigest tree : named.trees()) {
            if (!trees.add(tree.digest())) continue; // each tree is read once, however many directories name it
            treeBytes += tree.size();
            if (treeBytes > MAX_TREE_BYTES) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the action result's output directories' trees are over " + MAX_TREE_BYTES + " bytes");
            }
            held.add(tree.digest());
            treeFiles(namespace, tree, held);
        }
        if (held.size() > MAX_NAMED_BLOBS) throw tooManyNamed(held.size());
        held.remove(EMPTY);
        for (Digest digest : held) {
            if (cache.peek(CAS, namespace, new CacheKey(digest.hex())).isEmpty() // a check, not a use of the CAS key
                    && cache.findHeld(ACTION_CACHE, namespace, digest, false).isEmpty()) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the action result names " + digest + ", which the CAS of "
                        + namespace + " does not hold: upload it first", java.util.Map.of("digest", digest.toString()));
            }
        }
        return cache.write(ACTION_CACHE, namespace, new CacheKey(hash), OptionalLong.of(message.length), new ByteArrayInputStream(message),
                Optional.empty(), new ArrayList<>(held), EntryRecords.ContentNotes.NONE);
    }

    /** Adds the files {@code tree} names to {@code held}, refusing the result once it names more than {@link #MAX_NAMED_BLOBS}. */
    private void treeFiles(RepositoryName namespace, ActionResults.CasDigest tree, Set<Digest> held) {
        Optional<KeyedCache.Hit> hit = cache.find(CAS, namespace, new CacheKey(tree.digest().hex()), true);
        if (hit.isEmpty()) hit = cache.findHeld(ACTION_CACHE, namespace, tree.digest(), true);
        if (hit.isEmpty()) {
            throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the action result names the tree " + tree.digest() + ", which the CAS of "
                    + namespace + " does not hold: upload it first", java.util.Map.of("digest", tree.digest().toString()));
        }
        try (InputStream in = hit.get().content().orElseThrow()) {
            ActionResults.treeFiles(in, MAX_DIRECTORY_BYTES, file -> {
                held.add(file.digest());
                if (held.size() > MAX_NAMED_BLOBS) throw tooManyNamed(held.size());
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Refusal tooManyNamed(int count) {
        return new Refusal(Refusal.Reason.INVALID_REQUEST, "the action result names more than " + MAX_NAMED_BLOBS
                + " blobs (" + count + " so far); such a result is not cached");
    }

    private byte[] readAtMost(InputStream body, long limit) {
        try {
            byte[] bytes = body.readNBytes((int) limit + 1);
            if (bytes.length > limit) throw cache.tooLarge("more than " + limit + " bytes");
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
