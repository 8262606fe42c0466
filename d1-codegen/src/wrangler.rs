//! Config → the `[[d1_databases]]` blocks of the crate's wrangler file (`wrangler.toml`,
//! `wrangler.jsonc` or `wrangler.json`), rewritten in place: one block per binding of every
//! database, repeated under each configured `[env.NAME]`, and every byte d1kit does not own
//! left as it was. A Durable Object database (`durable_object`) gets its class binding and the
//! `new_sqlite_classes` migration instead (the `durable` module). The rules are in the README, "Build time: `cargo build` writes the wrangler
//! bindings".

mod disk;
mod durable;
mod endings;
mod jsonc;
mod plan;
mod toml_file;

use crate::config::{Config, DatabaseConfig, WranglerSetting};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
pub use durable::{DurableBinding, SqliteMigration};
use endings::Framed;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The syntax of a wrangler file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `wrangler.toml`, edited with `toml_edit`.
    Toml,
    /// `wrangler.json` / `wrangler.jsonc` (JSON with comments), edited by splicing its text.
    Json,
}

impl Format {
    /// The format of `path`, by its extension (`.json` and `.jsonc` are JSON, anything else TOML).
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json" | "jsonc") => Format::Json,
            _ => Format::Toml,
        }
    }
}

/// The wrangler file d1kit keeps in sync for a crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WranglerFile {
    /// Its path.
    pub path: PathBuf,
    /// Its syntax.
    pub format: Format,
}

/// The file names wrangler looks for, in the order it prefers them.
pub const FILE_NAMES: [&str; 3] = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

/// The wrangler file of the crate: the configured one, else the one wrangler itself would read
/// in the crate's directory; `None` when there is none or `wrangler = false`.
pub fn locate(config: &Config) -> Option<WranglerFile> {
    let path = match &config.wrangler {
        WranglerSetting::Off => return None,
        WranglerSetting::File(p) => p.clone(),
        WranglerSetting::Detect => FILE_NAMES
            .iter()
            .map(|n| config.root.join(n))
            .find(|p| p.is_file())?,
    };
    Some(WranglerFile {
        format: Format::of(&path),
        path,
    })
}

/// One `[[d1_databases]]` block as d1kit writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `binding`: `USERS` or `USERS_<n>`.
    pub binding: String,
    /// `database_name`.
    pub database_name: String,
    /// `database_id`: kept from the file, or a placeholder ([`placeholder_id`]).
    pub database_id: String,
    /// `migrations_dir`, relative to the wrangler file's directory.
    pub migrations_dir: String,
    /// `migrations_pattern`, relative to the wrangler file's directory (it starts with
    /// `migrations_dir`), when the database has one.
    pub migrations_pattern: Option<String>,
}

/// One way the file differs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A block the configuration asks for is missing.
    Add {
        /// The environment (`None`: the top level).
        env: Option<String>,
        /// The block written.
        block: Block,
    },
    /// A block of d1kit's holds other values than the configuration gives.
    Update {
        /// The environment (`None`: the top level).
        env: Option<String>,
        /// Its binding.
        binding: String,
        /// Its line in the file.
        line: u32,
        /// `(key, old value, new value)` of each key rewritten.
        keys: Vec<(String, Option<String>, String)>,
    },
    /// A block of d1kit's that the configuration no longer asks for.
    Remove {
        /// The environment (`None`: the top level).
        env: Option<String>,
        /// Its binding.
        binding: String,
        /// Its line in the file.
        line: u32,
    },
    /// The binding of a Durable Object database is missing: an entry appended to the scope's
    /// `durable_objects.bindings`.
    AddDurableBinding {
        /// The environment (`None`: the top level).
        env: Option<String>,
        /// The entry written.
        binding: DurableBinding,
    },
    /// No migration declares a Durable Object database's class: an entry appended to the
    /// scope's `migrations`, declaring it in `new_sqlite_classes`.
    AddMigration {
        /// The environment (`None`: the top level; an environment only when it has a
        /// `migrations` list of its own).
        env: Option<String>,
        /// The entry written.
        migration: SqliteMigration,
    },
}

