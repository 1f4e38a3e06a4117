-- One index answers "which manifests reference this digest" in any repository (does anything still hold a blob) and
-- in one (is a root listed, does a link serve a manifest, which members list this one), where two did: every
-- reference a push writes or an eviction deletes changes one index entry fewer, each at a page of its own
-- (references are spread over the index at random), which at millions of blobs is much of what a collection writes.
-- It holds the referring manifest too: without it SQLite answered "which manifests of this repository list this
-- digest" from the primary key by the repository alone, reading every reference of the repository.
CREATE INDEX IF NOT EXISTS manifest_references_by_reference_repository ON manifest_references (reference, repository, manifest);
DROP INDEX IF EXISTS manifest_references_by_reference;
DROP INDEX IF EXISTS manifest_references_by_repository_reference
