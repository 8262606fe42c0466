fn main() {
    let _ = d1kit::sql!(#[unscoped] "SELECT id FROM notes");
}
