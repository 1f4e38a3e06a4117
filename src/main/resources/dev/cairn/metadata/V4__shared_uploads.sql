-- Upload progress kept in the database, so any node can continue a session another node started
-- (object stores hold no appendable files): the store's own record of the session (a multipart upload,
-- its parts, the running hash) and a revision that every change bumps, so two nodes never both advance it.
ALTER TABLE uploads ADD COLUMN progress ${text};
ALTER TABLE uploads ADD COLUMN revision BIGINT NOT NULL DEFAULT 0
