CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
SAVEPOINT before_import;
INSERT INTO notes (title) VALUES ('welcome');
RELEASE before_import;
