fn main() {
    let _ = d1kit::sql!(notes, "UPDATE notes SET pinned = ?1 WHERE id = ?2", 1, 7);
}
