fn main() {
    let _ = d1kit::sql!(
        notes,
        "SELECT owner_id, count(*) FROM notes GROUP BY owner_id"
    );
}
