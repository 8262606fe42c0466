fn main() {
    let _ = d1kit::sql!(
        notes,
        "INSERT INTO notes (owner_id, titel) VALUES (?1, ?2)",
        1,
        "hello"
    );
}
