/**
 * What makes Cairn a cache rather than a registry: a byte budget always in force, manifest-aware LRU
 * eviction, freshness rules per repository glob, invalidation, and an online garbage collector that
 * never deletes a blob a live manifest, an upload or a manifest push in flight may still need. Every
 * deletion is written to the audit log with its reason. {@link dev.cairn.retention.CacheKeeper} decides
 * and runs collections; its BlobSweeper deletes blob records and bytes under the same digest locks pushes take.
 *
 * <p>Retention works on {@link dev.cairn.retention.Entry entries}, whatever their kind: a name the rules'
 * globs match, a push time, a last use, the records it owns. Kinds: the OCI unit (a root manifest with its
 * untagged children and referrers) and keyed entries (anything stored by kind, namespace and key through
 * {@link dev.cairn.metadata.EntryRecords}); a build-tool cache or the step cache stores keyed entries under a
 * kind name of its own and needs nothing here. A blob stays while any entry of any kind holds it.
 *
 * <p>The collector never loads the cache: {@code EvictionPlanner} walks entries in the order it evicts them
 * ({@code EntryWalk}, a page at a time on indexes made for that order) and deletes them in batches whose
 * transactions say what they freed, down to the bytes the watermark asks for. Its memory follows a page and
 * what it deletes, not the store.
 */
package dev.cairn.retention;
