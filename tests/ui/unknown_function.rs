fn main() {
    let _ = d1kit::sql!(notes, "SELECT id, lenght(body) AS body_length FROM notes");
}
