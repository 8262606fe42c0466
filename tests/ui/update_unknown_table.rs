fn main() {
    let _ = d1kit::sql!(
        notes,
        "UPDATE note SET title = ?1 WHERE id = ?2",
        "hello",
        1
    );
}
