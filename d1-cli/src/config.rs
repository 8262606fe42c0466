//! `d1kit config [--check]`: the wrangler file's `[[d1_databases]]` blocks brought in line with
//! Cargo.toml, as `cargo build` does through `d1_codegen::build::configure()`; with `--check`,
//! only told (for CI). Also the loading of a crate's checked configuration ([`Crate`]) that
//! `d1kit provision` shares.

use crate::report;
use crate::ConfigArgs;
use d1_codegen::{config, wrangler, Diagnostic, Diagnostics};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The file is out of date (`--check`).
const OUT_OF_DATE: u8 = 1;
/// The configuration or the wrangler file is wrong (or a file cannot be read or written).
const FAILED: u8 = 2;

/// A crate as the commands see it: its configuration, read from its Cargo.toml and checked.
pub struct Crate {
    /// The directory the command runs in: paths are shown relative to it.
    pub cwd: PathBuf,
    /// The crate's directory.
    pub root: PathBuf,
    /// Its `[package.metadata.d1kit]`.
    pub config: config::Config,
}

impl Crate {
    /// The crate of `manifest_path` (default `./Cargo.toml`), with its configuration checked
    /// (keys, and that each migrations directory exists).
    pub fn load(manifest_path: Option<PathBuf>) -> Result<Crate, Diagnostics> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let manifest = cwd.join(manifest_path.unwrap_or_else(|| "Cargo.toml".into()));
        if manifest.file_name().is_none_or(|n| n != "Cargo.toml") || !manifest.is_file() {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "no Cargo.toml at `{}`",
                shown(&cwd, &manifest)
            ))
            .with_help(
                "run d1kit in the crate's directory, or give --manifest-path path/to/Cargo.toml",
            )]));
        }
        let root: PathBuf = manifest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(cwd.clone());
        let config = config::load(&root)?;
        let errors = config::check_files(&config);
        if !errors.is_empty() {
            return Err(Diagnostics(errors));
        }
        Ok(Crate { cwd, root, config })
    }

    /// `path` for people: relative to the current directory when it is inside it.
    pub fn shown(&self, path: &Path) -> String {
        shown(&self.cwd, path)
    }

    /// The bindings of configured database `database`, else of every configured database.
    pub fn bindings(&self, database: Option<&str>) -> Result<Vec<String>, Diagnostics> {
        Ok(match database {
            Some(name) => self
                .config
                .database(Some(name))
                .map_err(|d| Diagnostics(vec![d]))?
                .bindings(),
            None => self
                .config
                .databases
                .iter()
                .flat_map(|db| db.bindings())
                .collect(),
        })
    }

    /// [`wrangler::sync`] (writing the file when `write`), with warnings printed; no wrangler
    /// file is an error saying `nothing` (`nothing to provision`), with `help`.
    pub fn sync_wrangler(
        &self,
        write: bool,
        nothing: &str,
        help: &str,
    ) -> Result<wrangler::Synced, Diagnostics> {
        let Some(synced) = wrangler::sync(&self.config, write)? else {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "{}: {nothing}",
                self.no_wrangler_file()
            ))
            .with_help(help)]));
        };
        for w in &synced.rewrite.warnings {
            report::eprint(w, None);
        }
        Ok(synced)
    }

    /// wrangler's `--persist-to` directory (the one holding `v3/d1`): `flag` (relative to the
    /// current directory), else `.wrangler/state` beside the wrangler file (beside Cargo.toml
    /// when there is none), where `wrangler dev --local` keeps its state.
    pub fn persist_to(&self, flag: Option<&Path>) -> PathBuf {
        match flag {
            Some(dir) => self.cwd.join(dir),
            None => wrangler::locate(&self.config)
                .and_then(|f| f.path.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| self.root.clone())
                .join(".wrangler/state"),
        }
    }

    /// Why there is no wrangler file to manage ([`wrangler::sync`] gave `None`).
    pub fn no_wrangler_file(&self) -> String {
        match self.config.wrangler {
            config::WranglerSetting::Off => {
                "`package.metadata.d1kit.wrangler = false`: d1kit leaves wrangler files alone"
                    .to_string()
            }
            _ => format!(
                "no wrangler file ({}) in `{}`, and none configured (`package.metadata.d1kit.wrangler`)",
                wrangler::FILE_NAMES.join(", "),
                self.shown(&self.root)
            ),
        }
    }
}

fn shown(cwd: &Path, p: &Path) -> String {
    match p.strip_prefix(cwd) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => p.display().to_string(),
    }
}

/// The changes of a rewrite, one indented line each (escaped: the names come from files).
pub fn change_list(changes: &[wrangler::Change]) -> String {
    changes
        .iter()
        .map(|c| format!("  {}\n", report::escape(&c.to_string())))
        .collect()
}

pub fn run(args: ConfigArgs) -> ExitCode {
    let krate = match Crate::load(args.manifest_path) {
        Ok(k) => k,
        Err(d) => return failed(&d),
    };
    let synced = match wrangler::sync(&krate.config, !args.check) {
        Ok(Some(s)) => s,
        Ok(None) => {
            let why = report::escape(&krate.no_wrangler_file()).into_owned();
            match krate.config.wrangler {
                config::WranglerSetting::Off => println!("{why}"),
                _ => println!("{why}: nothing to do"),
            }
            return ExitCode::SUCCESS;
        }
        Err(d) => return failed(&d),
    };
    for w in &synced.rewrite.warnings {
        report::eprint(w, None);
    }
    let path = report::escape(&krate.shown(&synced.file.path)).into_owned();
    let changes = &synced.rewrite.changes;
    if changes.is_empty() {
        println!("{path} is up to date");
        return ExitCode::SUCCESS;
    }
    let list = change_list(changes);
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

/// Prints the diagnostics and gives the exit status of an error.
pub fn failed(d: &Diagnostics) -> ExitCode {
    for d in &d.0 {
        report::eprint(d, None);
    }
    ExitCode::from(FAILED)
}