fn scope_name(env: &Option<String>) -> String {
    match env {
        None => "d1_databases".into(),
        Some(e) => format!("env.{e}.d1_databases"),
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Add { env, block } => write!(
                f,
                "+ [[{}]] {}: database_name = {:?}, database_id = {:?}, migrations_dir = {:?}{}",
                scope_name(env),
                block.binding,
                block.database_name,
                block.database_id,
                block.migrations_dir,
                block
                    .migrations_pattern
                    .as_ref()
                    .map(|p| format!(", migrations_pattern = {p:?}"))
                    .unwrap_or_default()
            ),
            Change::Update {
                env,
                binding,
                line,
                keys,
            } => {
                write!(f, "~ [[{}]] {binding} (line {line}):", scope_name(env))?;
                for (i, (k, old, new)) in keys.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    match old {
                        Some(old) => write!(f, "{sep}{k} {old:?} → {new:?}")?,
                        None => write!(f, "{sep}{k} (missing) → {new:?}")?,
                    }
                }
                Ok(())
            }
            Change::Remove { env, binding, line } => write!(
                f,
                "- [[{}]] {binding} (line {line}): no longer configured",
                scope_name(env)
            ),
            Change::AddDurableBinding { env, binding } => write!(
                f,
                "+ [[{}]] {}: class_name = {:?}",
                durable::array_name(env, "durable_objects.bindings"),
                binding.name,
                binding.class_name
            ),
            Change::AddMigration { env, migration } => write!(
                f,
                "+ [[{}]] {}: new_sqlite_classes = [{:?}]",
                durable::array_name(env, "migrations"),
                migration.tag,
                migration.class_name
            ),
        }
    }
}

/// The file's text brought in line with the configuration, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The new text (equal to the old one when nothing changed).
    pub text: String,
    /// What differs, in file order per scope.
    pub changes: Vec<Change>,
    /// Worth knowing, e.g. a removed block that named a real database.
    pub warnings: Vec<Diagnostic>,
    /// The blocks kept for retired shards: no longer configured, but naming real databases
    /// that may hold tenants (`d1kit reshard` drains them).
    pub retired: Vec<Retired>,
}

impl Rewrite {
    /// The rewrite once its text is written: a warning that says what it "would remove" says
    /// what it removed. [`sync`] calls it when it writes; a caller that writes the text of
    /// [`rewrite_releasing`] itself calls it after the write, before showing the warnings.
    pub fn written(&mut self) {
        plan::written(&mut self.warnings);
    }
}

/// A block kept for a retired shard of a configured pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// The environment (`None`: the top level).
    pub env: Option<String>,
    /// Its binding.
    pub binding: String,
    /// The configured database whose pool it was part of.
    pub database: String,
}

/// What [`sync`] did to the crate's wrangler file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// The file.
    pub file: WranglerFile,
    /// Whether it existed before.
    pub existed: bool,
    /// The rewrite (when `changes` is empty the file was left untouched).
    pub rewrite: Rewrite,
}

/// A placeholder `database_id` for a block not provisioned yet: UUID-shaped (version 8),
/// derived from the database name, so the same name always gets the same id and wrangler's
/// local mode keeps its data in the same file. `d1kit provision` replaces it with the real id.
pub fn placeholder_id(database_name: &str) -> String {
    let h = Sha256::digest(format!("d1kit placeholder database_id: {database_name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Brings the crate's wrangler file in line with the configuration: reads it (an absent
/// configured file counts as empty), rewrites it, and writes it back only when something
/// changed (so its modification time, and cargo, stay quiet otherwise). With `write: false`
/// nothing is written (`d1kit config --check`). `Ok(None)`: no wrangler file to manage.
pub fn sync(config: &Config, write: bool) -> Result<Option<Synced>, Diagnostics> {
    let Some(file) = locate(config) else {
        return Ok(None);
    };
    let (text, existed) = match std::fs::read_to_string(&file.path) {
        Ok(t) => (t, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), false),
        Err(e) => {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "cannot read `{}`: {e}",
                file.path.display()
            ))
            .in_file(&file.path)]))
        }
    };
    let mut rewrite = rewrite(&text, &file, config)?;
    if write && rewrite.text != text {
        self::write(&file, &rewrite.text)?;
        rewrite.written();
    }
    Ok(Some(Synced {
        file,
        existed,
        rewrite,
    }))
}

/// Writes `text` to the wrangler file as [`sync`] does: through a temporary file in the same
/// directory and a rename, so a build script or wrangler reading it never sees half a file.
/// A symbolic link is written through (the file it names is replaced, the link stays); a file
/// with other hard links is written in place, so that every name still sees it; the file's
/// permissions (and on Unix its owner, where allowed) are kept; a read-only file is an error,
/// not overwritten.
pub fn write(file: &WranglerFile, text: &str) -> Result<(), Diagnostics> {
    disk::write(&file.path, text).map_err(|f| Diagnostics(vec![f.diagnostic(&file.path)]))
}

/// The rewrite of one wrangler file's text (`""` for a file that does not exist yet).
///
/// A block of a configured pool that the configuration no longer asks for is removed when its
/// id is d1kit's placeholder (and `wrangler dev --local` keeps no data for it beside the
/// file). One that names a real database, or local data, is kept, with a warning: the shard is
/// retired, and its tenants' rows are out of the application's reach until
/// `d1kit reshard` has moved them, which then releases the block ([`rewrite_releasing`]).
pub fn rewrite(text: &str, file: &WranglerFile, config: &Config) -> Result<Rewrite, Diagnostics> {
    rewrite_releasing(text, file, config, &[])
}

