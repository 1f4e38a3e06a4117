-- An evicted manifest that a read may still be using (it was read within the grace window, on any node)
-- is retired rather than deleted: its tags go at once, so no new build finds it by tag, but the manifest
-- and its references stay until retired_until, so a build that read its index still gets every child
-- manifest and blob. The collector deletes retired manifests once that time has passed.
ALTER TABLE manifests ADD COLUMN retired_until BIGINT;
CREATE INDEX manifests_retired ON manifests (retired_until) WHERE retired_until IS NOT NULL
