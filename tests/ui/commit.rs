fn main() {
    let _ = d1kit::sql!(notes, "COMMIT");
}
