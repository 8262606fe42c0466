CREATE VIEW open_issues AS
SELECT i.id, i.workspace_id, i.number, i.title, i.assignee, i.priority, w.name AS workspace_name
FROM issues i
JOIN workspaces w ON w.id = i.workspace_id
WHERE i.status = 'open';

CREATE VIEW issue_time AS
SELECT i.id AS issue_id,
       i.title,
       SUM(t.minutes) AS total_minutes,
       COUNT(t.id) AS entry_count,
       TOTAL(t.minutes * t.rate) AS amount
FROM issues i
LEFT JOIN time_entries t ON t.issue_id = i.id
GROUP BY i.id;
