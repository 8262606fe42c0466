fn main() {
    let _ = d1kit::sql!(
        notes,
        "SELECT id, title FROM notes JOIN users ON users.id = notes.owner_id"
    );
}
