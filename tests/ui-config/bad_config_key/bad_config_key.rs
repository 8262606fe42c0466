fn main() {
    let _ = d1kit::sql!("SELECT 1 AS one");
}
