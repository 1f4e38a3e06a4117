package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.Reference;
import dev.cairn.storage.DigestMismatchException;

import java.util.Map;

/** The refusals the registry's roles share, each with the detail the OCI error body carries. */
final class RegistryErrors {
    private RegistryErrors() {
    }

    static Refusal blobUnknown(Digest digest) {
        return new Refusal(Refusal.Reason.BLOB_NOT_FOUND, "blob " + digest + " is not in this repository",
                Map.of("digest", digest.toString()));
    }

    static Refusal manifestUnknown(Reference reference) {
        return new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "manifest " + reference + " is not in this repository",
                Map.of(reference instanceof Reference.ByTag ? "tag" : "digest", reference.toString()));
    }

    static Refusal digestMismatch(DigestMismatchException e) {
        return new Refusal(Refusal.Reason.CONTENT_DIGEST_MISMATCH, e.getMessage(), Map.of("digest", e.expected().toString()));
    }
}
