package dev.cairn.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.auth.Action;
import dev.cairn.metadata.ManifestTimes;
import dev.cairn.registry.RepositoryManifests;
import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the OCI API does not say about a repository's entries, for the commands that move caches:
 * <ul>
 *   <li>{@code GET /api/v1/repositories/<name>/entries[?n=&last=]}: its manifests with their tags, push time and
 *   last use, a page at a time in digest order (Link: rel="next" as the tag list has it); needs pull;</li>
 *   <li>{@code PUT /api/v1/repositories/<name>/entries/<digest>/times} with {@code {"pushedAt","lastUsed"}}: moves
 *   them back to the given times (never forward, never past now), so an imported cache keeps its eviction order
 *   and its age for the freshness rules; needs push.</li>
 * </ul>
 * Checked per repository like the registry's own routes, not as admin: export needs what a pull needs, import
 * what a push needs.
 */
final class EntryTimesResource implements Front {
    private static final String PREFIX = "/api/v1/repositories/";
    private static final Pattern TIMES = Pattern.compile("(.+)/entries/([^/]+)/times");

    private final RepositoryManifests manifests;

    EntryTimesResource(RepositoryManifests manifests) {
        this.manifests = manifests;
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        if (!rawPath.startsWith(PREFIX)) return Optional.empty();
        String rest = rawPath.substring(PREFIX.length());
        Matcher times = TIMES.matcher(rest);
        if (times.matches()) return Optional.of(new Route(times.group(1), Optional.of(times.group(2))));
        if (rest.endsWith("/entries")) return Optional.of(new Route(rest.substring(0, rest.length() - "/entries".length()), Optional.empty()));
        return Optional.empty();
    }

    private final class Route implements Routed {
        private final String rawName;
        private final Optional<String> rawDigest;
        private RepositoryName repository;

        Route(String rawName, Optional<String> rawDigest) {
            this.rawName = rawName;
            this.rawDigest = rawDigest;
        }

        @Override
        public void authorize(Exchange x, AccessGate gate) {
            repository = RepositoryName.of(rawName);
            // changing an entry's times changes what is evicted first: an admin's to do (import as an admin keeps the
            // ages; anyone else's import leaves its entries as new as their push)
            if (rawDigest.isPresent()) gate.requireAdmin(x.caller);
            else gate.require(x.caller, repository.value(), Action.PULL);
        }

        @Override
        public void serve(Exchange x) {
            if (rawDigest.isPresent()) {
                if (!x.method().equals("PUT")) throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here; use PUT");
                backdate(x, Digest.parse(rawDigest.get()));
            } else {
                if (!x.method().equals("GET")) throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here; use GET");
                list(x);
            }
        }

        @Override
        public String allowedMethods() {
            return rawDigest.isPresent() ? "PUT" : "GET";
        }

        @Override
        public String nameForLog() {
            return rawName;
        }

        private void list(Exchange x) {
            OptionalLong n = OptionalLong.empty();
            Optional<String> size = x.query("n").filter(s -> !s.isEmpty());
            if (size.isPresent()) {
                try {
                    n = OptionalLong.of(Long.parseLong(size.get()));
                } catch (NumberFormatException e) {
                    throw new Refusal(Refusal.Reason.INVALID_PAGE_SIZE, "n must be a whole number, got " + size.get());
                }
            }
            Optional<Digest> last = x.query("last").filter(s -> !s.isEmpty()).map(Digest::parse);
            List<ManifestTimes> page = manifests.entries(repository, last, n);
            List<Map<String, Object>> entries = new ArrayList<>();
            for (ManifestTimes m : page) {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("digest", m.digest().toString());
                entry.put("mediaType", m.mediaType());
                entry.put("size", m.size());
                entry.put("tags", m.tags());
                entry.put("pushedAt", m.pushedAt().toString());
                entry.put("lastUsed", m.lastUsed().toString());
                entries.add(entry);
            }
            int asked = (int) Math.min(n.orElse(RepositoryManifests.MAX_PAGE), RepositoryManifests.MAX_PAGE);
            if (!page.isEmpty() && page.size() == asked) {
                x.header("Link", "<" + PREFIX + repository.value() + "/entries?n=" + asked + "&last="
                        + URLEncoder.encode(page.get(page.size() - 1).digest().toString(), StandardCharsets.UTF_8) + ">; rel=\"next\"");
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("repository", repository.value());
            body.put("entries", entries);
            x.sendJson(200, "application/json", body);
        }

        private void backdate(Exchange x, Digest digest) {
            // JSON only: a browser form cannot send it cross-site with a user's cached credentials
            if (!x.header("Content-Type").map(dev.cairn.registry.MediaTypes::bare).orElse("").equals("application/json")) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "send the times as Content-Type: application/json");
            }
            JsonNode times;
            try {
                times = Exchange.JSON.readTree(x.body().readNBytes(16 * 1024));
            } catch (IOException e) {
                if (e instanceof com.fasterxml.jackson.core.JsonProcessingException) {
                    throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be a JSON object: " + ((com.fasterxml.jackson.core.JsonProcessingException) e).getOriginalMessage());
                }
                throw new UncheckedIOException(e);
            }
            if (times == null || !times.isObject() || !times.hasNonNull("pushedAt") || !times.hasNonNull("lastUsed")) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be {\"pushedAt\": TIME, \"lastUsed\": TIME} (RFC 3339, UTC)");
            }
            if (!manifests.backdate(repository, digest, instant(times, "pushedAt"), instant(times, "lastUsed"))) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "only an entry pushed here within the last "
                        + RepositoryManifests.BACKDATE_WINDOW.toHours() + " h and not read since takes older times; " + digest + " is not one");
            }
            x.send(204);
        }

        private static Instant instant(JsonNode times, String field) {
            try {
                Instant at = Instant.parse(times.get(field).asText());
                at.toEpochMilli(); // the records keep milliseconds since 1970: a time past their range is refused here
                return at;
            } catch (DateTimeParseException | ArithmeticException e) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, field + " is not a time such as 2026-01-31T12:00:00Z: " + times.get(field).asText());
            }
        }
    }
}
