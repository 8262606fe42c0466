fn main() {
    let _ = d1kit::sql!(notes, "PRAGMA journal_mode = WAL");
}
