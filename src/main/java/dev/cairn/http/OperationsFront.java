package dev.cairn.http;

import dev.cairn.metrics.CacheMetrics;
import dev.cairn.registry.Registry;
import dev.cairn.retention.CacheKeeper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * What operators and their tools poll: {@code /healthz} (the process is up) and {@code /readyz} (storage and
 * metadata answer), open to anyone for load balancers and probes, and {@code /metrics} (Prometheus text) for admins.
 */
final class OperationsFront implements Front {
    private static final Logger log = LoggerFactory.getLogger(OperationsFront.class);

    private final Registry registry;
    private final CacheKeeper keeper;
    private final CacheMetrics metrics;

    OperationsFront(Registry registry, CacheKeeper keeper, CacheMetrics metrics) {
        this.registry = registry;
        this.keeper = keeper;
        this.metrics = metrics;
    }

    @Override
    public Optional<Routed> route(String rawPath) {
        return switch (rawPath) {
            case "/healthz" -> Optional.of(probe(x -> x.sendBytes(200, "text/plain", "ok\n".getBytes(StandardCharsets.UTF_8))));
            case "/readyz" -> Optional.of(probe(this::ready));
            case "/metrics" -> Optional.of(new Routed() {
                @Override
                public void authorize(Exchange x, AccessGate gate) {
                    gate.requireAdmin(x.caller);
                }

                @Override
                public void serve(Exchange x) {
                    x.sendBytes(200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape().getBytes(StandardCharsets.UTF_8));
                }
            });
            default -> Optional.empty();
        };
    }

    private static Routed probe(java.util.function.Consumer<Exchange> answer) {
        return new Routed() {
            @Override
            public boolean needsNoCaller() {
                return true;
            }

            @Override
            public void authorize(Exchange x, AccessGate gate) {
            }

            @Override
            public void serve(Exchange x) {
                answer.accept(x);
            }
        };
    }

    private void ready(Exchange x) {
        try {
            registry.checkReady();
            // Still ready (it serves), but a collector that keeps failing is said where every probe looks.
            String collector = keeper.health().failingSince().map(since -> "; collector failing since " + since).orElse("");
            x.sendBytes(200, "text/plain", ("ready" + collector + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            log.warn("not ready: {}", e.toString()); // the details go to the log, not to unauthenticated callers
            x.sendBytes(503, "text/plain", "not ready: storage or metadata does not answer\n".getBytes(StandardCharsets.UTF_8));
        }
    }
}
