fn main() {
    let _ = d1kit::sql!(notes, "INSERT INTO notes (owner_id, title) VALUES (?1)", 1);
}
