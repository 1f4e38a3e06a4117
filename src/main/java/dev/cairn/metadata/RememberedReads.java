package dev.cairn.metadata;

import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

/**
 * Records read on the hot paths (a tag's digest, a manifest, a blob's link, a key's content), answered from
 * memory while no write has changed the records since they were read. Only a database this process alone
 * writes may be remembered (SQLite, behind {@link SqliteOwnerLock}): every write that could change such an
 * answer goes through {@link SqlDatabase#write}, which tells this class when it starts and when it ends, and
 * whether it changed anything. With PostgreSQL other nodes write too, and nothing is remembered.
 *
 * <p>Why an answer from memory is one the database would give: while a write is under way, nothing is
 * remembered or answered from memory. An answer is kept only if no write started or changed anything between
 * the moment its read began and the moment it ended, and it is used only while that is still so. A read that
 * begins after a write has returned therefore never gets what was there before it, and a client's later read
 * never goes back to an older answer than its earlier one. Only found records are kept: a "not found"
 * turns into a record with an insert, which every reader must see at once.
 *
 * <p>A write that changed anything forgets everything, so the cost is one read per record per write; a write
 * that changed nothing (a rejected push, a confirmation of a use already recorded) forgets nothing. Writes of
 * records no remembered read looks at (upload sessions, the audit log) go through
 * {@link SqlDatabase#writeNotRemembered} and are not reported at all. Memory is bounded by entries and by
 * bytes; when full, everything is forgotten and remembering starts again, so a scan of many keys costs the hot
 * ones one read each rather than keeping them out.
 */
final class RememberedReads {
    static final int MAX_ENTRIES = 8192;
    static final long MAX_BYTES = 8L * 1024 * 1024;
    /** What a remembered entry costs beyond its own bytes and its key's text (record, map node, boxing), roughly. */
    private static final long ENTRY_OVERHEAD = 512;

    private final boolean enabled;
    /** Writes that changed something, so far. */
    private final AtomicLong changes = new AtomicLong();
    /** Writes under way: while any is, memory is neither used nor filled. */
    private final AtomicInteger writing = new AtomicInteger();
    private final AtomicReference<Generation> current = new AtomicReference<>(new Generation(0));

    /** What was remembered since the last change; replaced by an empty one at a change, or when full. */
    private static final class Generation {
        final long changes;
        final ConcurrentHashMap<Object, Optional<?>> answers = new ConcurrentHashMap<>();
        final AtomicLong bytes = new AtomicLong();

        Generation(long changes) {
            this.changes = changes;
        }
    }

    private RememberedReads(boolean enabled) {
        this.enabled = enabled;
    }

    /** For a database only this process writes. */
    static RememberedReads forSoleWriter() {
        return new RememberedReads(true);
    }

    /** For a database others write too: every read goes to it. */
    static RememberedReads none() {
        return new RememberedReads(false);
    }

    boolean enabled() {
        return enabled;
    }

    /**
     * The answer to {@code key}: remembered when nothing changed since it was read, else {@code read}'s
     * (remembered when found). {@code weight} says how many bytes a found answer holds beyond its key.
     */
    @SuppressWarnings("unchecked")
    <T> Optional<T> read(Object key, Supplier<Optional<T>> read, ToLongFunction<T> weight) {
        if (!enabled) return read.get();
        // In this order: a write raises `writing` before it changes anything and lowers it after counting its
        // change, so a read that finds no write under way and then the count has a count no change has passed.
        if (writing.get() > 0) return read.get();
        long before = changes.get();
        Generation generation = current.get();
        if (generation.changes == before) {
            Optional<?> remembered = generation.answers.get(key);
            if (remembered != null) return (Optional<T>) remembered;
        }
        Optional<T> answer = read.get();
        // Kept only if no write started or changed anything while it was read (checked after the read).
        if (answer.isPresent() && writing.get() == 0 && changes.get() == before) {
            remember(before, key, answer, weight.applyAsLong(answer.get()) + 2L * key.toString().length() + ENTRY_OVERHEAD);
        }
        return answer;
    }

    private void remember(long changesSoFar, Object key, Optional<?> answer, long cost) {
        if (cost > MAX_BYTES) return;
        for (int attempt = 0; attempt < 2; attempt++) {
            Generation generation = current.get();
            if (generation.changes != changesSoFar || generation.answers.size() >= MAX_ENTRIES
                    || generation.bytes.get() + cost > MAX_BYTES) {
                // Stale (a change since) or full: start an empty one for these changes, unless another thread did.
                if (generation.changes > changesSoFar) return;
                current.compareAndSet(generation, new Generation(changesSoFar));
                continue;
            }
            generation.bytes.addAndGet(cost);
            if (generation.answers.putIfAbsent(key, answer) != null) generation.bytes.addAndGet(-cost); // another read kept it first
            return;
        }
    }

    /** A write that could change remembered answers is about to begin; call {@link #writeEnded} after it. */
    void writeStarting() {
        if (enabled) writing.incrementAndGet();
    }

    /**
     * The write announced by {@link #writeStarting} has committed or failed; {@code changed} says whether it may
     * have changed any record (when unsure, true: forgetting is always safe).
     */
    void writeEnded(boolean changed) {
        if (!enabled) return;
        if (changed) changes.incrementAndGet();
        writing.decrementAndGet();
    }

    /** How many answers are remembered now; for tests. */
    int size() {
        Generation generation = current.get();
        return generation.changes == changes.get() ? generation.answers.size() : 0;
    }
}
