fn main() {
    let _ = d1kit::sql!("INSERT INTO notes (title) VALUES (?1)", "t");
}
