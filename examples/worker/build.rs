fn main() {
    // Rebuild when a migration is added, edited or removed.
    if let Err(e) = d1_codegen::build::configure() {
        panic!("{e}");
    }
}
