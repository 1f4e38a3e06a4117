/**
 * Blob bytes and nothing else: content-addressed files, verified against their digest before they
 * become visible and published atomically, plus the byte side of upload sessions. Which repository
 * may see a blob is the metadata's business, not this package's.
 *
 * <p>A {@link dev.cairn.storage.BlobStore} plays three roles, and callers take the one they need:
 * {@link dev.cairn.storage.BlobContent} (blobs by digest: pulls and pushes), {@link
 * dev.cairn.storage.UploadSessionStore} (uploads not yet a blob) and {@link dev.cairn.storage.BlobListing}
 * (the collector's walk over every blob). Two stores play them: files on local disk and objects in an
 * S3-compatible bucket shared by every node; one contract suite ({@code BlobStoreContractTest}) holds both
 * to the same behaviour, and a new backend joins it.
 */
package dev.cairn.storage;
