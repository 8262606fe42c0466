-- Per-user preferences: a STRICT table whose value column is ANY.
CREATE TABLE prefs (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value ANY,
  updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
  PRIMARY KEY (user_id, key)
) STRICT;

-- An event log; `payload` has no declared type.
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT 'ping',
  payload,
  at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TRIGGER users_created AFTER INSERT ON users
BEGIN
  INSERT INTO events (kind, payload) VALUES ('user_created', json_object('id', new.id, 'email', new.email));
END;

-- A generated column added later (ALTER TABLE can add VIRTUAL ones).
ALTER TABLE notes ADD COLUMN title_length INTEGER GENERATED ALWAYS AS (length(title)) VIRTUAL;
