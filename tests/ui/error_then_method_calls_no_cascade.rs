// A rejected query stops there: the calls and field accesses after it add no second error.
fn main() {
    let db = d1kit::local::Database::open_in_memory().unwrap();
    let rows = d1kit::local::block_on(d1kit::sql!(notes, "SELECT titel FROM notes").all(&db)).unwrap();
    for row in rows {
        println!("{}", row.title);
    }
}
