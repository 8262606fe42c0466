// Each wrong argument is one error, at the argument, however the query then runs (`.first`,
// `.run`): three wrong arguments, three errors.
fn main() {
    let db = d1kit::local::Database::open_in_memory().unwrap();
    let _ = d1kit::local::block_on(
        d1kit::sql!(notes, "SELECT id FROM notes WHERE title = ?1", true).first(&db),
    );
    let _ = d1kit::local::block_on(
        d1kit::sql!(
            notes,
            "UPDATE notes SET pinned = ?1 WHERE id = ?2",
            1,
            "seven"
        )
        .run(&db),
    );
}
