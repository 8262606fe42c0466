#[derive(d1kit::Row)]
struct Note {
    id: i64,
    title: String,
}

fn main() {
    let _ = d1kit::sql_as!(Note, "SELECT id, title FROM notes");
}
