/**
 * The pull-through mirror: repositories under a configured prefix are read-only copies of an upstream
 * registry's ({@code mirrors:}); the default mirror (prefix "") answers names without one, for each repository that
 * clients did not push into first (whose it is, is recorded with the repository). A read that misses fetches from the upstream, serves while it stores, and keeps
 * what it fetched as ordinary entries under the same budget, LRU and audit log; a tag is checked again after its
 * TTL, and served stale while the upstream fails. {@link dev.cairn.mirror.Mirror} is the service the OCI front
 * calls; {@link dev.cairn.mirror.Upstream} is what it needs of the upstream (implemented by the HTTP client);
 * {@link dev.cairn.mirror.BlobFetches} makes one upstream fetch of a blob however many readers want it at once.
 */
package dev.cairn.mirror;
