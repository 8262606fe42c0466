//! What a `build.rs` calls: cargo rebuilds the crate when a migration is added, edited or
//! removed (the macros alone can only track files that already exist), and the wrangler file's
//! `[[d1_databases]]` blocks follow the configuration (docs/CONFIG.md, "`wrangler`").

use crate::config::{self, Config};
use crate::diagnostic::Diagnostics;
use std::path::Path;

/// Reads the crate's `[package.metadata.d1kit]`, checks it (a bad key, `shards`, a binding,
/// a missing migrations directory are errors naming the key), prints
/// `cargo:rerun-if-changed` for Cargo.toml, every migrations directory and the wrangler file,
/// and brings the wrangler file's `[[d1_databases]]` blocks in line with the configuration
/// ([`crate::wrangler::sync`]; the file is written only when something changed). Warnings,
/// and a summary of what changed in the wrangler file, are printed as `cargo:warning`. Call it
/// from `build.rs`:
///
/// ```no_run
/// // in build.rs's `fn main`:
/// d1_codegen::build::configure().unwrap_or_else(|e| panic!("{e}"));
/// ```
pub fn configure() -> Result<(), Diagnostics> {
    let root = crate::driver::project::manifest_dir()?;
    let config = config::load(&root)?;
    let errors = config::check_files(&config);
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    for line in lines_for(&root, &config) {
        println!("{line}");
    }
    if let Some(synced) = crate::wrangler::sync(&config, true)? {
        for w in &synced.rewrite.warnings {
            warn(&w.to_string());
        }
        if !synced.rewrite.changes.is_empty() {
            let mut summary = format!(
                "d1kit {} {}:",
                if synced.existed { "updated" } else { "wrote" },
                synced.file.path.display()
            );
            for c in &synced.rewrite.changes {
                summary.push_str(&format!("\n  {c}"));
            }
            warn(&summary);
        }
        println!("cargo:rerun-if-changed={}", synced.file.path.display());
    }
    Ok(())
}

/// Prints `message` for cargo to show, one `cargo:warning` per line.
fn warn(message: &str) {
    for line in message.lines() {
        println!("cargo:warning={line}");
    }
}

/// The `cargo:rerun-if-changed=` lines [`configure`] prints for the crate at `root` (besides
/// the wrangler file's).
pub fn rerun_lines(root: &Path) -> Result<Vec<String>, Diagnostics> {
    let config = config::load(root)?;
    Ok(lines_for(root, &config))
}

fn lines_for(root: &Path, config: &Config) -> Vec<String> {
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
    lines
}
