-- Audit records are written in the same transaction as the deletion they explain, then copied to
-- <data>/audit.log and forgotten here: a crash can never leave a deletion unexplained.
CREATE TABLE audit_events (
    id          ${serial},
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    repository  TEXT,
    digest      TEXT NOT NULL,
    tags        TEXT,
    bytes       BIGINT NOT NULL,
    reason      TEXT NOT NULL
);
