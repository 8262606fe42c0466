#[derive(d1kit::Row)]
struct Note {
    id: i64,
    title: Option<String>,
}

fn main() {
    let _ = d1kit::sql_as!(
        notes,
        Note,
        "SELECT id, title FROM notes WHERE owner_id = ?1",
        "me"
    );
}
