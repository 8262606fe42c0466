fn main() {
    let _ = d1kit::sql!("UPDATE notes SET title = ?1 WHERE id = ?2", "t", 1);
}
