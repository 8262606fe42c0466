#[derive(d1kit::Row)]
struct Note(i64, Option<String>);

fn main() {
    let _ = Note(1, None);
}
