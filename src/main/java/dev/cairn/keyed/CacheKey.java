package dev.cairn.keyed;

import dev.cairn.values.ClientText;
import dev.cairn.values.Refusal;

import java.nio.charset.StandardCharsets;

/**
 * A key of the keyed cache: a path of '/'-separated segments, as clients name files (ccache's
 * {@code a1/b2c3...}, Gradle's hex key). No empty, '.' or '..' segment, no control character, at most
 * {@link #MAX_BYTES} bytes of UTF-8: a key is never a path trick, and never ambiguous with another one.
 */
public record CacheKey(String path) {
    public static final int MAX_BYTES = 1024;

    public CacheKey {
        if (path.isEmpty()) throw invalid(path, "a key may not be empty");
        if (path.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) throw invalid(path, "a key is at most " + MAX_BYTES + " bytes");
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c < 0x20 || c == 0x7f) throw invalid(path, "a key may not hold control characters");
            // Keys of the Basic Multilingual Plane only (no surrogates, no U+FFFF): "\uFFFF" then sorts after every key.
            if (Character.isSurrogate(c) || c == '\uffff') throw invalid(path, "a key may hold letters of the Basic Multilingual Plane only");
        }
        for (String segment : path.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw invalid(path, "a key's segments may not be empty, '.' or '..'");
            }
        }
    }

    /** Sorts after every key (in the byte order of UTF-8, which the metadata stores use). */
    static final String AFTER_EVERY_KEY = "\uffff";

    private static Refusal invalid(String path, String why) {
        return new Refusal(Refusal.Reason.INVALID_KEY, "invalid cache key '" + ClientText.shortened(path) + "': " + why);
    }
}
