CREATE VIEW note_summaries AS
SELECT n.id,
       n.owner_id,
       u.email AS owner_email,
       n.title,
       COALESCE(n.title, 'Untitled') AS display_title,
       length(n.body) AS body_length,
       n.pinned,
       n.due_date
FROM notes n
JOIN users u ON u.id = n.owner_id;

CREATE VIEW tag_usage AS
SELECT t.id AS tag_id,
       t.owner_id,
       t.name,
       t.color,
       COUNT(nt.note_id) AS note_count,
       MAX(nt.added_at) AS last_used_at
FROM tags t
LEFT JOIN note_tags nt ON nt.tag_id = t.id
GROUP BY t.id;

CREATE VIEW upcoming AS
SELECT id, owner_id, title, due_date,
       julianday(due_date) - julianday('now') AS days_left
FROM notes
WHERE due_date IS NOT NULL AND archived IS NOT 1;

-- column names from the view's column list
CREATE VIEW user_stats (user_id, note_total, last_note_at) AS
SELECT u.id,
       (SELECT COUNT(*) FROM notes WHERE owner_id = u.id),
       (SELECT MAX(created_at) FROM notes WHERE owner_id = u.id)
FROM users u;
