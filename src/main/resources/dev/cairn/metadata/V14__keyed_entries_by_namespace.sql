-- What a namespace holds, for a rule's max-bytes (and the names there are): read by namespace, whatever the kind.
CREATE INDEX IF NOT EXISTS keyed_entries_by_namespace ON keyed_entries (namespace, kind, entry_key)
