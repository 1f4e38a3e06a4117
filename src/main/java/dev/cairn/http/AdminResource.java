package dev.cairn.http;

import dev.cairn.values.Refusal;
import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.config.Quantities;
import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metrics.CacheMetrics;
import dev.cairn.retention.CacheKeeper;
import dev.cairn.retention.CollectorHealth;
import dev.cairn.retention.CollectionReport;
import dev.cairn.values.Glob;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The admin API under {@code /api/v1/} (JSON) and {@code /metrics} (Prometheus text):
 * <ul>
 *   <li>{@code GET /api/v1/stats}: per repository manifests, tags, bytes, last use, hits and misses; per namespace of
 *   the keyed cache keys, bytes, last use, hits, misses, bytes read and written and the hit ratios;</li>
 *   <li>{@code POST /api/v1/gc[?dry-run=true]}: one collection now, and what it deleted (or would);</li>
 *   <li>{@code POST /api/v1/invalidate} with {@code {"repositories","tag","olderThan","dryRun"}}: evict matching
 *   cache entries at once, so the next build misses and rebuilds.</li>
 * </ul>
 */
final class AdminResource implements Front {
    private static final String PREFIX = "/api/v1/";

    private final CacheKeeper keeper;
    private final RetentionRecords records;
    private final CacheMetrics metrics;
    private final Optional<dev.cairn.mirror.Mirror> mirror;

    AdminResource(CacheKeeper keeper, RetentionRecords records, CacheMetrics metrics, Optional<dev.cairn.mirror.Mirror> mirror) {
        this.mirror = mirror;
        this.keeper = keeper;
        this.records = records;
        this.metrics = metrics;
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        if (!rawPath.startsWith(PREFIX)) return Optional.empty();
        String endpoint = rawPath.substring(PREFIX.length());
        return Optional.of(new Routed() {
            @Override
            public void authorize(Exchange x, AccessGate gate) {
                gate.requireAdmin(x.caller);
            }

            @Override
            public void serve(Exchange x) {
                handle(x, endpoint);
            }

            @Override
            public String allowedMethods() {
                return "GET, POST";
            }
        });
    }

    private void handle(Exchange x, String endpoint) {
        switch (endpoint) {
            case "stats" -> {
                require(x, "GET");
                x.sendJson(200, "application/json", stats());
            }
            case "gc" -> {
                require(x, "POST");
                boolean dryRun = x.query("dry-run").map(Boolean::parseBoolean).orElse(false);
                x.sendJson(200, "application/json", keeper.collect(dryRun));
            }
            case "invalidate" -> {
                require(x, "POST");
                x.sendJson(200, "application/json", invalidate(x));
            }
            default -> throw new Refusal(Refusal.Reason.UNKNOWN_ENDPOINT, "no such admin endpoint: " + PREFIX + endpoint);
        }
    }

    /**
     * Figures read every repository and keyed entry: one reading at a time on this node, as SQLite's queries hold
     * their carrier thread, so that admins polling at once do not take every core from the requests.
     */
    private final java.util.concurrent.Semaphore statsReadings = new java.util.concurrent.Semaphore(1, true);

    private Map<String, Object> stats() {
        statsReadings.acquireUninterruptibly();
        try {
            return readStats();
        } finally {
            statsReadings.release();
        }
    }

