-- The upgrade: a column with a default, so every user's existing notes are kept.
ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
