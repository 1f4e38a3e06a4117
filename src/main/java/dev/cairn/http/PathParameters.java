package dev.cairn.http;

import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.Reference;
import dev.cairn.values.RepositoryName;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

/** Turns the raw path pieces of a {@link OciRoute} into domain values, refusing anything ambiguous. */
final class PathParameters {
    private PathParameters() {
    }

    /**
     * Names need no percent-encoding (they are lower-case ASCII), so an encoded name is a path trick
     * ({@code %2e%2e}, {@code %2f}) and is refused before anything else happens.
     */
    static RepositoryName repository(String raw) {
        if (raw.indexOf('%') >= 0) {
            throw new Refusal(Refusal.Reason.INVALID_REPOSITORY_NAME, "invalid repository name: percent-encoding is not allowed");
        }
        return RepositoryName.of(raw);
    }

    static Digest digest(String raw) {
        return Digest.parse(decode(raw));
    }

    static Reference reference(String raw) {
        return Reference.parse(decode(raw));
    }

    /** Strict percent-decoding of one path segment ('+' stays '+'); some clients send ':' as %3A. */
    static String decode(String raw) {
        if (raw.indexOf('%') < 0) return raw;
        try {
            return URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new Refusal(Refusal.Reason.INVALID_DIGEST, "malformed percent-encoding in path");
        }
    }
}
