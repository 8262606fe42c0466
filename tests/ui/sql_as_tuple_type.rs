fn main() {
    let _ = d1kit::sql_as!(notes, (i64, String), "SELECT id, body FROM notes");
}
