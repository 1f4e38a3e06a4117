-- The sweep looks only at blobs marked for it (blobs.freed_reason set: why they may go), so that a
-- collection's work follows what changed, not the size of the store. Whatever may leave a blob unheld
-- marks it in its own transaction; this index lists the marked ones.
CREATE INDEX IF NOT EXISTS blobs_marked_for_sweep ON blobs (digest) WHERE freed_reason IS NOT NULL
