// A wrong argument of a query in a batch is one error, at the argument: the batch adds none,
// whether it is a tuple of queries or a `Vec` of them.
use d1kit::Executor;

fn main() {
    let db = d1kit::local::Database::open_in_memory().unwrap();
    let _ = d1kit::local::block_on(db.batch((
        d1kit::sql!(notes, "DELETE FROM notes WHERE id = ?1", "one"),
        d1kit::sql!(notes, "SELECT id FROM notes WHERE id = ?1", 2),
    )));
    let titles = vec![1.5, 2.5];
    let updates: Vec<_> = titles
        .into_iter()
        .map(|t| d1kit::sql!(notes, "UPDATE notes SET title = ?1 WHERE id = ?2", t, 1))
        .collect();
    let _ = d1kit::local::block_on(db.batch(updates));
}
