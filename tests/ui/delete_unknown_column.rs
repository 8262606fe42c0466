fn main() {
    let _ = d1kit::sql!(notes, "DELETE FROM notes WHERE ownerid = ?1", 1);
}
