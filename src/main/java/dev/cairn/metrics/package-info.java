/** Cairn's counters and gauges (hits, misses, bytes, evictions, GC runs), exported at {@code /metrics} for Prometheus. */
package dev.cairn.metrics;
