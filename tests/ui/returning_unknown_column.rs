fn main() {
    let _ = d1kit::sql!(
        notes,
        "INSERT INTO notes (owner_id) VALUES (?1) RETURNING idd",
        1
    );
}
