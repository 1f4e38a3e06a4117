package dev.cairn.metrics;

import dev.cairn.registry.RegistryEvents;
import dev.cairn.values.RepositoryName;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * What Cairn counts: cache hits and misses per repository (a manifest GET or HEAD answered 200 or 404),
 * blob bytes served and received, evictions by reason, GC runs, stored and budget bytes.
 */
public final class CacheMetrics implements RegistryEvents {
    private final PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter served = Counter.builder("cairn.blob.served.bytes").description("blob bytes sent to clients").register(meters);
    private final Counter received = Counter.builder("cairn.blob.received.bytes").description("blob bytes received from clients").register(meters);
    private final Timer gcRuns = Timer.builder("cairn.gc.duration").description("garbage collection runs").register(meters);
    private final Counter gcFailures = Counter.builder("cairn.gc.failures").description("garbage collection runs that failed").register(meters);
    private final Map<String, LongAdder[]> lookups = new ConcurrentHashMap<>();

    /** The figures that live elsewhere, read when scraped. */
    /** Requests waiting for another request's claim on an upload session (a node that died holding one: until it lapses). */
    public void collectorLockWaits(LongSupplier waiting) {
        Gauge.builder("cairn.collector.lock.waits", waiting::getAsLong)
                .description("collections waiting for another node's collector lock to be released").register(meters);
    }

    public void claimWaits(LongSupplier waiting) {
        Gauge.builder("cairn.upload.claim.waits", waiting::getAsLong)
                .description("requests waiting for another request's claim on an upload session to end or lapse").register(meters);
    }

    private final java.util.concurrent.atomic.AtomicLong lastCorrection = new java.util.concurrent.atomic.AtomicLong();

    /** A collection replaced the running count of stored bytes with the records' figure, which differed by {@code bytes}. */
    public void storedBytesCorrected(long bytes) {
        lastCorrection.set(bytes);
        meters.counter("cairn.stored.bytes.corrected").increment(Math.abs(bytes));
    }

    public void gauges(LongSupplier storedBytes, LongSupplier budgetBytes) {
        Gauge.builder("cairn.stored.bytes.drift", lastCorrection::get)
                .description("how far the running count of stored bytes was from the records at the last collection").register(meters);
        Gauge.builder("cairn.stored.bytes", storedBytes::getAsLong).description("unique bytes stored (blobs once, plus manifests)").register(meters);
        Gauge.builder("cairn.budget.bytes", budgetBytes::getAsLong).description("the byte budget in force").register(meters);
    }

    @Override
    public void manifestHit(RepositoryName repository) {
        lookup(repository, "hit", 0);
    }

    @Override
    public void manifestMiss(RepositoryName repository) {
        lookup(repository, "miss", 1);
    }

    private void lookup(RepositoryName repository, String result, int slot) {
        Counter.builder("cairn.manifest.lookups").description("manifest GET/HEAD answered 200 (hit) or 404 (miss)")
                .tag("repository", repository.value()).tag("result", result).register(meters).increment();
        lookups.computeIfAbsent(repository.value(), k -> new LongAdder[]{new LongAdder(), new LongAdder()})[slot].increment();
    }

    /** Hits and misses of a repository since start: {hits, misses}. */
    public long[] lookups(String repository) {
        LongAdder[] counts = lookups.get(repository);
        return counts == null ? new long[]{0, 0} : new long[]{counts[0].sum(), counts[1].sum()};
    }

    /** What a namespace of keyed entries saw since start: hits, misses, bytes read from hits, bytes written, build time hits saved. */
    public record EntryTraffic(long hits, long misses, long bytesRead, long bytesWritten, long savedMillis) {
        public static final EntryTraffic NONE = new EntryTraffic(0, 0, 0, 0, 0);
    }

    /**
     * Namespaces with meters of their own, at most: a client can miss on any name it likes, and each name would
     * otherwise be a series (and memory) for good. Past it, names share the series of the namespace "(other)".
     */
    public static final int MAX_NAMESPACE_SERIES = 1000;
    private static final String OTHER_NAMESPACES = "(other)";

