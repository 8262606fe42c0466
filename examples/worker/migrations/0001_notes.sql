-- Each user's notes. `owner` is the tenant key: several users share one shard.
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  title TEXT NOT NULL,
  body TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX notes_by_owner ON notes (owner, id);
