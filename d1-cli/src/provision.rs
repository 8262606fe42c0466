//! `d1kit provision (--remote | --local) [--dry-run]`: the databases named by the wrangler file's
//! d1kit blocks, created on Cloudflare (their real ids written back into the file) or as the
//! SQLite files `wrangler dev --local` reads.

mod remote;

use crate::config::{change_list, failed, Crate};
use crate::report::{count, escape};
use crate::ProvisionArgs;
use d1_codegen::config::DatabaseConfig;
use d1_codegen::wrangler::{self, FileBlock, WranglerFile};
use d1_codegen::{Diagnostic, Diagnostics};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What both modes work on: the wrangler file brought up to date, and d1kit's blocks in it.
struct Target {
    krate: Crate,
    file: WranglerFile,
    /// Every block of the file (as `d1kit config` leaves it; only in memory with --dry-run),
    /// any scope.
    blocks: Vec<FileBlock>,
    /// The blocks to provision: d1kit's bindings (of --database, else of every configured
    /// database) at the top level and in the configured environments, in file order.
    selected: Vec<FileBlock>,
    /// Whether `blocks` differ from the file on disk (--dry-run of an out-of-date file): their
    /// lines are those of the file as `d1kit config` would leave it.
    unwritten: bool,
}

impl Target {
    /// The configured database that binds `block`.
    fn database_of(&self, block: &FileBlock) -> Option<&DatabaseConfig> {
        let binding = block.binding.as_ref()?;
        self.krate
            .config
            .databases
            .iter()
            .find(|db| db.bindings().contains(binding))
    }

    /// The file's path for people (escaped).
    fn path(&self) -> String {
        escape(&self.krate.shown(&self.file.path)).into_owned()
    }
}

pub fn run(args: ProvisionArgs) -> ExitCode {
    let target = match prepare(&args) {
        Ok(t) => t,
        Err(d) => return failed(&d),
    };
    if args.remote {
        remote::run(&args, &target)
    } else {
        local(&args, &target)
    }
}

fn error(message: impl Into<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic::error(message)])
}

/// Loads the crate, runs the sync `d1kit config` runs (written unless --dry-run; what it
/// changed is printed), and picks the blocks to provision.
fn prepare(args: &ProvisionArgs) -> Result<Target, Diagnostics> {
    let krate = Crate::load(args.manifest_path.clone())?;
    let bindings = krate.bindings(args.database.as_deref())?;
    // A Durable Object database has no D1 database to create: its storage comes with each
    // user's object.
    for db in krate.config.databases.iter().filter(|db| !db.is_d1()) {
        if db.bindings().iter().any(|b| bindings.contains(b)) {
            eprintln!("{}", crate::fleet::durable_note(db, "provision"));
        }
    }
    let synced = krate.sync_wrangler(
        !args.dry_run,
        "nothing to provision",
        "provisioning writes the ids into the wrangler file: create an empty wrangler.toml in the crate (d1kit writes its [[d1_databases]] blocks), or name one with `package.metadata.d1kit.wrangler`",
    )?;
    let path = escape(&krate.shown(&synced.file.path)).into_owned();
    let changes = synced.rewrite.changes;
    if !changes.is_empty() {
        if args.dry_run {
            print!(
                "{path} is out of date; `d1kit config` would first change:\n{}",
                change_list(&changes)
            );
        } else {
            print!(
                "{} {path} to match Cargo.toml first (as `d1kit config` does):\n{}",
                if synced.existed { "updated" } else { "wrote" },
                change_list(&changes)
            );
        }
    }
    let blocks = wrangler::file_blocks(&synced.rewrite.text, &synced.file)?;
    let environments = &krate.config.environments;
    let selected = blocks
        .iter()
        .filter(|b| b.env.as_ref().is_none_or(|e| environments.contains(e)))
        .filter(|b| b.binding.as_ref().is_some_and(|x| bindings.contains(x)))
        .cloned()
        .collect();
    Ok(Target {
        krate,
        file: synced.file,
        blocks,
        selected,
        unwritten: args.dry_run && !changes.is_empty(),
    })
}

/// The blocks' bindings for people: `USERS_0, env.staging USERS_0` (escaped).
fn bindings_of(blocks: &[&FileBlock]) -> String {
    blocks
        .iter()
        .map(|b| {
            let binding = escape(b.binding.as_deref().unwrap_or("?"));
            match &b.env {
                None => binding.into_owned(),
                Some(e) => format!("env.{} {binding}", escape(e)),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// --local: one SQLite file per local id (`preview_database_id`, else `database_id`) of the
/// selected blocks, where wrangler's local mode looks for it; existing files are left alone.
fn local(args: &ProvisionArgs, target: &Target) -> ExitCode {
    let persist_to = target.krate.persist_to(args.persist_to.as_deref());
    // One file per id, whichever blocks share it.
    let mut files: Vec<(&str, Vec<&FileBlock>)> = Vec::new();
    for b in &target.selected {
        let Some(id) = b.local_id() else { continue };
        match files.iter_mut().find(|(i, _)| *i == id) {
            Some((_, blocks)) => blocks.push(b),
            None => files.push((id, vec![b])),
        }
    }
    let shown_dir = escape(&target.krate.shown(&persist_to)).into_owned();
    if files.is_empty() {
        println!("no d1kit blocks in {}: nothing to create", target.path());
        return ExitCode::SUCCESS;
    }
    let (mut created, mut existing) = (0, 0);
    for (id, blocks) in &files {
        let path: PathBuf = d1_runtime::local::wrangler_state_file(&persist_to, id);
        let shown = escape(&target.krate.shown(&path)).into_owned();
        let which = format!("{} (id {})", bindings_of(blocks), escape(id));
        if path.exists() {
            existing += 1;
            println!("exists        {shown}: {which}");
        } else if args.dry_run {
            created += 1;
            println!("would create  {shown}: {which}");
        } else {
            if let Err(e) = create_sqlite(&path) {
                println!(
                    "created {}, {} already there before this error",
                    count(created, "file"),
                    existing
                );
                return failed(&error(format!(
                    "cannot create the local database of {which}: {e}"
                )));
            }
            created += 1;
            println!("created       {shown}: {which}");
        }
    }
    println!(
        "{} {}, {} already there (wrangler --local --persist-to {shown_dir})",
        if args.dry_run {
            "would create"
        } else {
            "created"
        },
        count(created, "file"),
        existing
    );
    ExitCode::SUCCESS
}

/// A new, empty SQLite database at `path` (its directory created), with its header written so
/// the file is one by any measure.
fn create_sqlite(path: &Path) -> Result<(), String> {
    let db = d1_runtime::local::Database::open(path).map_err(|e| e.to_string())?;
    db.connection()
        .execute_batch("VACUUM")
        .map_err(|e| format!("{}: {e}", path.display()))
}
