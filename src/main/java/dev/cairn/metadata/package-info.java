/**
 * The registry's records in SQL: which repositories hold which blobs and manifests, tags, what each
 * manifest references, upload sessions, last-use times. One schema serves the embedded SQLite file
 * and a shared PostgreSQL database ({@code SqlDatabase}: the pool and the transactions; {@code SchemaMigrations}:
 * the numbered migrations run at start). The records are kept by role, each class on the one database:
 * {@code SqlRegistryRecords} what a request reads and writes, {@code SqlUploadRecords} the upload sessions,
 * {@code SqlRetentionRecords} what retention deletes, {@code SqlEntryListing} the entries it walks in eviction order
 * (a page at a time), {@code SqlKeyedEntries} the entries of kinds other
 * than the OCI image ({@link dev.cairn.metadata.EntryRecords}), {@code SqlAuditEvents} the deletions not yet in
 * the audit log; {@code JdbcMetadataStore} sets them up and answers {@link dev.cairn.metadata.MetadataStore} and
 * {@link dev.cairn.metadata.RetentionRecords} through them. {@link dev.cairn.metadata.ClusterLocks} is
 * how nodes sharing the database agree on who collects and who publishes or deletes a blob
 * (PostgreSQL advisory locks; nothing to agree on for SQLite), and {@link dev.cairn.metadata.ReadProtection}
 * the rule that keeps what a read was served for the grace window on every node.
 */
package dev.cairn.metadata;
