-- On SQLite, the tables a collection deletes from most, stored in key order (WITHOUT ROWID): a row then lives once,
-- in its key's b-tree, where a table with a rowid keeps it in a second tree in insertion order, another random page
-- for every row deleted; and a sweep that deletes in digest order finds its rows on neighbouring pages. The sweep's
-- mark column goes with the rebuild. (PostgreSQL: see V16__clustered_tables.postgres.sql.)
CREATE TABLE blobs_by_digest (
    digest        ${text} PRIMARY KEY,
    size          BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO blobs_by_digest (digest, size, created_at, last_used_at) SELECT digest, size, created_at, last_used_at FROM blobs ORDER BY digest;
DROP TABLE blobs;
ALTER TABLE blobs_by_digest RENAME TO blobs;

CREATE TABLE repository_blobs_by_key (
    repository  ${text} NOT NULL,
    digest      ${text} NOT NULL,
    linked_at   BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
) WITHOUT ROWID;
INSERT INTO repository_blobs_by_key (repository, digest, linked_at) SELECT repository, digest, linked_at FROM repository_blobs ORDER BY repository, digest;
DROP TABLE repository_blobs;
ALTER TABLE repository_blobs_by_key RENAME TO repository_blobs;
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

CREATE TABLE manifest_references_by_key (
    repository  ${text} NOT NULL,
    manifest    ${text} NOT NULL,
    reference   ${text} NOT NULL,
    PRIMARY KEY (repository, manifest, reference)
) WITHOUT ROWID;
INSERT INTO manifest_references_by_key (repository, manifest, reference) SELECT repository, manifest, reference FROM manifest_references
    ORDER BY repository, manifest, reference;
DROP TABLE manifest_references;
ALTER TABLE manifest_references_by_key RENAME TO manifest_references;
CREATE INDEX manifest_references_by_reference_repository ON manifest_references (reference, repository, manifest)
