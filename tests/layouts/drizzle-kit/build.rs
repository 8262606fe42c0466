fn main() {
    // Writes the wrangler file's block (with `migrations_pattern`) and makes cargo rebuild
    // when a migration folder is added or removed.
    if let Err(e) = d1_codegen::build::configure() {
        panic!("d1kit configuration: {e}");
    }
}
