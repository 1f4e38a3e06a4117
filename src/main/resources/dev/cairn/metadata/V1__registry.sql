-- The registry core. Times are milliseconds since the epoch; digests and names are text.
CREATE TABLE repositories (
    name        ${text} PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

-- One row per stored blob, shared by every repository that links it.
CREATE TABLE blobs (
    digest        ${text} PRIMARY KEY,
    size          BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL
);

-- Which repository may serve which blob (pushed or mounted into it).
CREATE TABLE repository_blobs (
    repository  ${text} NOT NULL,
    digest      ${text} NOT NULL,
    linked_at   BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository     ${text} NOT NULL,
    digest         ${text} NOT NULL,
    media_type     ${text} NOT NULL,
    content        ${blob} NOT NULL,
    size           BIGINT NOT NULL,
    subject        ${text},
    artifact_type  ${text},
    pushed_at      BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject);

-- Every digest a manifest references (config, layers, index entries): what GC must keep.
CREATE TABLE manifest_references (
    repository  ${text} NOT NULL,
    manifest    ${text} NOT NULL,
    reference   ${text} NOT NULL,
    PRIMARY KEY (repository, manifest, reference)
);
CREATE INDEX manifest_references_by_reference ON manifest_references (reference);

CREATE TABLE tags (
    repository  ${text} NOT NULL,
    name        ${text} NOT NULL,
    digest      ${text} NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (repository, name)
);
CREATE INDEX tags_by_digest ON tags (repository, digest);

CREATE TABLE uploads (
    id          ${text} PRIMARY KEY,
    repository  ${text} NOT NULL,
    started_at  BIGINT NOT NULL
);
