fn main() {
    let bytes: Vec<u8> = vec![0xde, 0xad];
    let _ = d1kit::sql!(notes, "SELECT id FROM notes WHERE body = ?1", bytes);
}
