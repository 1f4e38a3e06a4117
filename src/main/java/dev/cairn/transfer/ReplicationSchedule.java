package dev.cairn.transfer;

import dev.cairn.config.ReplicationRule;
import dev.cairn.metrics.CacheMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * The {@code replicate:} rules, each a round every {@code every} on a thread of its own. A round that fails (the
 * source down, a refused push) is logged and counted and tried again sooner, after 5 s doubling up to the rule's
 * interval, so a source that comes back is caught up with soon; what the failed round copied stays, and the next
 * copies only the rest.
 */
public final class ReplicationSchedule implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReplicationSchedule.class);
    private static final Duration FIRST_RETRY = Duration.ofSeconds(5);

    private final CountDownLatch stopping = new CountDownLatch(1);
    private final List<Thread> threads = new ArrayList<>();

    public ReplicationSchedule(List<ReplicationRule> rules, Function<ReplicationRule, OciRegistry> sources, OciRegistry target,
                               CacheMetrics metrics, Replication.Copied audit) {
        for (int i = 0; i < rules.size(); i++) {
            ReplicationRule rule = rules.get(i);
            String source = rule.from().getAuthority();
            String ruleName = "replicate[" + i + "] from " + source;
            AtomicBoolean failing = new AtomicBoolean();
            metrics.replicationFailing(source, Integer.toString(i), failing::get);
            List<Export.Selector> selectors = new ArrayList<>();
            for (String pattern : rule.repositories()) {
                try {
                    selectors.add(Export.Selector.parse(pattern));
                } catch (RuntimeException e) {
                    throw new IllegalArgumentException("replicate[" + i + "].repositories: " + pattern + ": " + e.getMessage(), e);
                }
            }
            // one client a rule, kept across rounds: its connections and token are reused, not left for the GC
            OciRegistry from = sources.apply(rule);
            threads.add(Thread.ofVirtual().name("cairn-replicate-" + i).start(() -> {
                Duration wait = Duration.ZERO;
                int failures = 0;
                while (!await(wait)) {
                    long started = System.nanoTime();
                    try {
                        Replication.Report report = new Replication(from, target, line -> log.info("{}: {}", ruleName, line))
                                .reportingTo(audit).round(selectors);
                        metrics.replicationRound(source, true, report.copied(), report.bytesCopied());
                        failing.set(false);
                        failures = 0;
                        log.info("{} ({}): {} copied, {} up to date, {} blobs ({} bytes) in {} ms", ruleName,
                                String.join(", ", rule.repositories()), report.copied(), report.upToDate(), report.blobsCopied(),
                                report.bytesCopied(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
                        wait = rule.every();
                    } catch (Exception | OutOfMemoryError e) {
                        metrics.replicationRound(source, false, 0, 0);
                        failing.set(true);
                        failures++;
                        Duration retry = FIRST_RETRY.multipliedBy(1L << Math.min(failures - 1, 16));
                        wait = retry.compareTo(rule.every()) < 0 ? retry : rule.every();
                        log.warn("{} failed ({} in a row), next try in {} s: {}", ruleName, failures, wait.toSeconds(),
                                e.getMessage() == null ? e.toString() : e.getMessage());
                    }
                }
            }));
        }
    }

    /** True when stopping; otherwise waits {@code wait} first. */
    private boolean await(Duration wait) {
        try {
            return stopping.await(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    /** Stops the rounds; one under way finishes its current request (at most the client's timeout) or is abandoned. */
    @Override
    public void close() {
        stopping.countDown();
        for (Thread t : threads) {
            t.interrupt();
            try {
                t.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
