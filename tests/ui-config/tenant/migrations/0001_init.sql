-- Tenants share these tables; `user_id` says whose a row is.
CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL,
  email TEXT NOT NULL
);

CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT ''
);

CREATE TABLE tags (
  user_id TEXT NOT NULL,
  note_id INTEGER NOT NULL REFERENCES notes(id),
  tag TEXT NOT NULL,
  PRIMARY KEY (user_id, note_id, tag)
);

-- Reference data every tenant reads: no tenant column.
CREATE TABLE plans (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL
);
