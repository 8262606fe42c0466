// `full_scan = "deny"`: a query that reads every row of a table does not compile; the error
// points at the table and says how to fix or allow it.
fn main() {
    let _ = d1kit::sql!("SELECT id FROM users WHERE name = ?1", "Ada");
    let _ = d1kit::sql!(
        "SELECT count(*) AS n
         FROM users u"
    );
}
