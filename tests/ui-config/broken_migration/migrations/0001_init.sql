CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);

CREATE INDEX notes_owner ON notes (owner_id);
