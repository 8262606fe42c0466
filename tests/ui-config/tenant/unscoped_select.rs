fn main() {
    let _ = d1kit::sql!("SELECT id, title FROM notes WHERE id = ?1", 1);
}
