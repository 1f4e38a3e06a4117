package dev.cairn.http;

import dev.cairn.mirror.Mirror;
import dev.cairn.metadata.StoredManifest;
import dev.cairn.registry.MediaTypes;
import dev.cairn.registry.RepositoryManifests;
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
        Optional<Mirror.ServedManifest> answer = mirror.manifest(repository, reference, x.isHead());
        if (answer.isEmpty()) return false;
        Mirror.ServedManifest served = answer.get();
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

    /**
     * Answers a mirrored repository's tag list from its upstream (or, while that fails, from what is held here, marked
     * stale); false when the repository is not mirrored, the upstream does not hold it, or the request is one the
     * listing of what is held here answers or refuses (a bad {@code n}, {@code n=0}, not a GET).
     */
    boolean tags(Exchange x, OciRoute route) {
        Optional<RepositoryName> mirrored = mirroredRead(x, route);
        if (mirrored.isEmpty()) return false;
        RepositoryName repository = mirrored.get();
        int n = RepositoryManifests.MAX_PAGE;
        Optional<String> asked = x.query("n").filter(v -> !v.isEmpty());
        if (asked.isPresent()) {
            try {
                long value = Long.parseLong(asked.get());
                if (value <= 0) return false;
                n = (int) Math.min(value, RepositoryManifests.MAX_PAGE);
            } catch (NumberFormatException e) {
                return false;
            }
        }
        Optional<Mirror.TagListing> listing = mirror.tags(repository, x.query("last"), n);
        if (listing.isEmpty()) return false;
        List<String> tags = listing.get().tags();
        if (listing.get().stale()) x.header(STALE_HEADER, "0").header("Warning", "110 cairn \"Response is Stale: the upstream failed\"");
        if (listing.get().more()) {
            x.header("Link", "</v2/" + repository + "/tags/list?n=" + n + "&last="
                    + java.net.URLEncoder.encode(tags.getLast(), java.nio.charset.StandardCharsets.UTF_8) + ">; rel=\"next\"");
        }
        x.sendJson(200, "application/json", Map.of("name", repository.value(), "tags", tags));
        return true;
    }

    /** Answers a mirrored manifest's referrers from the upstream; false when the listing of what is held here answers. */
    boolean referrers(Exchange x, OciRoute route) {
        Optional<RepositoryName> mirrored = mirroredRead(x, route);
        if (mirrored.isEmpty()) return false;
        RepositoryName repository = mirrored.get();
        Digest subject;
        try {
            subject = PathParameters.digest(route.argument());
        } catch (Refusal invalid) {
            return false;
        }
        Optional<String> artifactType = x.query("artifactType");
        Optional<List<Map<String, Object>>> found = mirror.referrers(repository, subject, artifactType);
        if (found.isEmpty()) return false;
        artifactType.ifPresent(t -> x.header("OCI-Filters-Applied", "artifactType"));
        Map<String, Object> index = new java.util.LinkedHashMap<>();
        index.put("schemaVersion", 2);
        index.put("mediaType", MediaTypes.OCI_INDEX);
        index.put("manifests", found.get());
        x.sendJson(200, MediaTypes.OCI_INDEX, index);
        return true;
    }

    /** The repository of a GET or HEAD when a mirror answers its reads; empty for any other request. */
    private Optional<RepositoryName> mirroredRead(Exchange x, OciRoute route) {
        if (!x.method().equals("GET") && !x.method().equals("HEAD")) return Optional.empty();
        RepositoryName repository = PathParameters.repository(route.name());
        return mirror.ruleFor(repository).isPresent() ? Optional.of(repository) : Optional.empty();
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
        if (x.isHead()) {
            java.util.OptionalLong length = mirror.blobLength(repository, digest);
            if (length.isPresent()) {
                // not held here: the upstream's word, nothing fetched (a HEAD is a client asking, not pulling)
                x.header("Docker-Content-Digest", digest.toString())
                        .sendStream(200, "application/octet-stream", length.getAsLong(), java.io.InputStream.nullInputStream());
                return true;
            }
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
