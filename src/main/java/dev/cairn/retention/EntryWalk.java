package dev.cairn.retention;

import dev.cairn.metadata.RetentionRecords;
import dev.cairn.metadata.RetentionRecords.EntryOrder;
import dev.cairn.metadata.RetentionRecords.EntryPosition;
import dev.cairn.metadata.RetentionRecords.ListedEntry;
import dev.cairn.metadata.RetentionRecords.UnitMember;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Entries of every kind, one at a time, in the order retention evicts them, read from the records a page at a
 * time: memory follows a page, not the store, so a collection plans the same way over a thousand entries or
 * millions. Entries deleted meanwhile simply do not come back; the walk never returns one twice.
 *
 * <p>In least-recently-used order, a unit counts its latest member's use, while the records list roots by
 * their own: a unit whose child was used after its root waits in a small heap until the walk passes its own
 * time (children are read just after their index, so few wait, and not for long). Units whose children are
 * read by digest long after their index could make many wait; past {@value #MOST_WAITING} the earliest of
 * them comes out at once, a little ahead of its turn, so that memory stays bounded whatever the graph.
 */
abstract class EntryWalk {
    private static final int PAGE = 500;
    static final int MOST_WAITING = 10_000;

    /** The next entry, or null at the end. */
    abstract Entry next();

    /** Every entry whose order time (last use, or push) is before {@code before}, least recently used first. */
    static EntryWalk leastRecentlyUsed(RetentionRecords records, Instant before) {
        return leastRecentlyUsed(records, before, MOST_WAITING);
    }

    /** The same, with at most {@code mostWaiting} units held back for their turn. */
    static EntryWalk leastRecentlyUsed(RetentionRecords records, Instant before, int mostWaiting) {
        return new Merged(new Units(records, EntryOrder.LAST_USE, before, mostWaiting, name -> true),
                new Keyed(records, EntryOrder.LAST_USE, before, name -> true),
                Entry.LEAST_RECENTLY_USED_FIRST);
    }

    /** Every entry pushed before {@code before}, oldest push first. */
    static EntryWalk pushedBefore(RetentionRecords records, Instant before) {
        return pushedBefore(records, before, name -> true);
    }

    /** The same, for names {@code names} accepts only (checked before a unit is read). */
    static EntryWalk pushedBefore(RetentionRecords records, Instant before, java.util.function.Predicate<String> names) {
        return new Merged(new Units(records, EntryOrder.PUSH_TIME, before, 0, names), new Keyed(records, EntryOrder.PUSH_TIME, before, names),
                Entry.OLDEST_PUSH_FIRST);
    }

    /** Reads one kind of listing a page at a time. */
    private abstract static class Paged extends EntryWalk {
        final RetentionRecords records;
        final EntryOrder order;
        private final Instant before;
        private final Deque<ListedEntry> page = new ArrayDeque<>();
        private final java.util.function.Predicate<String> names;
        private EntryPosition position = EntryPosition.START;
        private boolean exhausted;

        Paged(RetentionRecords records, EntryOrder order, Instant before, java.util.function.Predicate<String> names) {
            this.records = records;
            this.order = order;
            this.before = before;
            this.names = names;
        }

        abstract List<ListedEntry> list(EntryOrder order, EntryPosition after, Instant before, int limit);

        /** The next listed row without taking it, or null at the end. */
        ListedEntry peekRow() {
            while (page.isEmpty() && !exhausted) {
                List<ListedEntry> rows = list(order, position, before, PAGE);
                if (rows.size() < PAGE) exhausted = true;
                if (!rows.isEmpty()) position = rows.getLast().position();
                for (ListedEntry row : rows) if (names.test(row.name())) page.add(row);
            }
            return page.peek();
        }

        ListedEntry takeRow() {
            ListedEntry row = peekRow();
            if (row != null) page.poll();
            return row;
        }
    }

    /** OCI units, by their root manifests. */
    private static final class Units extends Paged {
        private final PriorityQueue<Entry> waiting = new PriorityQueue<>(Entry.LEAST_RECENTLY_USED_FIRST);
        private final int mostWaiting;

        Units(RetentionRecords records, EntryOrder order, Instant before, int mostWaiting, java.util.function.Predicate<String> names) {
            super(records, order, before, names);
            this.mostWaiting = mostWaiting;
        }

        @Override
        List<ListedEntry> list(EntryOrder order, EntryPosition after, Instant before, int limit) {
            return records.rootManifests(order, after, before, limit);
        }

        @Override
        Entry next() {
            while (true) {
                ListedEntry row = peekRow();
                if (!waiting.isEmpty() && (row == null || waiting.size() > mostWaiting
                        || Entry.LEAST_RECENTLY_USED_FIRST.compare(waiting.peek(), asOwnEntry(row)) <= 0)) {
                    return waiting.poll();
                }
                if (row == null) return null;
                takeRow();
                Entry unit = unitOf(row);
                if (unit == null) continue; // gone since the page was read
                // In push order, a unit sorts by its root's push, as listed; in use order, by its latest member's use.
                if (order == EntryOrder.LAST_USE && Entry.LEAST_RECENTLY_USED_FIRST.compare(unit, asOwnEntry(row)) > 0) {
                    waiting.add(unit);
                    continue;
                }
                return unit;
            }
        }

        /** The row as if its unit were the root alone: where the listing sorts it. */
        private static Entry asOwnEntry(ListedEntry row) {
            return new Entry(row.kind(), row.name(), row.key(), row.pushedAt(), row.lastUsedAt(), List.of(), false, 0, List.of());
        }

        private Entry unitOf(ListedEntry root) {
            List<UnitMember> members = root.hasDependents()
                    ? records.unitMembers(root.name(), root.key())
                    : List.of(new UnitMember(root.key(), root.size(), root.pushedAt(), root.lastUsedAt()));
            if (members.isEmpty()) return null;
            Instant lastUse = root.pushedAt();
            long bytes = 0;
            for (UnitMember member : members) {
                if (member.lastUsedAt().isAfter(lastUse)) lastUse = member.lastUsedAt();
                if (member.pushedAt().isAfter(lastUse)) lastUse = member.pushedAt();
                bytes += member.size();
            }
            List<String> tags = root.tagged() ? records.tagsOf(root.name(), root.key()) : List.of();
            return new Entry(Entry.OCI_UNIT, root.name(), root.key(), root.pushedAt(), lastUse, tags, tags.isEmpty(), bytes, members);
        }
    }

    /** Keyed entries of every kind. Named by its key, an entry is never "untagged": that delay is for OCI roots nobody named. */
    private static final class Keyed extends Paged {
        Keyed(RetentionRecords records, EntryOrder order, Instant before, java.util.function.Predicate<String> names) {
            super(records, order, before, names);
        }

        @Override
        List<ListedEntry> list(EntryOrder order, EntryPosition after, Instant before, int limit) {
            return records.keyedEntries(order, after, before, limit);
        }

        @Override
        Entry next() {
            ListedEntry row = takeRow();
            if (row == null) return null;
            Instant lastUse = row.lastUsedAt().isAfter(row.pushedAt()) ? row.lastUsedAt() : row.pushedAt();
            return new Entry(row.kind(), row.name(), row.key(), row.pushedAt(), lastUse, List.of(), false, row.size(), List.of());
        }
    }

    /** Two walks in one order. */
    private static final class Merged extends EntryWalk {
        private final EntryWalk first;
        private final EntryWalk second;
        private final Comparator<Entry> order;
        private Entry nextOfFirst;
        private Entry nextOfSecond;
        private boolean started;

        Merged(EntryWalk first, EntryWalk second, Comparator<Entry> order) {
            this.first = first;
            this.second = second;
            this.order = order;
        }

        @Override
        Entry next() {
            if (!started) {
                nextOfFirst = first.next();
                nextOfSecond = second.next();
                started = true;
            }
            if (nextOfFirst == null && nextOfSecond == null) return null;
            if (nextOfSecond == null || (nextOfFirst != null && order.compare(nextOfFirst, nextOfSecond) <= 0)) {
                Entry taken = nextOfFirst;
                nextOfFirst = first.next();
                return taken;
            }
            Entry taken = nextOfSecond;
            nextOfSecond = second.next();
            return taken;
        }
    }
}
