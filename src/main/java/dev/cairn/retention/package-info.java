/**
 * What makes Cairn a cache rather than a registry: a byte budget always in force, manifest-aware LRU
 * eviction, freshness rules per repository glob, invalidation, and an online garbage collector that
 * never deletes a blob a live manifest, an upload or a manifest push in flight may still need. Every
 * deletion is written to the audit log with its reason. {@link dev.cairn.retention.CacheKeeper} decides
 * and runs collections; its BlobSweeper deletes blob records and bytes under the same digest locks pushes take.
 */
package dev.cairn.retention;
