// `sql_as!` with its row type forgotten is a usage error at the SQL, not a panic.
fn main() {
    let _ = d1kit::sql_as!("SELECT 1 AS x");
}
