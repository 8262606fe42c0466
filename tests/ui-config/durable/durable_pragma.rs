// A Durable Object allows the same PRAGMAs as D1 (workerd's allowlist), and no other.
fn main() {
    let _ = d1kit::sql!("PRAGMA journal_mode = WAL");
}
