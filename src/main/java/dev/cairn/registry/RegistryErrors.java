package dev.cairn.registry;

import dev.cairn.storage.DigestMismatchException;

import java.util.Map;

/** The refusals the registry's roles share, each with the detail the OCI error body carries. */
final class RegistryErrors {
    private RegistryErrors() {
    }

    static RegistryException blobUnknown(Digest digest) {
        return new RegistryException(ErrorCode.BLOB_UNKNOWN, "blob " + digest + " is not in this repository",
                Map.of("digest", digest.toString()));
    }

    static RegistryException manifestUnknown(Reference reference) {
        return new RegistryException(ErrorCode.MANIFEST_UNKNOWN, "manifest " + reference + " is not in this repository",
                Map.of(reference instanceof Reference.ByTag ? "tag" : "digest", reference.toString()));
    }

    static RegistryException digestMismatch(DigestMismatchException e) {
        return new RegistryException(ErrorCode.DIGEST_INVALID, e.getMessage(), Map.of("digest", e.expected().toString()));
    }

    /** An identifier a client sent, cut short enough to put in a message. */
    static String abbreviate(String text) {
        return text.length() <= 64 ? text : text.substring(0, 64) + "...";
    }
}
