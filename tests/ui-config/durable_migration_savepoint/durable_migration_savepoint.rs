// A Durable Object applies each migration file in one transaction (`transactionSync`), and its
// SQL refuses SAVEPOINT and RELEASE: every query of the database fails until the migration is
// fixed, each error at its file:line.
fn main() {
    let _ = d1kit::sql!("SELECT id FROM notes");
}
