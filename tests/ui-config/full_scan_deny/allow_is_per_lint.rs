// Only `full_scan` can be allowed per query; a misspelt lint is an error that lists the options.
fn main() {
    let _ = d1kit::sql!(#[allow(full_scans)] "SELECT id FROM users WHERE name = ?1", "Ada");
}

#[derive(d1kit::Query)]
#[d1(sql = "SELECT id FROM users WHERE name = :name", allow(tenant))]
struct ByName {
    name: String,
}
