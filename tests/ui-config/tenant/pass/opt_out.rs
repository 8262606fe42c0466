// Queries meant to cross tenants opt out: `#[cross_tenant]` first in `sql!` / `sql_as!`,
// `cross_tenant` in `#[d1(..)]`.
use d1kit::{Query, Row};

#[derive(Row)]
struct Note {
    id: i64,
    title: String,
}

#[derive(Query)]
#[d1(cross_tenant, sql = "SELECT COUNT(*) AS n FROM notes WHERE title = :title")]
struct CountEverywhere<'a> {
    title: &'a str,
}

#[derive(Query)]
#[d1(sql = "SELECT id, title FROM notes ORDER BY id LIMIT :limit", row = Note, cross_tenant)]
struct FirstNotes {
    limit: i64,
}

fn main() {
    let _ = d1kit::sql!(#[cross_tenant] "SELECT COUNT(*) AS n FROM notes");
    let _ = d1kit::sql!(#[cross_tenant] app, "DELETE FROM notes WHERE id = ?1", 1);
    let _ = d1kit::sql!(#[cross_tenant] "INSERT INTO notes (user_id, title) VALUES ('system', ?1)", "t");
    let _ = d1kit::sql_as!(#[cross_tenant] Note, "SELECT id, title FROM notes");
    let _ = d1kit::sql_as!(#[cross_tenant] app, Note, "SELECT id, title FROM notes WHERE id = ?1", 1);
    let s = CountEverywhere { title: "x" }.into_statement();
    assert_eq!(s.params.len(), 1);
    let s = FirstNotes { limit: 3 }.into_statement();
    assert_eq!(s.params.len(), 1);
}
