package dev.cairn.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.auth.Action;
import dev.cairn.keyed.KeyedCache;
import dev.cairn.keyed.TurborepoCache;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Turborepo's remote cache API, as turbo 2.x speaks it ({@code turbo run build --api=http://HOST:5000
 * --token=T --team=NS}): {@code /v8/artifacts/status}, GET, HEAD and PUT of {@code /v8/artifacts/<hash>}, the
 * batch query {@code POST /v8/artifacts}, turbo's own hit and miss records {@code POST /v8/artifacts/events},
 * and CORS preflights. The team ({@code slug}, else {@code teamId}) is the namespace.
 */
final class TurborepoFront implements Front {
    private static final String PREFIX = "/v8/artifacts";
    private static final String DEFAULT_TEAM = "turbo";
    /** Batch queries and event lists are small JSON documents; more is not turbo. */
    private static final int MAX_JSON_BYTES = 1 << 20;
    private static final String ALLOWED_HEADERS = "Authorization, Content-Type, User-Agent, x-artifact-duration, x-artifact-tag, "
            + "x-artifact-client-ci, x-artifact-client-interactive";

    private final TurborepoCache cache;
    private final CacheMetrics metrics;

    TurborepoFront(TurborepoCache cache, CacheMetrics metrics) {
        this.cache = cache;
        this.metrics = metrics;
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        if (!rawPath.equals(PREFIX) && !rawPath.startsWith(PREFIX + "/")) return Optional.empty();
        String rest = rawPath.length() > PREFIX.length() ? rawPath.substring(PREFIX.length() + 1) : "";
        return Optional.of(new Request(rest));
    }

    private final class Request implements Routed {
        /** "" (the batch query), "status", "events", or an artifact's hash. */
        private final String rest;
        private RepositoryName team;

        Request(String rest) {
            this.rest = rest;
        }

        @Override
        public void authorize(Exchange x, AccessGate gate) {
            if (x.method().equals("OPTIONS")) return; // a preflight carries no credentials and reads nothing
            team = KeyedCacheFront.namespace(x.query("slug").or(() -> x.query("teamId")).orElse(DEFAULT_TEAM));
            boolean writes = x.method().equals("PUT");
            gate.require(x.caller, team.value(), writes ? Action.PUSH : Action.PULL);
        }

        @Override
        public void serve(Exchange x) {
            if (x.method().equals("OPTIONS")) {
                x.header("Access-Control-Allow-Origin", "*")
                        .header("Access-Control-Allow-Methods", "GET, HEAD, PUT, POST, OPTIONS")
                        .header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
                        .header("Access-Control-Max-Age", "600");
                x.send(200);
                return;
            }
            switch (rest) {
                case "status" -> {
                    requireMethod(x, "GET");
                    x.sendJson(200, "application/json", Map.of("status", "enabled"));
                }
                case "events" -> {
                    requireMethod(x, "POST");
                    countEvents(readJson(x));
                    x.sendJson(200, "application/json", Map.of());
                }
                case "" -> {
                    requireMethod(x, "POST");
                    x.sendJson(200, "application/json", query(readJson(x)));
                }
                default -> artifact(x);
            }
        }

        private void artifact(Exchange x) {
            switch (x.method()) {
                case "GET", "HEAD" -> {
                    KeyedCache.Hit hit = cache.read(team, rest, !x.isHead()).orElseThrow(() -> new Refusal(Refusal.Reason.ENTRY_NOT_FOUND,
                            "no artifact " + rest + " for team " + team));
                    hit.notes().costMillis().ifPresent(ms -> x.header("x-artifact-duration", Long.toString(ms)));
                    hit.notes().signature().ifPresent(tag -> x.header("x-artifact-tag", tag));
                    x.sendStream(200, "application/octet-stream", hit.size(), hit.content().orElse(InputStream.nullInputStream()));
                }
                case "PUT" -> {
                    OptionalLong duration;
                    try {
                        duration = x.header("x-artifact-duration").map(String::strip).map(d -> OptionalLong.of(Long.parseLong(d))).orElse(OptionalLong.empty());
                    } catch (NumberFormatException e) {
                        throw new Refusal(Refusal.Reason.INVALID_REQUEST, "x-artifact-duration is a whole number of milliseconds");
                    }
                    long limit = cache.maxEntryBytes();
                    cache.write(team, rest, x.contentLength(), x.body(limit, () -> cache.tooLarge("more than " + limit + " bytes")), duration,
                            x.header("x-artifact-tag"));
                    x.sendJson(202, "application/json", Map.of("urls", List.of(PREFIX + "/" + rest)));
                }
                default -> throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on an artifact");
            }
        }

        /** {"hashes": [...]} -> {hash: {size, taskDurationMs, tag} or null}. */
        private Map<String, Object> query(JsonNode request) {
            JsonNode hashes = request.path("hashes");
            if (!hashes.isArray()) throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body is {\"hashes\": [...]}");
            List<String> asked = new ArrayList<>();
            for (JsonNode hash : hashes) {
                if (!hash.isTextual()) throw new Refusal(Refusal.Reason.INVALID_REQUEST, "a hash is a string");
                asked.add(hash.asText());
            }
            Map<String, Object> answer = new LinkedHashMap<>();
            cache.query(team, asked).forEach((hash, found) -> answer.put(hash, found.map(hit -> {
                Map<String, Object> info = new LinkedHashMap<>();
                info.put("size", hit.size());
                info.put("taskDurationMs", hit.notes().costMillis().orElse(0));
                hit.notes().signature().ifPresent(tag -> info.put("tag", tag));
                return (Object) info;
            }).orElse(null)));
            return answer;
        }

        /** turbo's own records of its cache use: [{source: LOCAL|REMOTE, event: HIT|MISS, hash, duration}, ...]. */
        private void countEvents(JsonNode events) {
            if (!events.isArray()) throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body is a list of events");
            for (JsonNode event : events) {
                String source = event.path("source").asText();
                String kind = event.path("event").asText();
                if (!List.of("LOCAL", "REMOTE").contains(source) || !List.of("HIT", "MISS").contains(kind)) {
                    throw new Refusal(Refusal.Reason.INVALID_REQUEST, "an event has a source LOCAL or REMOTE and an event HIT or MISS");
                }
            }
            for (JsonNode event : events) metrics.clientCacheEvent(TurborepoCache.KIND, team, event.path("source").asText(), event.path("event").asText());
        }

        private JsonNode readJson(Exchange x) {
            try (InputStream body = x.body(MAX_JSON_BYTES, () -> new Refusal(Refusal.Reason.INVALID_REQUEST, "the JSON body is over " + MAX_JSON_BYTES + " bytes"))) {
                return Exchange.JSON.readTree(body);
            } catch (IOException e) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body is not JSON: " + e.getMessage());
            }
        }

        private void requireMethod(Exchange x, String method) {
            if (!x.method().equals(method)) throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here");
        }

        @Override
        public String allowedMethods() {
            return switch (rest) {
                case "status" -> "GET";
                case "events", "" -> "POST";
                default -> "GET, HEAD, PUT, OPTIONS";
            };
        }

        @Override
        public String nameForLog() {
            return team == null ? "-" : team.value();
        }
    }
}
