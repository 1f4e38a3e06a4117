package dev.cairn.retention;

import java.util.ArrayList;
import java.util.List;

/**
 * A count of things and the first of them: a report lists the first thousand evictions or deletions and counts
 * the rest, so that a collection of millions of blobs answers in kilobytes and its report fits any heap.
 */
final class Tally<T> {
    static final int LISTED = 1000;

    private final List<T> first = new ArrayList<>();
    private long count;

    void add(T item) {
        if (first.size() < LISTED) first.add(item);
        count++;
    }

    List<T> first() {
        return first;
    }

    long count() {
        return count;
    }
}
