package dev.cairn.http;

import dev.cairn.values.Refusal;
import dev.cairn.values.Descriptor;
import dev.cairn.values.Digest;
import dev.cairn.registry.MediaTypes;
import dev.cairn.registry.Page;
import dev.cairn.registry.RepositoryManifests;
import dev.cairn.values.RepositoryName;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/** Listings: tags (end-8a/b), the catalog, referrers (end-12a/b). */
final class ListingResource {
    private final RepositoryManifests manifests;
    private final AccessGate gate;

    ListingResource(RepositoryManifests manifests, AccessGate gate) {
        this.manifests = manifests;
        this.gate = gate;
    }

    void tags(Exchange x, OciRoute route) {
        requireGet(x);
        RepositoryName repository = PathParameters.repository(route.name());
        Page page = manifests.tags(repository, x.query("last"), pageSize(x));
        sendPage(x, "/v2/" + repository + "/tags/list", page, Map.of("name", repository.value(), "tags", page.items()));
    }

    /**
     * Only what the caller may pull, paginated over that list: a page holds up to {@code n} names the caller
     * may see, and its Link names the last of them, never a repository the caller may not know of.
     */
    void catalog(Exchange x) {
        requireGet(x);
        long n = pageSize(x).orElse(RepositoryManifests.MAX_PAGE);
        if (n < 0) throw new Refusal(Refusal.Reason.INVALID_PAGE_SIZE, "n must not be negative");
        Page page = visiblePage(x, x.query("last"), (int) Math.min(n, RepositoryManifests.MAX_PAGE));
        sendPage(x, "/v2/_catalog", page, Map.of("repositories", page.items()));
    }

    private Page visiblePage(Exchange x, Optional<String> last, int limit) {
        if (limit == 0) return new Page(List.of(), Optional.empty());
        List<String> visible = new ArrayList<>();
        Optional<String> after = last;
        // As many stored names as the page needs, plus one to tell whether another page follows (a caller who
        // may see everything costs one query, as before the catalog was filtered); then, while the rules hide
        // names, the largest pages, so a caller who sees few of many repositories costs as few queries as can be.
        long chunk = Math.min(limit + 1L, RepositoryManifests.MAX_PAGE);
        while (true) {
            Page stored = manifests.repositories(after, OptionalLong.of(chunk));
            chunk = RepositoryManifests.MAX_PAGE;
            for (String name : stored.items()) {
                if (!gate.listable(x.caller, name)) continue;
                if (visible.size() == limit) {
                    // one more visible name exists: this page is full and another follows
                    return new Page(visible, Optional.of(visible.getLast()));
                }
                visible.add(name);
            }
            if (stored.next().isEmpty()) return new Page(visible, Optional.empty());
            // Full, and more stored names follow: say so without reading on (the next page may turn out empty).
            if (visible.size() == limit) return new Page(visible, Optional.of(visible.getLast()));
            after = stored.next();
        }
    }


    void referrers(Exchange x, OciRoute route) {
        requireGet(x);
        RepositoryName repository = PathParameters.repository(route.name());
        Digest subject = PathParameters.digest(route.argument());
        Optional<String> artifactType = x.query("artifactType");
        List<Map<String, Object>> found = new ArrayList<>();
        for (Descriptor d : manifests.referrers(repository, subject, artifactType)) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("mediaType", d.mediaType());
            entry.put("digest", d.digest().toString());
            entry.put("size", d.size());
            d.artifactType().ifPresent(t -> entry.put("artifactType", t));
            if (!d.annotations().isEmpty()) entry.put("annotations", d.annotations());
            found.add(entry);
        }
        artifactType.ifPresent(t -> x.header("OCI-Filters-Applied", "artifactType"));
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("schemaVersion", 2);
        index.put("mediaType", MediaTypes.OCI_INDEX);
        index.put("manifests", found);
        x.sendJson(200, MediaTypes.OCI_INDEX, index);
    }

    private static void sendPage(Exchange x, String path, Page page, Map<String, Object> body) {
        page.next().ifPresent(last -> x.header("Link", "<" + path + "?n=" + page.items().size() + "&last="
                + URLEncoder.encode(last, StandardCharsets.UTF_8) + ">; rel=\"next\""));
        x.sendJson(200, "application/json", body);
    }

    private static OptionalLong pageSize(Exchange x) {
        Optional<String> n = x.query("n");
        if (n.isEmpty() || n.get().isEmpty()) return OptionalLong.empty();
        try {
            return OptionalLong.of(Long.parseLong(n.get()));
        } catch (NumberFormatException e) {
            throw new Refusal(Refusal.Reason.INVALID_PAGE_SIZE, "n must be a whole number, got " + n.get());
        }
    }

    private static void requireGet(Exchange x) {
        if (!x.method().equals("GET") && !x.method().equals("HEAD")) {
            throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here");
        }
    }
}
