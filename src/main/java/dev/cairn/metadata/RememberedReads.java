package dev.cairn.metadata;

import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

/**
 * Records read on the hot paths (a tag's digest, a manifest, a blob's link), answered from memory while no
 * write that could change them has committed since they were read. Only a database this process alone writes
 * may be remembered (SQLite, behind {@link SqliteOwnerLock}): a remembered answer is then exactly what the
 * database would answer, because every write that could change it goes through {@link SqlDatabase#write},
 * which counts it. With PostgreSQL other nodes write too, and nothing is remembered.
 *
 * <p>Why it is exact: an answer is remembered under the count of writes taken before it was read, and used
 * only while the count has not moved. A write adds to the count after its commit and before it returns, so a
 * read that starts after a write has returned never gets an answer from before it. A read that overlaps the
 * write may get either, as a database read overlapping it would. Only found records are remembered: a
 * "not found" turns into a record with an insert, which every reader must see at once.
 *
 * <p>Every counted write forgets everything, so the cost is one read per record per write. Writes of records
 * no remembered read looks at (upload sessions, the audit log) go through {@link SqlDatabase#writeNotRemembered}
 * and leave the memory alone: a push's many session updates do not empty it. Memory is bounded by entries and
 * by bytes; when full, new answers are read but not kept until the next write starts a new generation.
 */
final class RememberedReads {
    static final int MAX_ENTRIES = 8192;
    static final long MAX_BYTES = 8L * 1024 * 1024;
    /** What a remembered entry costs beyond its own bytes (key, record, map node), roughly. */
    private static final long ENTRY_OVERHEAD = 256;

    private final AtomicLong writes = new AtomicLong();
    private final boolean enabled;
    private final AtomicReference<Generation> current = new AtomicReference<>(new Generation(0));

    private static final class Generation {
        final long writes;
        final ConcurrentHashMap<Object, Optional<?>> answers = new ConcurrentHashMap<>();
        final AtomicLong bytes = new AtomicLong();

        Generation(long writes) {
            this.writes = writes;
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

    /**
     * The answer to {@code key}: remembered when nothing was written since it was read, else {@code read}'s
     * (remembered when found and there is room). {@code weight} says how many bytes a found answer holds.
     */
    @SuppressWarnings("unchecked")
    <T> Optional<T> read(Object key, Supplier<Optional<T>> read, ToLongFunction<T> weight) {
        if (!enabled) return read.get();
        long before = writes.get();
        Generation generation = current.get();
        if (generation.writes == before) {
            Optional<?> remembered = generation.answers.get(key);
            if (remembered != null) return (Optional<T>) remembered;
        } else if (generation.writes < before) {
            Generation fresh = new Generation(before);
            generation = current.compareAndSet(generation, fresh) ? fresh : current.get();
        }
        Optional<T> answer = read.get();
        if (answer.isPresent() && generation.writes == before && generation.answers.size() < MAX_ENTRIES) {
            long cost = weight.applyAsLong(answer.get()) + ENTRY_OVERHEAD;
            if (generation.bytes.addAndGet(cost) <= MAX_BYTES) {
                generation.answers.putIfAbsent(key, answer);
            } else {
                generation.bytes.addAndGet(-cost);
            }
        }
        return answer;
    }

    /** A write that may change remembered answers has committed (or failed: forgetting is always safe). */
    void written() {
        if (enabled) writes.incrementAndGet();
    }

    /** How many answers are remembered now; for tests. */
    int size() {
        Generation generation = current.get();
        return generation.writes == writes.get() ? generation.answers.size() : 0;
    }
}
