fn main() {
    let _ = d1kit::sql!(
        notes,
        "SELECT id,
                title,
                bodi
         FROM notes
         WHERE owner_id = ?1",
        1
    );
}
