/**
 * The OCI registry's domain: manifests, upload sessions, tags and referrers (the values they name are in
 * {@code values}), and the rules that keep them consistent (a manifest is accepted only when everything it
 * references is in its repository). Three roles share one set of {@link dev.cairn.registry.DigestLocks}:
 * {@link dev.cairn.registry.RepositoryBlobs}, {@link dev.cairn.registry.UploadSessions} and
 * {@link dev.cairn.registry.RepositoryManifests} (with the listings); {@link dev.cairn.registry.Registry}
 * holds the three. No HTTP, no SQL: it speaks to bytes through {@code storage} and to records through
 * {@code metadata}, and reports refusals as {@link dev.cairn.values.Refusal}, a domain reason the HTTP edge
 * turns into a wire code. A mirrored repository's reads that miss fall through to its upstream in
 * {@code dev.cairn.mirror}, which stores what it fetches through {@link dev.cairn.registry.RepositoryManifests#putMirrored}
 * and {@link dev.cairn.registry.RepositoryBlobs#putBlob}.
 */
package dev.cairn.registry;
