-- One user's notes: the whole database is theirs, so no owner column.
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT
);
