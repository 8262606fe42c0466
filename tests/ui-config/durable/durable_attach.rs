// An object has one database: no ATTACH, as on D1.
fn main() {
    let _ = d1kit::sql!("ATTACH DATABASE 'archive.db' AS archive");
}
