-- Audit records are written in the same transaction as the deletion they explain, then copied to
-- <data>/audit.log and forgotten here: a crash can never leave a deletion unexplained.
CREATE TABLE audit_events (
    id          ${serial},
    at          BIGINT NOT NULL,
    kind        ${text} NOT NULL,
    repository  ${text},
    digest      ${text} NOT NULL,
    tags        ${text},
    bytes       BIGINT NOT NULL,
    reason      ${text} NOT NULL
);
