fn main() {
    // Writes the Durable Object binding and its migration into wrangler.toml, and rebuilds when
    // a migration is added, edited or removed.
    if let Err(e) = d1_codegen::build::configure() {
        panic!("{e}");
    }
}
