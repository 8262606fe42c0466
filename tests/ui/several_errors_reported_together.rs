fn main() {
    let _ = d1kit::sql!(
        notes,
        "SELECT titel, bodyy FROM notes WHERE ownerid = ?1",
        1
    );
}