    private Map<String, Object> readStats() {
        List<Map<String, Object>> repositories = new ArrayList<>();
        for (RetentionRecords.RepositoryFigures f : records.repositoryFigures()) {
            long[] lookups = metrics.lookups(f.repository());
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("repository", f.repository());
            row.put("manifests", f.manifests());
            row.put("tags", f.tags());
            row.put("bytes", f.bytes());
            row.put("lastUse", f.lastUsedAt().map(Object::toString).orElse(null));
            row.put("hits", lookups[0]);
            row.put("misses", lookups[1]);
            repositories.add(row);
        }
        List<Map<String, Object>> namespaces = new ArrayList<>();
        for (RetentionRecords.NamespaceFigures f : records.namespaceFigures()) {
            CacheMetrics.EntryTraffic t = metrics.entryTraffic(f.kind(), f.namespace());
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("kind", f.kind());
            row.put("namespace", f.namespace());
            row.put("keys", f.keys());
            row.put("bytes", f.bytes());
            row.put("lastUse", f.lastUsedAt().map(Object::toString).orElse(null));
            row.put("hits", t.hits());
            row.put("misses", t.misses());
            row.put("bytesRead", t.bytesRead());
            row.put("bytesWritten", t.bytesWritten());
            row.put("savedSeconds", t.savedMillis() / 1000.0);
            // By requests: reads answered from the cache. By bytes: of the bytes clients needed, those the cache gave
            // back (a miss's bytes are those the client then wrote).
            row.put("hitRatio", ratio(t.hits(), t.hits() + t.misses()));
            row.put("byteHitRatio", ratio(t.bytesRead(), t.bytesRead() + t.bytesWritten()));
            namespaces.add(row);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        CollectorHealth health = keeper.health();
        Map<String, Object> collector = new LinkedHashMap<>();
        collector.put("state", health.failingSince().isPresent() ? "failing" : "ok");
        collector.put("failingSince", health.failingSince().map(Object::toString).orElse(null));
        collector.put("failuresInARow", health.failuresInARow());
        collector.put("lastError", health.lastError().orElse(null));
        collector.put("lastSuccess", health.lastSuccess().map(Object::toString).orElse(null));
        body.put("collector", collector);
        body.put("storedBytes", keeper.storedBytes());
        body.put("budgetBytes", keeper.policy().maxBytes());
        body.put("repositories", repositories);
        body.put("namespaces", namespaces);
        // per mirror since this node started: manifests served from here, fetched, served stale; the upstream's failures
        mirror.ifPresent(m -> body.put("mirrors", m.stats()));
        return body;
    }

    private static Double ratio(long part, long whole) {
        return whole == 0 ? null : (double) part / whole;
    }

    private CollectionReport invalidate(Exchange x) {
        // Only JSON: a browser form cannot send it cross-site, so an admin's cached credentials cannot be used by another page.
        if (!x.header("Content-Type").map(dev.cairn.registry.MediaTypes::bare).orElse("").equals("application/json")) {
            throw new Refusal(Refusal.Reason.INVALID_REQUEST, "send the request as Content-Type: application/json");
        }
        JsonNode request;
        try {
            request = Exchange.JSON.readTree(x.body().readNBytes(64 * 1024));
        } catch (IOException e) {
            if (e instanceof com.fasterxml.jackson.core.JsonProcessingException) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be a JSON object: " + e.getMessage());
            }
            throw new UncheckedIOException(e);
        }
        if (request == null || !request.isObject() || !request.hasNonNull("repositories")) {
            throw new Refusal(Refusal.Reason.INVALID_REQUEST, "the body must be a JSON object with at least \"repositories\" (a glob)");
        }
        Glob repositories = new Glob(request.get("repositories").asText());
        Optional<Glob> tag = request.hasNonNull("tag") ? Optional.of(new Glob(request.get("tag").asText())) : Optional.empty();
        Optional<Duration> olderThan = Optional.empty();
        if (request.hasNonNull("olderThan")) {
            try {
                olderThan = Optional.of(Quantities.parseDuration(request.get("olderThan").asText()));
            } catch (IllegalArgumentException e) {
                throw new Refusal(Refusal.Reason.INVALID_REQUEST, "olderThan: " + e.getMessage());
            }
        }
        return keeper.invalidate(repositories, tag, olderThan, request.path("dryRun").asBoolean(false));
    }

    private static void require(Exchange x, String method) {
        if (!x.method().equals(method)) {
            throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported here; use " + method);
        }
    }
}
