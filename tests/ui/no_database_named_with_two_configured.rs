fn main() {
    let _ = d1kit::sql!("SELECT id FROM notes");
}
