-- The rebuild an ORM writes to change a column: on D1 the DROP deletes every note.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);
INSERT INTO users_new (id, email) SELECT id, email FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
PRAGMA defer_foreign_keys = OFF;
