fn main() {
    let _ = d1kit::sql!(notes, "SAVEPOINT before_import");
}
