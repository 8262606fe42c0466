#[derive(d1kit::Query)]
#[d1(database = "notes", sql = SELECT)]
struct NotesOf {
    owner: i64,
}

fn main() {
    let _ = NotesOf { owner: 1 };
}
