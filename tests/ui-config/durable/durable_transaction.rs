// A Durable Object's SQL refuses explicit transactions, as D1 does: `batch` runs its
// statements in one `storage.transactionSync`. In `sql!` and in `#[derive(Query)]` alike.
fn main() {
    let _ = d1kit::sql!("BEGIN TRANSACTION");
}

#[derive(d1kit::Query)]
#[d1(sql = "SAVEPOINT before_import")]
struct BeforeImport;
