package dev.cairn.transfer;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A Cairn's build-tool caches as the commands that move caches see them: the kinds and namespaces it holds
 * (ccache's and Gradle's {@code cache}, Bazel's {@code bazel-ac} and {@code bazel-cas}, Turborepo's {@code turbo}),
 * their keys with times, read without counting a use, and written back through each kind's own protocol.
 */
public interface KeyedCaches {
    /** Bazel's action cache: its entries hold the CAS blobs they name, which must be in the CAS before them. */
    String BAZEL_AC = "bazel-ac";
    /** Bazel's CAS: a blob under its own SHA-256 (hex). */
    String BAZEL_CAS = "bazel-cas";

    /**
     * Refuses (INVALID_KEY) a key the kind's own front would not take, before it goes into a URL: a key an archive or
     * a source names is never a path trick ({@code ../other/key}) that would write somewhere else.
     */
    static void checkKey(String kind, String key) {
        switch (kind) {
            case "cache" -> new dev.cairn.keyed.CacheKey(key);
            case BAZEL_AC, BAZEL_CAS -> dev.cairn.keyed.BazelCache.casDigest(key);
            case "turbo" -> dev.cairn.keyed.TurborepoCache.key(key);
            default -> throw new dev.cairn.values.Refusal(dev.cairn.values.Refusal.Reason.INVALID_KEY, "Cairn keeps no keys of kind " + kind);
        }
    }

    /** A kind and namespace holding keys, and how many. */
    record Namespace(String kind, RepositoryName namespace, long keys) {
    }

    /** A blob an entry holds besides its content (a Bazel action result's outputs). */
    record Held(Digest digest, long size) {
    }

    /** A key: its content, times, what the client said of it (build time, signature) and the blobs it holds besides. */
    record Entry(String key, Digest digest, long size, Instant pushedAt, Instant lastUsed, OptionalLong costMillis,
                 Optional<String> signature, List<Held> holds) {
        public Entry {
            holds = List.copyOf(holds);
        }
    }

    /** Every kind and namespace the caller may read; empty from a registry that is not a Cairn. */
    List<Namespace> namespaces() throws IOException;

    /** A page of the namespace's keys after {@code after} (exclusive; "" for the first), in the registry's order; empty at the end. */
    List<Entry> entries(String kind, RepositoryName namespace, String after) throws IOException;

    /** A blob an entry of the namespace holds, read without counting a use; empty when no entry holds it now (evicted). */
    Optional<InputStream> blob(String kind, RepositoryName namespace, Digest digest) throws IOException;

    /** Which of {@code keys} (at most 1,000) hold content now, and its digest. */
    Map<String, Digest> present(String kind, RepositoryName namespace, Collection<String> keys) throws IOException;

    /** True when {@link #put} can write entries of {@code kind}. */
    boolean writes(String kind);

    /** Stores {@code size} bytes of {@code body} under the entry's key, with what the client said of it, through the kind's own front. */
    void put(String kind, RepositoryName namespace, Entry entry, InputStream body) throws IOException;

    /** Times for a key. */
    record KeyTimes(String key, Instant pushedAt, Instant lastUsed) {
    }

    /** Moves freshly written keys back to their times (at most 1,000); the number moved, 0 where this caller may not. */
    int backdate(String kind, RepositoryName namespace, List<KeyTimes> times) throws IOException;
}
