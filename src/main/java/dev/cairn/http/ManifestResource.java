package dev.cairn.http;

import dev.cairn.values.ClientText;
import dev.cairn.values.Refusal;
import dev.cairn.metadata.StoredManifest;
import dev.cairn.registry.ManifestPushed;
import dev.cairn.registry.MediaTypes;
import dev.cairn.values.Reference;
import dev.cairn.registry.RepositoryManifests;
import dev.cairn.values.RepositoryName;

import java.util.List;
import java.util.Map;

/** {@code GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>} (end-3, end-7, end-9). */
final class ManifestResource {
    /**
     * {@code Cairn-Read: transfer} on a manifest GET: the read is not a use (no last use recorded, no hit counted),
     * as {@code cairn export} reads, so that moving a cache leaves its eviction order and {@code --since} as they were.
     */
    static final String TRANSFER_READ_HEADER = "Cairn-Read";

    private final RepositoryManifests manifests;

    ManifestResource(RepositoryManifests manifests) {
        this.manifests = manifests;
    }

    void handle(Exchange x, OciRoute route) {
        RepositoryName repository = PathParameters.repository(route.name());
        Reference reference = readable(x, repository, route.argument());
        switch (x.method()) {
            case "GET", "HEAD" -> get(x, repository, reference);
            case "PUT" -> {
                ManifestPushed pushed = manifests.putManifest(repository, reference, x.header("Content-Type"), x.body());
                x.header("Location", "/v2/" + repository + "/manifests/" + pushed.digest())
                        .header("Docker-Content-Digest", pushed.digest().toString());
                pushed.subject().ifPresent(subject -> x.header("OCI-Subject", subject.toString()));
                x.send(201);
            }
            case "DELETE" -> {
                manifests.deleteManifest(repository, reference);
                x.send(202);
            }
            default -> throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on a manifest");
        }
    }

    /**
     * The reference; for a read or a deletion, one that is neither a valid tag nor a digest names something
     * that cannot exist, so it is not found (as Distribution answers, and the conformance suite expects). A
     * push with it is refused as invalid.
     */
    private static Reference readable(Exchange x, RepositoryName repository, String raw) {
        try {
            return PathParameters.reference(raw);
        } catch (Refusal invalid) {
            if (!x.method().equals("GET") && !x.method().equals("HEAD") && !x.method().equals("DELETE")) throw invalid;
            throw new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "no manifest " + ClientText.shortened(raw) + " in " + repository
                    + ": " + invalid.getMessage(), Map.of("reference", ClientText.shortened(raw)));
        }
    }

    private void get(Exchange x, RepositoryName repository, Reference reference) {
        // an export reads a cache without using it: its reads must not make everything it moves look fresh
        boolean use = !x.header(TRANSFER_READ_HEADER).map(v -> v.equalsIgnoreCase("transfer")).orElse(false);
        StoredManifest manifest = use ? manifests.getManifest(repository, reference) : manifests.readWithoutUse(repository, reference);
        List<String> accepted = x.headerValues("Accept").stream().map(MediaTypes::bare).toList();
        if (!acceptable(manifest.mediaType(), accepted)) {
            throw new Refusal(Refusal.Reason.MANIFEST_NOT_FOUND, "manifest " + reference + " is " + manifest.mediaType()
                    + ", which the request's Accept header does not include",
                    Map.of("mediaType", manifest.mediaType(), "accept", String.join(", ", accepted)));
        }
        x.header("Docker-Content-Digest", manifest.digest().toString())
                .header("ETag", "\"" + manifest.digest() + "\"")
                .sendBytes(200, manifest.mediaType(), manifest.content());
    }

    /**
     * Manifests are served as pushed (Cairn converts nothing). A client that lists types it accepts and
     * leaves this one out gets a 404, as from Distribution; no Accept, or a wildcard, takes anything.
     */
    static boolean acceptable(String mediaType, List<String> accepted) {
        if (accepted.isEmpty()) return true;
        for (String type : accepted) {
            if (type.equals(mediaType) || type.equals("*/*") || type.equals("application/*") || type.equals("application/json")) {
                return true;
            }
        }
        return false;
    }
}