    /** One namespace's meters, registered once (a lookup in the registry per request would cost more than the count). */
    private final class NamespaceMeters {
        final Counter hits;
        final Counter misses;
        final Counter bytesRead;
        final Counter bytesWritten;
        final Counter savedSeconds;
        final LongAdder[] totals = {new LongAdder(), new LongAdder(), new LongAdder(), new LongAdder(), new LongAdder()};
        /** The namespace the series name: its own, or "(other)". */
        final String namespace;

        NamespaceMeters(String kind, String namespace) {
            this.namespace = namespace;
            hits = Counter.builder("cairn.cache.lookups").description("keyed cache reads answered from the cache (hit) or not (miss)")
                    .tag("kind", kind).tag("namespace", namespace).tag("result", "hit").register(meters);
            misses = Counter.builder("cairn.cache.lookups").description("keyed cache reads answered from the cache (hit) or not (miss)")
                    .tag("kind", kind).tag("namespace", namespace).tag("result", "miss").register(meters);
            bytesRead = Counter.builder("cairn.cache.bytes").description("keyed cache content bytes read (hits) and written")
                    .tag("kind", kind).tag("namespace", namespace).tag("direction", "read").register(meters);
            bytesWritten = Counter.builder("cairn.cache.bytes").description("keyed cache content bytes read (hits) and written")
                    .tag("kind", kind).tag("namespace", namespace).tag("direction", "written").register(meters);
            savedSeconds = Counter.builder("cairn.cache.saved.seconds")
                    .description("build time keyed cache hits saved, as clients said their content took to make")
                    .tag("kind", kind).tag("namespace", namespace).register(meters);
        }
    }

    private final Map<String, NamespaceMeters> namespaceMeters = new ConcurrentHashMap<>();

    private NamespaceMeters metersOf(String kind, RepositoryName namespace) {
        return metersOf(kind, namespace, true);
    }

    /**
     * The namespace's meters; without {@code mayStart} (a miss, which any client can make on any name) a namespace
     * that has none yet counts under "(other)": a namespace's own series starts with its first write or hit.
     */
    private NamespaceMeters metersOf(String kind, RepositoryName namespace, boolean mayStart) {
        String key = kind + " " + namespace.value();
        NamespaceMeters found = namespaceMeters.get(key);
        if (found != null) return found;
        if (!mayStart || namespaceMeters.size() >= MAX_NAMESPACE_SERIES) {
            return namespaceMeters.computeIfAbsent(kind + " " + OTHER_NAMESPACES, k -> new NamespaceMeters(kind, OTHER_NAMESPACES));
        }
        return namespaceMeters.computeIfAbsent(key, k -> new NamespaceMeters(kind, namespace.value()));
    }

    @Override
    public void entryHit(String kind, RepositoryName namespace, long bytes, long savedMillis) {
        NamespaceMeters m = metersOf(kind, namespace);
        m.hits.increment();
        if (bytes > 0) m.bytesRead.increment(bytes);
        if (savedMillis > 0) m.savedSeconds.increment(savedMillis / 1000.0);
        m.totals[0].increment();
        m.totals[2].add(bytes);
        m.totals[4].add(savedMillis);
    }

    @Override
    public void entryMiss(String kind, RepositoryName namespace) {
        NamespaceMeters m = metersOf(kind, namespace, false);
        m.misses.increment();
        m.totals[1].increment();
    }

    @Override
    public void entryStored(String kind, RepositoryName namespace, long bytes) {
        NamespaceMeters m = metersOf(kind, namespace);
        m.bytesWritten.increment(bytes);
        m.totals[3].add(bytes);
    }

    /** A client's own record of its cache use (turbo's HIT and MISS events, LOCAL or REMOTE). */
    public void clientCacheEvent(String kind, RepositoryName namespace, String source, String event) {
        Counter.builder("cairn.cache.client.events").description("cache hits and misses as clients report them (turbo's events)")
                .tag("kind", kind).tag("namespace", metersOf(kind, namespace).namespace).tag("source", source.toLowerCase(java.util.Locale.ROOT))
                .tag("event", event.toLowerCase(java.util.Locale.ROOT)).register(meters).increment();
    }

