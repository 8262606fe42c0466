-- A TEXT PRIMARY KEY on a rowid table may hold NULL (an old SQLite quirk).
CREATE TABLE mime_types (
  mime_type TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  icon BLOB
);

CREATE TABLE attachments (
  id TEXT PRIMARY KEY,
  note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  filename VARCHAR(255) NOT NULL,
  mime_type TEXT REFERENCES mime_types(mime_type),
  size_bytes BIGINT NOT NULL,
  data BLOB NOT NULL,
  thumbnail BLOB,
  sha256 CHAR(64),
  uploaded_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX attachments_note ON attachments (note_id);
