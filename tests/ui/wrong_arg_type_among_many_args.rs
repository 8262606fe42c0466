// A query of more than 12 arguments (converted to values where it is built): a wrong argument
// is still one error, at the argument.
fn main() {
    let db = d1kit::local::Database::open_in_memory().unwrap();
    let _ = d1kit::local::block_on(
        d1kit::sql!(
            notes,
            "SELECT id FROM notes WHERE id IN (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, "thirteen"
        )
        .all(&db),
    );
}
