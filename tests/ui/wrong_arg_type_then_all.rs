// A wrong argument is one error, at the argument: running the query (`.all`) adds none.
fn main() {
    let db = d1kit::local::Database::open_in_memory().unwrap();
    let _ = d1kit::local::block_on(
        d1kit::sql!(notes, "SELECT id FROM notes WHERE body = ?1", 5).all(&db),
    );
}
