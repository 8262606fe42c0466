//! Compile-fail and pass UI tests of the macros (trybuild): every error a user can get from
//! `sql!`, `sql_as!` and the derives, with its exact message in the `.stderr` next to the case.
//!
//! The macros read the crate's configuration from `D1KIT_MANIFEST_DIR` (trybuild compiles the
//! cases inside a generated crate, whose `CARGO_MANIFEST_DIR` has no d1kit configuration). Each
//! group sets it, then runs its cases when its `TestCases` is dropped, so the groups run one
//! after the other in this single test:
//! - `tests/ui/*.rs` (errors) and `tests/ui/pass/*.rs` against this package's own
//!   configuration (databases `notes` and `tracker`);
//! - `tests/ui-config/<name>/*.rs`, each against the `Cargo.toml` (and migrations) of its own
//!   directory, for configuration and migration errors.
//!
//! A migration or Cargo.toml error names its `file:line:column` in the message itself
//! (`= at migrations/0001_init.sql:3:1`), which trybuild compares as it is.

use std::path::Path;

fn with_manifest_dir(dir: &Path, cases: impl FnOnce(&trybuild::TestCases)) {
    std::env::set_var("D1KIT_MANIFEST_DIR", dir);
    let t = trybuild::TestCases::new();
    cases(&t);
    drop(t); // runs the cases, while D1KIT_MANIFEST_DIR still names `dir`
}

#[test]
fn ui() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    with_manifest_dir(root, |t| {
        t.compile_fail("tests/ui/*.rs");
        t.pass("tests/ui/pass/*.rs");
    });
    let mut groups: Vec<_> = std::fs::read_dir(root.join("tests/ui-config"))
        .expect("tests/ui-config")
        .map(|e| e.expect("tests/ui-config entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    groups.sort();
    for dir in groups {
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        with_manifest_dir(&dir, |t| {
            t.compile_fail(format!("tests/ui-config/{name}/*.rs"));
            t.pass(format!("tests/ui-config/{name}/pass/*.rs"));
        });
    }
    std::env::remove_var("D1KIT_MANIFEST_DIR");
}