    /** The traffic of a namespace of keyed entries of {@code kind} since start. */
    public EntryTraffic entryTraffic(String kind, String namespace) {
        NamespaceMeters m = namespaceMeters.get(kind + " " + namespace);
        if (m == null) return EntryTraffic.NONE;
        LongAdder[] t = m.totals;
        return new EntryTraffic(t[0].sum(), t[1].sum(), t[2].sum(), t[3].sum(), t[4].sum());
    }

    @Override
    public void blobBytesServed(long bytes) {
        served.increment(bytes);
    }

    @Override
    public void blobBytesReceived(long bytes) {
        received.increment(bytes);
    }

    public void evicted(String reason, int manifests, long bytes) {
        Counter.builder("cairn.evicted.manifests").description("manifests evicted or deleted, by reason").tag("reason", reason)
                .register(meters).increment(manifests);
        Counter.builder("cairn.evicted.bytes").description("bytes freed by evictions and deletions, by reason").tag("reason", reason)
                .register(meters).increment(bytes);
    }

    /** A collection that ended in an error (out of memory included); the next one is tried. */
    public void collectionFailed() {
        gcFailures.increment();
    }

    /** 1 while the collector's runs fail, 0 once one succeeds: worth an alert, as the budget is not kept meanwhile. */
    public void collectorFailing(java.util.function.BooleanSupplier failing) {
        Gauge.builder("cairn.collector.failing", () -> failing.getAsBoolean() ? 1 : 0)
                .description("1 while garbage collections fail (the budget is not being kept)").register(meters);
    }

    public void gcRun(Duration took) {
        gcRuns.record(took);
    }

    /** A replication round from {@code source}: whether it completed, and what it copied. */
    public void replicationRound(String source, boolean completed, int images, long bytes) {
        Counter.builder("cairn.replication.rounds").description("replication rounds, by source and result")
                .tag("source", source).tag("result", completed ? "ok" : "failed").register(meters).increment();
        Counter.builder("cairn.replication.images").description("images (tags) copied by replication, by source")
                .tag("source", source).register(meters).increment(images);
        Counter.builder("cairn.replication.bytes").description("blob bytes copied by replication, by source")
                .tag("source", source).register(meters).increment(bytes);
    }

    /** What the pull-through mirror counts: manifests served by how, upstream failures by reason, bytes fetched, by mirror prefix. */
    public dev.cairn.mirror.Mirror.Events mirrorEvents() {
        return new dev.cairn.mirror.Mirror.Events() {
            @Override
            public void served(String prefix, String how) {
                Counter.builder("cairn.mirror.manifests").description("manifests a mirror answered, by how: cached, fetched, stale")
                        .tag("mirror", prefix).tag("how", how).register(meters).increment();
            }

            @Override
            public void upstreamFailed(String prefix, String reason) {
                Counter.builder("cairn.mirror.upstream.failures").description("a mirror's upstream failures, by reason")
                        .tag("mirror", prefix).tag("reason", reason).register(meters).increment();
            }

            @Override
            public void bytesFetched(String prefix, long bytes) {
                Counter.builder("cairn.mirror.fetched.bytes").description("bytes a mirror fetched from its upstream")
                        .tag("mirror", prefix).register(meters).increment(bytes);
            }
        };
    }

    /** 1 on the node that runs the replicate rules for the nodes sharing its stores (the lease holder), 0 on the others. */
    public void replicationLeading(java.util.function.BooleanSupplier leading) {
        Gauge.builder("cairn.replication.leading", () -> leading.getAsBoolean() ? 1 : 0)
                .description("1 on the node that runs the replicate rules, 0 on nodes that wait to take over").register(meters);
    }

    /** 1 while a replication rule's rounds fail, 0 once one completes; {@code rule} its place in replicate:. */
    public void replicationFailing(String source, String rule, java.util.function.BooleanSupplier failing) {
        Gauge.builder("cairn.replication.failing", () -> failing.getAsBoolean() ? 1 : 0).tag("source", source).tag("rule", rule)
                .description("1 while replication rounds from this source fail").register(meters);
    }

    /** The Prometheus text exposition of every meter. */
    public String scrape() {
        return meters.scrape();
    }
}
