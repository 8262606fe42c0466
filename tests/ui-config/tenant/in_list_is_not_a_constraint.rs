fn main() {
    // Several tenants at once: not one tenant's query.
    let _ = d1kit::sql!(
        "SELECT id FROM notes WHERE user_id IN (?1, ?2)",
        "u",
        "v"
    );
}
