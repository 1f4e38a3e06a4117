package dev.cairn.http;

import dev.cairn.registry.Digest;
import dev.cairn.registry.ErrorCode;
import dev.cairn.registry.Reference;
import dev.cairn.registry.RegistryException;
import dev.cairn.registry.RepositoryName;

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
            throw new RegistryException(ErrorCode.NAME_INVALID, "invalid repository name: percent-encoding is not allowed");
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
            throw new RegistryException(ErrorCode.DIGEST_INVALID, "malformed percent-encoding in path");
        }
    }
}
