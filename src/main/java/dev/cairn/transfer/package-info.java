/**
 * Caches that move: export of repositories as an OCI image layout (a directory or a tar) and import of
 * layouts, BuildKit local cache directories and {@code docker save} tars into a registry. It speaks to the
 * registry only through {@link dev.cairn.transfer.OciRegistry}, the OCI Distribution API as a client sees
 * it, so an import is checked by the same rules as any push (digests verified, a manifest linked only once
 * everything it references is in the repository, access rules) and works against any OCI registry.
 */
package dev.cairn.transfer;
