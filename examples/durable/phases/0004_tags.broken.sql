-- A migration that fails on every database holding a note 1 (it compiles: the schema the
-- macros build starts empty). Its table must not stay behind.
CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes (id), tag TEXT NOT NULL);
INSERT INTO notes (id, title) VALUES (1, 'a migration must not write this');
