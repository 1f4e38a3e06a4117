-- PostgreSQL keeps rows in heaps and its deletes leave index entries to VACUUM, so the rebuild SQLite gets in
-- V16__clustered_tables.sql would only cost time here; the sweep's mark column, now a table of its own (V15), goes.
ALTER TABLE blobs DROP COLUMN freed_reason
