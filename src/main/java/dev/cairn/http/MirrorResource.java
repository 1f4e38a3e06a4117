package dev.cairn.http;

import dev.cairn.mirror.Mirror;
import dev.cairn.metadata.StoredManifest;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.ClientText;
import dev.cairn.values.Digest;
import dev.cairn.values.Reference;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Manifest and blob reads of a mirrored repository ({@code mirrors:}), answered by {@link Mirror}: from here, from
 * the upstream as it arrives, or, while the upstream fails, stale, which the answer says in
 * {@value #STALE_HEADER} (seconds since the upstream last confirmed the tag) and in a {@code Warning: 110}.
 */
final class MirrorResource {
    static final String STALE_HEADER = "Cairn-Mirror-Stale";

    private final Mirror mirror;

    MirrorResource(Mirror mirror) {
        this.mirror = mirror;
    }

    /** DENIED for a write into a mirrored repository. */
    void refuseWrites(RepositoryName repository) {
        mirror.refusesWrites(repository).ifPresent(rule -> {
            throw new Refusal(Refusal.Reason.ACCESS_DENIED, repository + " is a mirror of " + rule.upstream().url()
                    + " and takes no pushes or deletions");
        });
    }

    /** Answers a manifest GET or HEAD of a mirrored repository; false when the repository is not mirrored (or the method is not a read). */
    boolean manifest(Exchange x, OciRoute route) {
        if (!x.method().equals("GET") && !x.method().equals("HEAD")) return false;
        RepositoryName repository = PathParameters.repository(route.name());
        if (mirror.ruleFor(repository).isEmpty()) return false;
        Reference reference;
        try {
            reference = PathParameters.reference(route.argument());
        } catch (Refusal invalid) {
            throw new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "no manifest " + ClientText.shortened(route.argument()) + " in " + repository
                    + ": " + invalid.getMessage(), Map.of("reference", ClientText.shortened(route.argument())));
        }
        Mirror.ServedManifest served = mirror.manifest(repository, reference, x.isHead());
        String mediaType = served.manifest().map(StoredManifest::mediaType).orElseGet(() -> served.description().orElseThrow().mediaType());
        List<String> accepted = x.headerValues("Accept").stream().map(MediaTypes::bare).toList();
        if (!ManifestResource.acceptable(mediaType, accepted)) {
            throw new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "manifest " + reference + " is " + mediaType
                    + ", which the request's Accept header does not include",
                    Map.of("mediaType", mediaType, "accept", String.join(", ", accepted)));
        }
        served.staleSince().ifPresent(since -> x.header(STALE_HEADER, Long.toString(mirror.ageSeconds(since)))
                .header("Warning", "110 cairn \"Response is Stale: the upstream failed\""));
        if (served.manifest().isPresent()) {
            StoredManifest manifest = served.manifest().get();
            x.header("Docker-Content-Digest", manifest.digest().toString())
                    .header("ETag", "\"" + manifest.digest() + "\"")
                    .sendBytes(200, manifest.mediaType(), manifest.content());
        } else {
            // a HEAD of what is not held here: the upstream's own answer, nothing fetched
            var d = served.description().orElseThrow();
            x.header("Docker-Content-Digest", d.digest().toString()).header("ETag", "\"" + d.digest() + "\"")
                    .sendStream(200, d.mediaType(), d.size(), java.io.InputStream.nullInputStream());
        }
        return true;
    }

    /** Answers a blob GET or HEAD the mirrored repository does not hold yet; false when it holds it (or is not mirrored). */
    boolean blob(Exchange x, OciRoute route) {
        if (!x.method().equals("GET") && !x.method().equals("HEAD")) return false;
        RepositoryName repository = PathParameters.repository(route.name());
        if (mirror.ruleFor(repository).isEmpty()) return false;
        Digest digest;
        try {
            digest = PathParameters.digest(route.argument());
        } catch (Refusal invalid) {
            return false; // the blob resource answers a malformed digest as any other
        }
        Optional<Mirror.IncomingBlob> incoming = mirror.blob(repository, digest);
        if (incoming.isEmpty()) return false;
        x.header("Docker-Content-Digest", digest.toString());
        if (x.isHead()) {
            try {
                incoming.get().content().close();
            } catch (IOException e) {
                // nothing was read from it
            }
        }
        // the bytes as they arrive: a fetch that fails half-way ends the body short, and the client retries
        x.sendStream(200, "application/octet-stream", incoming.get().length(), incoming.get().content());
        return true;
    }
}
