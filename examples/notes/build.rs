fn main() {
    // cargo:rerun-if-changed for Cargo.toml and the migrations directory.
    if let Err(e) = d1_codegen::build::configure() {
        panic!("d1kit configuration: {e}");
    }
}
