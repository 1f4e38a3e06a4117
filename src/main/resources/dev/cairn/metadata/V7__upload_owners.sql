-- Who opened each upload session (a user name, or the client address of an anonymous client), so the
-- sessions one client may hold open are bounded: a client that opens sessions and never finishes them
-- must not fill the store's session table, its disk or its file descriptors for everyone else.
ALTER TABLE uploads ADD COLUMN owner ${text};
CREATE INDEX IF NOT EXISTS uploads_by_owner ON uploads (owner)
