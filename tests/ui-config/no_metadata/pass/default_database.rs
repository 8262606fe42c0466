use d1kit::Database;

#[derive(Database)]
struct Db;

fn main() {
    assert_eq!((Db::NAME, Db::BINDING, Db::SHARDS), ("db", "DB", 1));
    let q = d1kit::sql!(
        "SELECT id, name FROM users WHERE email = ?1",
        "a@example.com"
    );
    let r = d1kit::sql!(db, "SELECT email FROM users WHERE id = ?1", 1);
    if false {
        let row = d1kit::__private::row_of(&q);
        let _: (i64, Option<String>) = (row.id, row.name);
        let _: String = d1kit::__private::row_of(&r).email;
    }
}
