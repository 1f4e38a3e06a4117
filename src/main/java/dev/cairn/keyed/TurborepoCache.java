package dev.cairn.keyed;

import dev.cairn.metadata.EntryRecords;
import dev.cairn.values.ClientText;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Pattern;

/**
 * Turborepo's remote cache (the {@code /v8/artifacts} API) over the keyed cache: an artifact is content
 * under its task hash, in the team's namespace, with what turbo says of it (how long the task took, the
 * artifact's signature when artifacts are signed) kept and given back with it.
 */
public final class TurborepoCache {
    public static final String KIND = "turbo";
    /** turbo's hashes are hex; other clients of the API use other alphabets: one path segment of these. */
    private static final Pattern HASH = Pattern.compile("[A-Za-z0-9_.-]{1,128}");
    /** The API's bound on x-artifact-tag. */
    private static final int MAX_TAG = 600;
    /** The longest a task may say it took: the time hits saved adds these up, and must not overflow. */
    private static final long MAX_DURATION_MILLIS = 7L * 24 * 3600 * 1000;
    /** Hashes one batch query may ask about. */
    public static final int MAX_QUERIED = 10_000;

    private final KeyedCache cache;

    public TurborepoCache(KeyedCache cache) {
        this.cache = cache;
    }

    public long maxEntryBytes() {
        return cache.maxEntryBytes();
    }

    public Refusal tooLarge(String size) {
        return cache.tooLarge(size);
    }

    public Optional<KeyedCache.Hit> read(RepositoryName team, String hash, boolean withContent) {
        return cache.read(KIND, team, key(hash), withContent);
    }

    public KeyedCache.Hit write(RepositoryName team, String hash, OptionalLong declaredLength, InputStream body, OptionalLong durationMillis,
                                Optional<String> tag) {
        CacheKey key = key(hash);
        if (durationMillis.isPresent() && (durationMillis.getAsLong() < 0 || durationMillis.getAsLong() > MAX_DURATION_MILLIS)) {
            throw new Refusal(Refusal.Reason.INVALID_REQUEST, "x-artifact-duration is a number of milliseconds up to " + MAX_DURATION_MILLIS
                    + " (a week), not " + durationMillis.getAsLong());
        }
        if (tag.isPresent() && (tag.get().length() > MAX_TAG || !tag.get().chars().allMatch(c -> c > 0x20 && c < 0x7f))) {
            throw new Refusal(Refusal.Reason.INVALID_REQUEST, "x-artifact-tag is at most " + MAX_TAG + " printable characters");
        }
        return cache.write(KIND, team, key, declaredLength, body, Optional.empty(), List.of(), new EntryRecords.ContentNotes(durationMillis, tag));
    }

    /** For each hash asked about, what is stored under it (size, duration, tag), or empty: turbo's batch query. Counts no lookups. */
    public Map<String, Optional<KeyedCache.Hit>> query(RepositoryName team, List<String> hashes) {
        if (hashes.size() > MAX_QUERIED) {
            throw new Refusal(Refusal.Reason.INVALID_REQUEST, "at most " + MAX_QUERIED + " hashes a query, not " + hashes.size());
        }
        Map<String, Optional<KeyedCache.Hit>> found = new LinkedHashMap<>();
        for (String hash : hashes) found.put(hash, cache.peek(KIND, team, key(hash)));
        return found;
    }

    /** The key an artifact hash is stored under; INVALID_KEY for a hash that is not one path segment of its characters. */
    public static CacheKey key(String hash) {
        if (!HASH.matcher(hash).matches()) {
            throw new Refusal(Refusal.Reason.INVALID_KEY, "an artifact hash is one path segment of letters, digits, '.', '_' and '-', not '"
                    + ClientText.shortened(hash) + "'");
        }
        return new CacheKey(hash);
    }
}
