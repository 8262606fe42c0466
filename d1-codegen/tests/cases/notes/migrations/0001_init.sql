-- Notes app, one D1 database per user. `users` holds the owner and the
-- people whose notes are shared with them.
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email VARCHAR(255) NOT NULL UNIQUE,
  display_name TEXT,
  is_admin BOOLEAN NOT NULL DEFAULT FALSE,
  verified bool,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_login_at TIMESTAMP,
  settings JSON,
  external_id UUID,
  balance DECIMAL(10,2) NOT NULL DEFAULT 0,
  rating DOUBLE,
  avatar BLOB
);

CREATE TABLE notes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  parent_id INTEGER REFERENCES notes(id) ON DELETE SET NULL,
  title VARCHAR(200),
  body TEXT NOT NULL DEFAULT '',
  pinned BOOLEAN NOT NULL DEFAULT 0,
  archived BOOLEAN,
  word_count INT NOT NULL DEFAULT 0,
  score REAL,
  priority NUMERIC,
  due_date DATE,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME,
  meta JSON
);

CREATE INDEX notes_owner_created ON notes (owner_id, created_at);

CREATE TABLE tags (
  id INTEGER PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name VARCHAR(20) NOT NULL,
  color CHAR(7),
  UNIQUE (owner_id, name)
);

-- WITHOUT ROWID: the primary key columns are NOT NULL although not declared so.
CREATE TABLE note_tags (
  note_id INTEGER REFERENCES notes(id) ON DELETE CASCADE,
  tag_id INTEGER REFERENCES tags(id) ON DELETE CASCADE,
  added_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (note_id, tag_id)
) WITHOUT ROWID;
