fn main() {
    let _ = d1kit::sql!("SELECT n.id FROM notes n JOIN tags t ON t.note_id = n.id");
}
