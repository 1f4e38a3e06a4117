/**
 * What makes Cairn a cache rather than a registry: a byte budget always in force, manifest-aware LRU
 * eviction, freshness rules per repository glob, invalidation, and an online garbage collector that
 * never deletes a blob a live manifest, an upload or a manifest push in flight may still need. Every
 * deletion is written to the audit log with its reason. {@link dev.cairn.retention.CacheKeeper} decides
 * and runs collections; its BlobSweeper deletes blob records and bytes under the same digest locks pushes take.
 *
 * <p>Retention works on {@link dev.cairn.retention.Entry entries}, whatever their kind: a name the rules'
 * globs match, a push time, a last use, the records it owns and the blobs it holds. The planner and the
 * sweep see nothing else, and a blob stays while any entry of any kind holds it. Kinds: the OCI unit
 * ({@code OciUnits}: a root manifest with its untagged children and referrers) and keyed entries
 * ({@code KeyedEntries}: anything stored by kind, namespace and key through
 * {@link dev.cairn.metadata.EntryRecords}). A build-tool cache or the step cache stores keyed entries under
 * a kind name of its own and needs nothing here; a kind with a different shape is one more
 * {@link dev.cairn.retention.EntryKind}.
 */
package dev.cairn.retention;
