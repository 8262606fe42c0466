fn main() {
    let _ = d1kit::sql!("DELETE FROM notes WHERE id = ?1", 1);
}
