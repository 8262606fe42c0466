// Under `full_scan = "deny"`, one query may still read a whole table when it says so: every
// macro form takes `allow(full_scan)`, alone or with the other option.
#[derive(d1kit::Row)]
struct Named {
    id: i64,
    name: Option<String>,
}

#[derive(d1kit::Query)]
#[d1(sql = "SELECT id FROM users WHERE name = :name", allow(full_scan))]
struct ByName {
    name: String,
}

#[derive(d1kit::Query)]
#[d1(sql = "SELECT id, name FROM users", row = Named, allow(full_scan))]
struct Everyone;

fn main() {
    let _ = d1kit::sql!(#[allow(full_scan)] "SELECT id FROM users WHERE name = ?1", "Ada");
    let _ = d1kit::sql!(#[cross_tenant] #[allow(full_scan)] "SELECT count(*) AS n FROM users");
    let _ = d1kit::sql_as!(#[allow(full_scan)] Named, "SELECT id, name FROM users");
    let _ = ByName { name: "Ada".into() };
    let _ = Everyone;
}
