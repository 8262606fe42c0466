// Queries that pin the tenant column compile: `=` with a parameter, carried through joins,
// subqueries and CTEs; tables without the column are free.
use d1kit::{Query, Row};

#[derive(Row)]
struct Note {
    id: i64,
    title: String,
}

#[derive(Query)]
#[d1(sql = "SELECT id, title FROM notes WHERE user_id = :user ORDER BY id DESC LIMIT :limit")]
struct RecentNotes<'a> {
    user: &'a str,
    limit: i64,
}

#[derive(Query)]
#[d1(sql = "SELECT id, title FROM notes WHERE user_id = :user AND id = :id", row = Note)]
struct OneNote<'a> {
    user: &'a str,
    id: i64,
}

fn main() {
    let user = "u1";
    let _ = d1kit::sql!("SELECT id, title FROM notes WHERE user_id = ?1", user);
    let _ = d1kit::sql!(app, "SELECT id FROM notes WHERE id = ?1 AND user_id = ?2", 1, user);
    let _ = d1kit::sql!("SELECT id FROM notes WHERE notes.user_id == :user", user);
    // USING and ON equalities carry the constraint to the joined table.
    let _ = d1kit::sql!(
        "SELECT n.id, t.tag FROM notes n JOIN tags t USING (user_id) WHERE n.user_id = ?1",
        user
    );
    let _ = d1kit::sql!(
        "SELECT n.id, t.tag FROM notes n
         JOIN tags t ON t.note_id = n.id AND t.user_id = n.user_id
         WHERE n.user_id = ?1",
        user
    );
    let _ = d1kit::sql!(
        "SELECT n.id FROM notes n JOIN users u ON u.id = n.user_id WHERE u.id = ?1",
        user
    );
    // Subqueries and CTEs: each scope on its own, correlated ones through the outer query.
    let _ = d1kit::sql!(
        "SELECT id FROM notes n WHERE n.user_id = ?1
           AND EXISTS (SELECT 1 FROM tags t WHERE t.note_id = n.id AND t.user_id = n.user_id)",
        user
    );
    let _ = d1kit::sql!(
        "WITH mine AS (SELECT id, title FROM notes WHERE user_id = ?1) SELECT id, title FROM mine",
        user
    );
    // Writes.
    let _ = d1kit::sql!("INSERT INTO notes (user_id, title) VALUES (?1, ?2)", user, "t");
    let _ = d1kit::sql!(
        "INSERT INTO tags (user_id, note_id, tag) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, note_id, tag) DO UPDATE SET tag = excluded.tag",
        user,
        1,
        "x"
    );
    let _ = d1kit::sql!(
        "INSERT INTO tags (user_id, note_id, tag) SELECT user_id, id, ?3 FROM notes WHERE user_id = ?1 AND id = ?2",
        user,
        1,
        "x"
    );
    let _ = d1kit::sql!("UPDATE notes SET title = ?1 WHERE id = ?2 AND user_id = ?3", "t", 1, user);
    let _ = d1kit::sql!("DELETE FROM notes WHERE user_id = ?1 AND id = ?2", user, 1);
    // No tenant column: free.
    let _ = d1kit::sql!("SELECT id, name FROM plans");
    let _ = d1kit::sql_as!(Note, "SELECT id, title FROM notes WHERE user_id = ?1", user);

    let s = RecentNotes { user, limit: 5 }.into_statement();
    assert_eq!(s.params.len(), 2);
    let s = OneNote { user, id: 1 }.into_statement();
    assert_eq!(s.params.len(), 2);
}
