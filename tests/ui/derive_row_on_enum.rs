#[derive(d1kit::Row)]
enum Note {
    Draft { id: i64 },
    Published { id: i64, title: String },
}

fn main() {
    let _ = Note::Draft { id: 1 };
}
