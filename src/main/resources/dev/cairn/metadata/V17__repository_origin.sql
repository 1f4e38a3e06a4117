-- Whether a repository's content comes from a pull-through mirror's upstream (1) or from clients' pushes (0). Set by
-- whichever writes into the repository first and never changed: with a default mirror (prefix ""), a repository that
-- holds pushed images is the clients' and never asks the upstream, one that holds mirrored images takes no pushes.
ALTER TABLE repositories ADD COLUMN mirrored SMALLINT NOT NULL DEFAULT 0
