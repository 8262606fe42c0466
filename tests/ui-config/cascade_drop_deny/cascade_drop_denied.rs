// `cascade_drop = "deny"`: a migration that drops a table that ON DELETE CASCADE children
// reference fails every query of the database, pointing at the DROP in its file.
fn main() {
    let _ = d1kit::sql!("SELECT id, title FROM notes WHERE owner_id = ?1", 1);
}
