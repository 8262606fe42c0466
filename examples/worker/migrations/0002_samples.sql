-- Exact-value round trips: integers at JavaScript's 2^53 edge, reals, bytes.
CREATE TABLE samples (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  n INTEGER NOT NULL,
  r REAL NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX samples_by_owner ON samples (owner, id);
