// `full_scan = "deny"` leaves indexed lookups and early-stopping reads alone.
fn main() {
    let _ = d1kit::sql!("SELECT id, name FROM users WHERE id = ?1", 1);
    let _ = d1kit::sql!("SELECT id FROM users WHERE email = ?1", "a@example.com");
    let _ = d1kit::sql!("SELECT id FROM users LIMIT 10");
    let _ = d1kit::sql!("INSERT INTO users (email) VALUES (?1)", "b@example.com");
}
