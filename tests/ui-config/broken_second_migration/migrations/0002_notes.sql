-- Notes, owned by users.
CREATE TABLE notes (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL);

ALTER TABLE notes ADD COLUMN title TEXT;
ALTER TABLE notes ADD COLUMN title TEXT;
