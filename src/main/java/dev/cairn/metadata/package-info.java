/**
 * The registry's records in SQL: which repositories hold which blobs and manifests, tags, what each
 * manifest references, upload sessions, last-use times. One schema serves the embedded SQLite file
 * and a shared PostgreSQL database; migrations run at start.
 */
package dev.cairn.metadata;
