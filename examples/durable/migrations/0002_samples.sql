-- Values at the edges of what crosses JavaScript: integers, reals, bytes.
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    r REAL NOT NULL,
    data BLOB NOT NULL
);
