-- The registry core. Times are milliseconds since the epoch; digests and names are text.
CREATE TABLE repositories (
    name        TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

-- One row per stored blob, shared by every repository that links it.
CREATE TABLE blobs (
    digest        TEXT PRIMARY KEY,
    size          BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL
);

-- Which repository may serve which blob (pushed or mounted into it).
CREATE TABLE repository_blobs (
    repository  TEXT NOT NULL,
    digest      TEXT NOT NULL,
    linked_at   BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository     TEXT NOT NULL,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    content        ${blob} NOT NULL,
    size           BIGINT NOT NULL,
    subject        TEXT,
    artifact_type  TEXT,
    pushed_at      BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject);

-- Every digest a manifest references (config, layers, index entries): what GC must keep.
CREATE TABLE manifest_references (
    repository  TEXT NOT NULL,
    manifest    TEXT NOT NULL,
    reference   TEXT NOT NULL,
    PRIMARY KEY (repository, manifest, reference)
);
CREATE INDEX manifest_references_by_reference ON manifest_references (reference);

CREATE TABLE tags (
    repository  TEXT NOT NULL,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (repository, name)
);
CREATE INDEX tags_by_digest ON tags (repository, digest);

CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    repository  TEXT NOT NULL,
    started_at  BIGINT NOT NULL
);
