-- The look at links made since the last collection reads them in (time, repository, digest) order a page at
-- a time; with the time alone in the index, a page that ended among many links of one millisecond would read
-- them all again. This index serves every lookup by link time the old one did.
CREATE INDEX IF NOT EXISTS repository_blobs_by_link_time ON repository_blobs (linked_at, repository, digest);
DROP INDEX IF EXISTS repository_blobs_by_linked_at
