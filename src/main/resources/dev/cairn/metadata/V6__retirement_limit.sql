-- How far reads may extend a retired manifest's stay: one grace window past its first end, so no client
-- that keeps reading can hold evicted bytes for ever. (Rows retired before this column existed get the
-- limit their stay already has.)
ALTER TABLE manifests ADD COLUMN retired_limit BIGINT;
UPDATE manifests SET retired_limit = retired_until WHERE retired_until IS NOT NULL
