package dev.cairn.transfer;

import dev.cairn.config.ReplicationRule;
import dev.cairn.metadata.ClusterLocks;
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
 *
 * <p>Nodes that share their stores run the same rules, but one of them does the rounds: the one holding the
 * schedule's lease ({@link ClusterLocks#tryLease}). Two nodes copying the same tags at once would push each entry
 * twice, write two {@code replicated} audit lines for it, and the second push would make an entry whose times
 * were carried over look new again. The others ask again every 30 s (or the rule's interval, if shorter), so when
 * the node holding the lease stops or loses the database, another takes over and runs a round at once.
 */
public final class ReplicationSchedule implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReplicationSchedule.class);
    private static final Duration FIRST_RETRY = Duration.ofSeconds(5);
    private static final Duration LEASE_CHECK = Duration.ofSeconds(30);

    private final CountDownLatch stopping = new CountDownLatch(1);
    private final List<Thread> threads = new ArrayList<>();
    private final ScheduleLease lease;

    public ReplicationSchedule(List<ReplicationRule> rules, Function<ReplicationRule, OciRegistry> sources, OciRegistry target,
                               CacheMetrics metrics, Replication.Copied audit, ClusterLocks locks) {
        this.lease = new ScheduleLease(locks, duty(rules));
        metrics.replicationLeading(lease::leading);
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
                    if (!lease.take()) {
                        failing.set(false); // the rounds are another node's now: its gauge tells how they go
                        failures = 0;
                        wait = LEASE_CHECK.compareTo(rule.every()) < 0 ? LEASE_CHECK : rule.every();
                        continue;
                    }
                    long started = System.nanoTime();
                    try {
                        Replication.Report report = new Replication(from, target, line -> log.info("{}: {}", ruleName, line))
                                .reportingTo(audit).whileHolding(lease::stillHeld).round(selectors);
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

    /** The name nodes agree on for these rules: the same rules, the same lease; other rules do not wait for it. */
    private static String duty(List<ReplicationRule> rules) {
        StringBuilder name = new StringBuilder("replicate");
        for (ReplicationRule rule : rules) name.append(' ').append(rule.from()).append(' ').append(String.join(",", rule.repositories()));
        return name.toString();
    }

    /** The schedule's lease, shared by its rules' threads: taken when free, checked before every round. */
    private static final class ScheduleLease {
        private final ClusterLocks locks;
        private final String duty;
        private ClusterLocks.Lease held;
        private boolean toldFollowing;
        private volatile boolean leading;

        ScheduleLease(ClusterLocks locks, String duty) {
            this.locks = locks;
            this.duty = duty;
        }

        /** True when this node holds the lease, taking it if it is free; false while another node holds it. */
        synchronized boolean take() {
            if (held != null && held.held()) return true;
            if (held != null) log.warn("replication: this node lost its lease on the rules (its database session ended); taking it again if free");
            held = null;
            try {
                held = locks.tryLease(duty).orElse(null);
            } catch (RuntimeException e) {
                log.warn("replication: cannot ask for the rules' lease: {}", e.getMessage());
            }
            leading = held != null;
            if (leading) {
                if (locks.isShared()) log.info("replication: this node runs the replicate rules for the nodes sharing its stores");
                toldFollowing = false;
            } else if (!toldFollowing) {
                log.info("replication: another node sharing these stores runs the replicate rules; this one takes over if it stops");
                toldFollowing = true;
            }
            return leading;
        }

        boolean leading() {
            return leading;
        }

        /**
         * Whether this node still holds the lease, asked of the database before each entry a round copies (one query
         * beside a copy's requests; entries already in step cost none): a node whose session was cut mid-round stops
         * at its next entry, so the node that took over copies the rest alone.
         */
        synchronized boolean stillHeld() {
            boolean held = this.held != null && this.held.held();
            if (!held) leading = false;
            return held;
        }

        synchronized void close() {
            if (held != null) held.close();
            held = null;
            leading = false;
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
                break;
            }
        }
        lease.close();
    }
}
