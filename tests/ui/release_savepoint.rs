fn main() {
    let _ = d1kit::sql!(notes, "RELEASE SAVEPOINT before_import");
}
