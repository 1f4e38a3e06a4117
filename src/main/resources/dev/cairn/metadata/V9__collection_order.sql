-- The collector plans in the database, reading entries a page at a time in the orders it evicts in,
-- instead of loading every manifest, reference and blob: its memory then follows a page, not the store.
-- Least recently used first (ties by push time, then name and key), over the manifests still live:
CREATE INDEX IF NOT EXISTS manifests_by_last_use ON manifests (last_used_at, pushed_at, repository, digest) WHERE retired_until IS NULL;
-- Oldest push first, for max-age and the untagged delay:
CREATE INDEX IF NOT EXISTS manifests_by_push ON manifests (pushed_at, repository, digest) WHERE retired_until IS NULL;
CREATE INDEX IF NOT EXISTS keyed_entries_by_last_use ON keyed_entries (last_used_at, pushed_at, namespace, entry_key, kind);
CREATE INDEX IF NOT EXISTS keyed_entries_by_push ON keyed_entries (pushed_at, namespace, entry_key, kind);
-- Why a blob lost its last holder (the reason of the eviction that freed it), written by that eviction's
-- transaction and read by the sweep that deletes the blob for the audit log, instead of a map in memory
-- the size of everything a collection frees.
ALTER TABLE blobs ADD COLUMN freed_reason ${text}
