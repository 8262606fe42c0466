//! `d1kit config [--check]`: the wrangler file's `[[d1_databases]]` blocks brought in line with
//! Cargo.toml, as `cargo build` does through `d1_codegen::build::configure()`; with `--check`,
//! only told (for CI).

use crate::report;
use crate::ConfigArgs;
use d1_codegen::{config, wrangler, Diagnostic, Diagnostics};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The file is out of date (`--check`).
const OUT_OF_DATE: u8 = 1;
/// The configuration or the wrangler file is wrong (or a file cannot be read or written).
const FAILED: u8 = 2;

pub fn run(args: ConfigArgs) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_default();
    let manifest = cwd.join(args.manifest_path.unwrap_or_else(|| "Cargo.toml".into()));
    let shown = |p: &Path| -> String {
        match p.strip_prefix(&cwd) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => p.display().to_string(),
        }
    };
    if manifest.file_name().is_none_or(|n| n != "Cargo.toml") || !manifest.is_file() {
        return failed(&Diagnostics(vec![Diagnostic::error(format!(
            "no Cargo.toml at `{}`",
            shown(&manifest)
        ))
        .with_help("run `d1kit config` in the crate's directory, or give --manifest-path path/to/Cargo.toml")]));
    }
    let root: PathBuf = manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(cwd.clone());
    let config = match config::load(&root) {
        Ok(c) => c,
        Err(d) => return failed(&d),
    };
    let errors = config::check_files(&config);
    if !errors.is_empty() {
        return failed(&Diagnostics(errors));
    }
    let synced = match wrangler::sync(&config, !args.check) {
        Ok(Some(s)) => s,
        Ok(None) => {
            let why = match config.wrangler {
                config::WranglerSetting::Off => {
                    "`package.metadata.d1kit.wrangler = false`: d1kit leaves wrangler files alone".to_string()
                }
                _ => format!(
                    "no wrangler file ({}) in `{}`, and none configured (`package.metadata.d1kit.wrangler`): nothing to do",
                    wrangler::FILE_NAMES.join(", "),
                    shown(&root)
                ),
            };
            println!("{why}");
            return ExitCode::SUCCESS;
        }
        Err(d) => return failed(&d),
    };
    for w in &synced.rewrite.warnings {
        report::eprint(w, None);
    }
    let path = shown(&synced.file.path);
    let changes = &synced.rewrite.changes;
    if changes.is_empty() {
        println!("{path} is up to date");
        return ExitCode::SUCCESS;
    }
    let list: String = changes.iter().map(|c| format!("  {c}\n")).collect();
    if args.check {
        print!(
            "{path} is out of date: {} block{} to change (run `d1kit config` or `cargo build` to update it):\n{list}",
            changes.len(),
            if changes.len() == 1 { "" } else { "s" }
        );
        ExitCode::from(OUT_OF_DATE)
    } else {
        print!(
            "{} {path}:\n{list}",
            if synced.existed { "updated" } else { "wrote" }
        );
        ExitCode::SUCCESS
    }
}

fn failed(d: &Diagnostics) -> ExitCode {
    for d in &d.0 {
        report::eprint(d, None);
    }
    ExitCode::from(FAILED)
}
