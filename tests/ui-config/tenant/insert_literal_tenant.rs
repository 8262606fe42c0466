fn main() {
    let _ = d1kit::sql!(
        "INSERT INTO notes (user_id, title) VALUES ('alice', ?1)",
        "t"
    );
}
