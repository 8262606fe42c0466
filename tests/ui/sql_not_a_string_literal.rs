const QUERY: &str = "SELECT id FROM notes";

fn main() {
    let _ = d1kit::sql!(notes, QUERY);
}
