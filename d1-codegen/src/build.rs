//! What a `build.rs` calls so that cargo rebuilds the crate when a migration is added, edited
//! or removed (the macros alone can only track files that already exist).

use crate::diagnostic::Diagnostics;
use std::path::Path;

/// Reads the crate's `[package.metadata.d1kit]` and prints `cargo:rerun-if-changed` for
/// Cargo.toml and every migrations directory. Call it from `build.rs`:
///
/// ```no_run
/// // in build.rs's `fn main`:
/// d1_codegen::build::configure().unwrap_or_else(|e| panic!("{e}"));
/// ```
pub fn configure() -> Result<(), Diagnostics> {
    let root = crate::project::manifest_dir()?;
    for line in rerun_lines(&root)? {
        println!("{line}");
    }
    Ok(())
}

/// The `cargo:rerun-if-changed=` lines [`configure`] prints for the crate at `root`.
pub fn rerun_lines(root: &Path) -> Result<Vec<String>, Diagnostics> {
    let config = crate::config::load(root)?;
    let mut lines = vec![format!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    )];
    for db in &config.databases {
        // A directory: cargo rescans it, so additions and removals count too.
        lines.push(format!(
            "cargo:rerun-if-changed={}",
            db.migrations.display()
        ));
    }
    Ok(lines)
}
