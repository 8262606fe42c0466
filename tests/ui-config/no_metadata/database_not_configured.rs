fn main() {
    let _ = d1kit::sql!(users, "SELECT id FROM users");
}
