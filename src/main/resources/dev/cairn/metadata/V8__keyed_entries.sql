-- Entries stored by key in a namespace, of every kind but the OCI unit (a build tool's result, a step
-- record): retention evicts them by the same budget, LRU order and rules as images. size is the entry
-- record's own bytes (a small result kept inline); the blobs it names count once, as every blob does.
CREATE TABLE keyed_entries (
    kind          ${text} NOT NULL,
    namespace     ${text} NOT NULL,
    entry_key     ${text} NOT NULL,
    size          BIGINT NOT NULL,
    pushed_at     BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, namespace, entry_key)
);

-- The blobs each entry holds: a blob stays while an entry of any kind holds it, as while a repository links it.
CREATE TABLE keyed_entry_blobs (
    kind       ${text} NOT NULL,
    namespace  ${text} NOT NULL,
    entry_key  ${text} NOT NULL,
    digest     ${text} NOT NULL,
    PRIMARY KEY (kind, namespace, entry_key, digest)
);
CREATE INDEX keyed_entry_blobs_by_digest ON keyed_entry_blobs (digest)
