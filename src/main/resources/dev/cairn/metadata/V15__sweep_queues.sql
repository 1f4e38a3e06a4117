-- What a collection writes per blob it frees, made smaller (at millions of blobs a collection's time is the pages it
-- changes, and digests put every row on a page of its own).
--
-- The sweep's marks move from a column of blobs (and a partial index) to a table of their own: marking a freed blob
-- rewrote its row, one random page of the whole blob table per blob, where a row in this table, which holds only
-- what waits for a sweep, shares its few pages with every other mark.
CREATE TABLE IF NOT EXISTS sweep_marks (
    digest  ${text} PRIMARY KEY,
    reason  ${text} NOT NULL
);
INSERT INTO sweep_marks (digest, reason) SELECT digest, freed_reason FROM blobs WHERE freed_reason IS NOT NULL;
DROP INDEX IF EXISTS blobs_marked_for_sweep;
-- Links made since the collector last looked, appended as they are made and taken off as they are looked at: an
-- index of every link by its time cost a random page for each link a sweep deleted. A link is in here until a look
-- has read it, whatever the clock of the node that made it or however long its transaction waited.
CREATE TABLE IF NOT EXISTS new_links (
    id          ${serial},
    repository  ${text} NOT NULL,
    digest      ${text} NOT NULL
);
-- Those the last look may not have seen: made since it started, less a minute for transactions that waited.
INSERT INTO new_links (repository, digest) SELECT repository, digest FROM repository_blobs WHERE linked_at >= ${last_link_look} ORDER BY linked_at;
DROP INDEX IF EXISTS repository_blobs_by_link_time
