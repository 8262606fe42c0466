// `AS "n!"`, `AS "n?"`, `AS "n: T"` change the generated field's type.
fn main() {
    let q = d1kit::sql!(
        notes,
        "SELECT max(id) AS \"newest!\", owner_id AS \"owner?\", meta AS \"meta: d1kit::Value\" FROM notes"
    );
    if false {
        let row = d1kit::__private::row_of(&q);
        let _: i64 = row.newest;
        let _: Option<i64> = row.owner;
        let _: Option<d1kit::Value> = row.meta;
    }
}