/// [`rewrite`], also removing the retired blocks `released` names (`(environment, binding)`):
/// those whose databases `d1kit reshard` has drained.
pub fn rewrite_releasing(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    released: &[(Option<String>, String)],
) -> Result<Rewrite, Diagnostics> {
    // Read and edited without its BOM and with `\n` line endings, both put back after.
    let framed = Framed::new(text);
    let fix = |d| framed.fix_all(d);
    let t = framed.text.as_ref();
    let found = match file.format {
        Format::Toml => toml_file::read(t, &file.path, &config.environments),
        Format::Json => jsonc::read(t, &file.path, &config.environments),
    }
    .map_err(fix)?;
    let mut plan = plan::plan(t, file, config, &found, released).map_err(fix)?;
    let warnings = std::mem::take(&mut plan.warnings)
        .into_iter()
        .map(|w| framed.fix(w))
        .collect();
    if plan.changes.is_empty() {
        return Ok(Rewrite {
            text: text.to_string(),
            changes: plan.changes,
            warnings,
            retired: plan.retired,
        });
    }
    let new = match file.format {
        Format::Toml => toml_file::apply(t, &file.path, &plan),
        Format::Json => jsonc::apply(t, &file.path, &plan),
    }
    .map_err(fix)?;
    Ok(Rewrite {
        text: framed.frame(&new),
        changes: plan.changes,
        warnings,
        retired: plan.retired,
    })
}

/// One `[[d1_databases]]` block as the file holds it, d1kit's or not, at the top level or under
/// any `[env.NAME]` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBlock {
    /// The environment (`None`: the top level).
    pub env: Option<String>,
    /// `binding`, when it is there.
    pub binding: Option<String>,
    /// `database_name`, when it is there.
    pub database_name: Option<String>,
    /// `database_id`, when it is there.
    pub database_id: Option<String>,
    /// `preview_database_id`, when it is there.
    pub preview_database_id: Option<String>,
    /// The block's line in the file.
    pub line: u32,
}

impl FileBlock {
    /// Whether its `database_id` is still d1kit's placeholder for its `database_name`: the
    /// database has not been provisioned (see [`placeholder_id`]).
    pub fn has_placeholder_id(&self) -> bool {
        match (&self.database_name, &self.database_id) {
            (Some(name), Some(id)) => *id == placeholder_id(name),
            _ => false,
        }
    }

    /// The id `wrangler dev --local` keeps this block's data under: `preview_database_id` when
    /// the block has one, else `database_id` (wrangler's own choice for local mode).
    pub fn local_id(&self) -> Option<&str> {
        self.preview_database_id
            .as_deref()
            .or(self.database_id.as_deref())
    }

    /// `[[d1_databases]] USERS_0 (line 12)`, `[[env.staging.d1_databases]] ...`: the block for
    /// people.
    pub fn describe(&self) -> String {
        format!(
            "[[{}]] {} (line {})",
            scope_name(&self.env),
            self.binding.as_deref().unwrap_or("(no binding)"),
            self.line
        )
    }
}

/// Every `[[d1_databases]]` block of the file's text, the top level's first, then each
/// environment's in file order. Values that are not strings are given as their source text.
pub fn file_blocks(text: &str, file: &WranglerFile) -> Result<Vec<FileBlock>, Diagnostics> {
    let framed = Framed::new(text);
    let t = framed.text.as_ref();
    if t.trim().is_empty() {
        return Ok(Vec::new());
    }
    match file.format {
        Format::Toml => toml_file::list(t, &file.path),
        Format::Json => jsonc::list(t, &file.path),
    }
    .map_err(|d| framed.fix_all(d))
}

