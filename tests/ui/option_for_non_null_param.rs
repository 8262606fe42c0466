fn main() {
    let owner: Option<i64> = Some(1);
    let _ = d1kit::sql!(
        notes,
        "INSERT INTO notes (owner_id, title) VALUES (?1, ?2)",
        owner,
        "hello"
    );
}
