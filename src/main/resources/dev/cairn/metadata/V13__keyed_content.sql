-- The blob a keyed entry's key stands for (what a GET of the key answers), among the blobs the entry holds:
-- a Bazel action-cache entry holds its own bytes and every output it names. NULL for entries that are not
-- content under a key.
ALTER TABLE keyed_entries ADD COLUMN content ${text};
-- What the client said of the content: how long it took to make (Turborepo's x-artifact-duration; what each hit
-- saves) and its signature (x-artifact-tag), given back with it.
ALTER TABLE keyed_entries ADD COLUMN cost_ms BIGINT;
ALTER TABLE keyed_entries ADD COLUMN signature ${text};
-- Keys written through /cache before this column held their one blob.
UPDATE keyed_entries SET content = (SELECT MIN(k.digest) FROM keyed_entry_blobs k WHERE k.kind = keyed_entries.kind
    AND k.namespace = keyed_entries.namespace AND k.entry_key = keyed_entries.entry_key) WHERE kind = 'cache'
