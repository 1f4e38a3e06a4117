package dev.cairn.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.auth.Action;
import dev.cairn.keyed.KeyedCache;
import dev.cairn.metadata.EntryRecords;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The build-tool caches' entries as the commands that move caches need them, beside what
 * {@link EntryTimesResource} gives for repositories:
 * <ul>
 *   <li>{@code GET /api/v1/keyed}: the kinds and namespaces holding keys (those the caller may pull);</li>
 *   <li>{@code GET /api/v1/keyed/<kind>/<namespace>/entries[?n=&last=]}: its keys in byte order, each with its
 *   content's digest and size, push time, last use, what the client said of it (build time, signature) and the
 *   blobs it holds besides (a Bazel action result's outputs); a page at a time (Link: rel="next"); needs pull;</li>
 *   <li>{@code GET /api/v1/keyed/<kind>/<namespace>/blobs/<digest>}: a blob an entry there holds, read without
 *   counting a use or a hit (an export must not make what it moves look fresh); needs pull;</li>
 *   <li>{@code POST /api/v1/keyed/<kind>/<namespace>/lookup} with {@code {"keys":[...]}} (at most 1,000): which of
 *   them hold content, and its digest (an import skips those it would write again); no use recorded; needs pull;</li>
 *   <li>{@code POST /api/v1/keyed/<kind>/<namespace>/times} with {@code {"entries":[{"key","pushedAt","lastUsed"}]}}
 *   (at most 1,000): moves freshly imported keys back to their times, as an entry's times for a manifest; admin.</li>
 * </ul>
 * Writes go through each kind's own front (a PUT under /cache, /bazel or /v8/artifacts), so an import is checked
 * as any client's write is: a Bazel CAS blob against its hash, an action result against the blobs it names.
 */
final class KeyedEntriesResource implements Front {
    private static final String ROOT = "/api/v1/keyed";
    private static final Pattern PATH = Pattern.compile("/api/v1/keyed/([^/]+)/([^/]+)/(entries|times|lookup|blobs/[^/]+)");
    private static final Pattern KIND = Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");
    /** Keys one lookup or one change of times names at most. */
    private static final int MAX_KEYS = 1000;
    private static final int MAX_JSON_BODY = 4 << 20;

    private final KeyedCache cache;

    KeyedEntriesResource(KeyedCache cache) {
        this.cache = cache;
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        if (rawPath.equals(ROOT) || rawPath.equals(ROOT + "/")) return Optional.of(new Namespaces());
        if (!rawPath.startsWith(ROOT + "/")) return Optional.empty();
        Matcher m = PATH.matcher(rawPath);
        if (!m.matches()) {
            throw new Refusal(Refusal.Reason.UNKNOWN_ENDPOINT, "the keyed entries' paths are " + ROOT
                    + "/<kind>/<namespace>/entries, .../blobs/<digest>, .../lookup and .../times");
        }
        return Optional.of(new InNamespace(m.group(1), m.group(2), m.group(3)));
    }

    private final class Namespaces implements Routed {
        private AccessGate gate;

        @Override
        public void authorize(Exchange x, AccessGate gate) {
            gate.requireKnown(x.caller);
            this.gate = gate; // the listing names only what the caller may pull
        }

        @Override
        public void serve(Exchange x) {
            if (!x.method().equals("GET") && !x.isHead()) {
                throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here; use GET");
            }
            List<Map<String, Object>> listed = new ArrayList<>();
            for (EntryRecords.KeyedNamespace n : cache.namespaces()) {
                if (!gate.listable(x.caller, n.namespace().value())) continue;
                Map<String, Object> one = new LinkedHashMap<>();
                one.put("kind", n.kind());
                one.put("namespace", n.namespace().value());
                one.put("keys", n.keys());
                listed.add(one);
            }
            x.sendJson(200, "application/json", Map.of("namespaces", listed));
        }
    }

    private final class InNamespace implements Routed {
        private final String kind;
        private final String rawNamespace;
        private final String what;
        private RepositoryName namespace;

        InNamespace(String kind, String rawNamespace, String what) {
            this.kind = kind;
            this.rawNamespace = rawNamespace;
            this.what = what;
        }

        @Override
        public void authorize(Exchange x, AccessGate gate) {
            if (kind.length() > 64 || !KIND.matcher(kind).matches()) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "a kind of entry is a lower-case word such as 'cache' or 'bazel-cas'");
            }
            namespace = KeyedCacheFront.namespace(rawNamespace);
            // moving keys' times changes what is evicted first: an admin's to do, as for manifests
            if (what.equals("times")) gate.requireAdmin(x.caller);
            else gate.require(x.caller, namespace.value(), Action.PULL);
        }

        /** True for the routes that take a POST. */
        private boolean posted() {
            return what.equals("times") || what.equals("lookup");
        }

        @Override
        public String allowedMethods() {
            return posted() ? "POST" : "GET, HEAD";
        }

        @Override
        public String nameForLog() {
            return rawNamespace;
        }

        @Override
        public void serve(Exchange x) {
            boolean allowed = posted() ? x.method().equals("POST") : x.method().equals("GET") || x.isHead();
            if (!allowed) throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here; use " + allowedMethods());
            switch (what) {
                case "entries" -> list(x);
                case "times" -> backdate(x);
                case "lookup" -> lookup(x);
                default -> blob(x, Digest.parse(what.substring("blobs/".length())));
            }
        }

        private void list(Exchange x) {
            int n = KeyedCache.MAX_CONTENTS_PAGE;
            Optional<String> size = x.query("n").filter(s -> !s.isEmpty());
            if (size.isPresent()) {
                try {
                    n = (int) Math.max(1, Math.min(Long.parseLong(size.get()), KeyedCache.MAX_CONTENTS_PAGE));
                } catch (NumberFormatException e) {
                    throw new Refusal(Refusal.Reason.INVALID_PAGE_SIZE, "n must be a whole number, got " + size.get());
                }
            }
            String last = x.query("last").orElse("");
            List<EntryRecords.ListedContent> page = cache.contents(kind, namespace, last, n);
            List<Map<String, Object>> entries = new ArrayList<>(page.size());
            for (EntryRecords.ListedContent c : page) {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("key", c.key());
                entry.put("digest", c.content().digest().toString());
                entry.put("size", c.content().size());
                entry.put("pushedAt", c.content().pushedAt().toString());
                entry.put("lastUsed", c.content().lastUsedAt().toString());
                c.content().notes().costMillis().ifPresent(ms -> entry.put("costMillis", ms));
                c.content().notes().signature().ifPresent(sig -> entry.put("signature", sig));
                if (!c.alsoHolds().isEmpty()) {
                    List<Map<String, Object>> holds = new ArrayList<>(c.alsoHolds().size());
                    for (EntryRecords.HeldBlob b : c.alsoHolds()) holds.add(Map.of("digest", b.digest().toString(), "size", b.size()));
                    entry.put("holds", holds);
                }
                entries.add(entry);
            }
            // a page cut short by the holds it lists still has a next page: only an empty page ends the listing
            if (!page.isEmpty()) {
                x.header("Link", "<" + ROOT + "/" + kind + "/" + namespace.value() + "/entries?n=" + n + "&last="
                        + URLEncoder.encode(page.getLast().key(), StandardCharsets.UTF_8) + ">; rel=\"next\"");
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("kind", kind);
            body.put("namespace", namespace.value());
            body.put("entries", entries);
            x.sendJson(200, "application/json", body);
        }

        private void blob(Exchange x, Digest digest) {
            KeyedCache.Hit hit = cache.transferRead(kind, namespace, digest);
            x.header("Docker-Content-Digest", digest.toString());
            x.sendStream(200, "application/octet-stream", hit.size(), hit.content().orElseThrow());
        }

        private void lookup(Exchange x) {
            JsonNode keys = jsonBody(x).get("keys");
            if (keys == null || !keys.isArray() || keys.size() > MAX_KEYS) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be {\"keys\": [K, ...]}, at most " + MAX_KEYS + " of them");
            }
            Map<String, String> found = new LinkedHashMap<>();
            for (JsonNode key : keys) {
                if (!key.isTextual() || key.asText().isEmpty()) throw new Refusal(Refusal.Reason.INVALID_REQUEST, "each key is a non-empty string");
                cache.peekKey(kind, namespace, key.asText()).ifPresent(d -> found.put(key.asText(), d.toString()));
            }
            x.sendJson(200, "application/json", Map.of("found", found));
        }

        /** A JSON object of at most {@link #MAX_JSON_BODY} bytes, sent as JSON (a browser form cannot send that cross-site with cached credentials). */
        private static JsonNode jsonBody(Exchange x) {
            if (!x.header("Content-Type").map(dev.cairn.registry.MediaTypes::bare).orElse("").equals("application/json")) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "send the body as Content-Type: application/json");
            }
            JsonNode body;
            try {
                byte[] bytes = x.body(MAX_JSON_BODY, () -> new Refusal(Refusal.Reason.INVALID_REQUEST,
                        "at most " + MAX_KEYS + " keys, in at most " + (MAX_JSON_BODY >> 20) + " MiB")).readAllBytes();
                body = Exchange.JSON.readTree(bytes);
            } catch (IOException e) {
                if (e instanceof com.fasterxml.jackson.core.JsonProcessingException j) {
                    throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be a JSON object: " + j.getOriginalMessage());
                }
                throw new UncheckedIOException(e);
            }
            if (body == null || !body.isObject()) throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be a JSON object");
            return body;
        }

        private void backdate(Exchange x) {
            JsonNode list = jsonBody(x).get("entries");
            if (list == null || !list.isArray() || list.size() > MAX_KEYS) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be {\"entries\": [{\"key\": K, \"pushedAt\": TIME, "
                        + "\"lastUsed\": TIME}, ...]}, at most " + MAX_KEYS + " of them");
            }
            List<EntryRecords.KeyTimes> times = new ArrayList<>(list.size());
            for (JsonNode t : list) {
                if (!t.isObject() || !t.path("key").isTextual() || t.path("key").asText().isEmpty()) {
                    throw new Refusal(Refusal.Reason.INVALID_REQUEST, "each entry names its key: {\"key\": K, \"pushedAt\": TIME, \"lastUsed\": TIME}");
                }
                times.add(new EntryRecords.KeyTimes(t.get("key").asText(), instant(t, "pushedAt"), instant(t, "lastUsed")));
            }
            List<String> refused = cache.backdate(kind, namespace, times);
            x.sendJson(200, "application/json", Map.of("backdated", times.size() - refused.size(), "refused", refused));
        }

        private static Instant instant(JsonNode times, String field) {
            JsonNode value = times.get(field);
            try {
                if (value == null || !value.isTextual()) throw new DateTimeParseException("missing", "", 0);
                Instant at = Instant.parse(value.asText());
                at.toEpochMilli(); // the records keep milliseconds since 1970: a time past their range is refused here
                return at;
            } catch (DateTimeParseException | ArithmeticException e) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, field + " is not a time such as 2026-01-31T12:00:00Z: " + value);
            }
        }
    }
}
