fn main() {
    let _ = d1kit::sql!(notes, "ATTACH DATABASE 'archive.db' AS archive");
}
