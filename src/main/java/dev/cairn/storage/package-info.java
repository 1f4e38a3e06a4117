/**
 * Blob bytes and nothing else: content-addressed files, verified against their digest before they
 * become visible and published atomically, plus the byte side of upload sessions. Which repository
 * may see a blob is the metadata's business, not this package's.
 */
package dev.cairn.storage;
