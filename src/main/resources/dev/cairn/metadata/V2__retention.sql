-- Retention: settings decided once (the default budget), and the lookups the collector makes.
CREATE TABLE settings (
    name   ${text} PRIMARY KEY,
    value  ${text} NOT NULL
);
CREATE INDEX manifest_references_by_repository_reference ON manifest_references (repository, reference);
CREATE INDEX repository_blobs_by_linked_at ON repository_blobs (linked_at);