/// The text with provisioned ids written in: every block (top level and every environment)
/// whose `database_name` is a key of `ids` and whose `database_id` is still d1kit's placeholder
/// for that name gets the id `ids` gives the name. Nothing else changes, byte for byte: not a
/// block whose id is already real, not the spacing or comment around a value. The result is
/// what [`rewrite`] keeps (a real id is never touched), so `cargo build` stays quiet after it.
///
/// ```
/// use d1_codegen::wrangler::{placeholder_id, set_database_ids, Format, WranglerFile};
/// let file = WranglerFile { path: "wrangler.toml".into(), format: Format::Toml };
/// let text = format!(
///     "[[d1_databases]]\nbinding = \"DB\"\ndatabase_name = \"app-db\"\ndatabase_id = \"{}\" # d1kit\n",
///     placeholder_id("app-db")
/// );
/// let ids = [("app-db".to_string(), "2b6b6f41-9d5a-4c8e-8a39-3f1e0f6f1d2a".to_string())].into();
/// let out = set_database_ids(&text, &file, &ids).unwrap();
/// assert!(out.ends_with("database_id = \"2b6b6f41-9d5a-4c8e-8a39-3f1e0f6f1d2a\" # d1kit\n"));
/// ```
pub fn set_database_ids(
    text: &str,
    file: &WranglerFile,
    ids: &BTreeMap<String, String>,
) -> Result<String, Diagnostics> {
    let framed = Framed::new(text);
    let t = framed.text.as_ref();
    if ids.is_empty() || t.trim().is_empty() {
        return Ok(text.to_string());
    }
    // The new id of a block whose name and placeholder say it is waiting for one.
    let new_id = |name: &str, id: &str| -> Option<String> {
        let new = ids.get(name)?;
        (id == placeholder_id(name)).then(|| new.clone())
    };
    let new = match file.format {
        Format::Toml => toml_file::set_ids(t, &file.path, &new_id),
        Format::Json => jsonc::set_ids(t, &file.path, &new_id),
    }
    .map_err(|d| framed.fix_all(d))?;
    Ok(framed.frame(&new))
}

/// What the file holds, as read by a format module.
#[derive(Debug, Default)]
struct Found {
    /// The top-level `name`.
    name: Option<String>,
    /// The top level and each `[env.NAME]` present in the file.
    scopes: Vec<FoundScope>,
}

#[derive(Debug)]
struct FoundScope {
    /// `None` for the top level.
    env: Option<String>,
    /// The environment's own `name`.
    name: Option<String>,
    /// Its `d1_databases` elements, in order.
    blocks: Vec<FoundBlock>,
    /// Its Durable Object bindings and migrations.
    durable: durable::FoundDurable,
}

/// One existing element of a `d1_databases` array.
#[derive(Debug, Clone, Default)]
struct FoundBlock {
    /// Byte offset of the block (its header, or its `{`), for its line.
    offset: usize,
    /// Each key d1kit reads: `None` when absent; a value that is not a string is kept as its
    /// source text, so it never equals what d1kit writes.
    binding: Option<String>,
    database_name: Option<String>,
    database_id: Option<String>,
    migrations_dir: Option<String>,
    migrations_pattern: Option<String>,
}

/// What to do to one scope's array.
#[derive(Debug, Default)]
struct ScopePlan {
    env: Option<String>,
    /// Element indices (in the file) to remove.
    remove: Vec<usize>,
    /// Element index → keys to set.
    update: Vec<(usize, Vec<(&'static str, String)>)>,
    /// New blocks and where each goes.
    add: Vec<(Anchor, Block)>,
}

/// The whole edit, format-independent.
#[derive(Debug, Default)]
struct Plan {
    scopes: Vec<ScopePlan>,
    /// What to append for Durable Object databases, per scope.
    durable: Vec<durable::DurablePlan>,
    changes: Vec<Change>,
    warnings: Vec<Diagnostic>,
    retired: Vec<Retired>,
}

/// Where a new block goes in its array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// Before every element.
    Start,
    /// After the element with this index (in the file as read).
    After(usize),
    /// After every element.
    End,
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `target` relative to the directory `base`, with `/` separators (as wrangler files write
/// paths on every platform).
fn relative(base: &Path, target: &Path) -> String {
    let (base, target) = (
        crate::config::normalize(base),
        crate::config::normalize(target),
    );
    let b: Vec<_> = base.components().collect();
    let t: Vec<_> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 && (base.has_root() || target.has_root()) && b.first() != t.first() {
        return target.to_string_lossy().replace('\\', "/");
    }
    let mut parts: Vec<String> = b[common..].iter().map(|_| "..".to_string()).collect();
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Whether `written` (a migrations_dir relative to the wrangler file's directory `base`) names
/// the directory `target`.
fn same_dir(base: &Path, written: &str, target: &Path) -> bool {
    crate::config::normalize(&base.join(written.trim_end_matches(['/', '\\'])))
        == crate::config::normalize(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_ids_are_uuid_shaped_and_stable() {
        let id = placeholder_id("app-users-0");
        assert_eq!(id.len(), 36);
        assert_eq!(id, placeholder_id("app-users-0"));
        assert_ne!(id, placeholder_id("app-users-1"));
        assert_eq!(&id[14..15], "8");
        assert!(id
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a"), Path::new("/a/migrations")),
            "migrations"
        );
        assert_eq!(relative(Path::new("/a/w"), Path::new("/a/m/u")), "../m/u");
        assert_eq!(relative(Path::new("/a"), Path::new("/a/./x/../m")), "m");
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), ".");
        assert!(same_dir(
            Path::new("/a"),
            "./migrations/",
            Path::new("/a/migrations")
        ));
        assert!(!same_dir(
            Path::new("/a"),
            "migration",
            Path::new("/a/migrations")
        ));
    }
}
