// A #[derive(Query)] whose field is named like the tenant column knows its tenant: it
// implements TenantQuery, routing by that field's value (what `all_in(&env)` uses on Workers).
use d1kit::TenantQuery;

#[derive(d1kit::Query)]
#[d1(sql = "SELECT id, title FROM notes WHERE user_id = :user_id ORDER BY id")]
struct NotesOf<'a> {
    user_id: &'a str,
}

#[derive(d1kit::Query)]
#[d1(sql = "INSERT INTO notes (user_id, title) VALUES (:user_id, :title)")]
struct AddNote {
    user_id: String,
    title: String,
}

fn main() {
    let q = NotesOf { user_id: "alice" };
    assert_eq!(q.tenant(), "alice");
    assert_eq!(<NotesOf as TenantQuery>::BINDING, "APP");
    assert_eq!(<NotesOf as TenantQuery>::SHARDS, 1);
    assert_eq!(q.shard(), d1kit::route::shard_for(b"alice", 1));
    assert_eq!(q.binding(), "APP");
    let add = AddNote { user_id: "bob".to_owned(), title: "t".to_owned() };
    assert_eq!(add.tenant(), "bob");
}
