-- An evicted manifest that a read may still be using (it was read within the grace window, on any node)
-- is retired rather than deleted: its tags go at once, so no new build finds it by tag, but the manifest
-- and its references stay until retired_until, so a build that read its index still gets every child
-- manifest and blob. A later read extends the stay to its own grace window, but never past
-- retired_limit (one more grace window), so no reader can keep evicted bytes for ever. The collector
-- deletes retired manifests once their time has passed and no other manifest references them.
ALTER TABLE manifests ADD COLUMN retired_until BIGINT;
ALTER TABLE manifests ADD COLUMN retired_limit BIGINT;
CREATE INDEX manifests_retired ON manifests (retired_until) WHERE retired_until IS NOT NULL
