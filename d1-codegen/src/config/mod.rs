//! `[package.metadata.d1kit]` of the application's Cargo.toml → [`Config`] (docs/CONFIG.md), with wrangler's defaults when absent.

mod parse;

pub(crate) use parse::normalize;
pub use parse::parse;

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a lint is reported (`[package.metadata.d1kit.lints]`): not at all, as a warning
/// (`d1kit check` prints it; a macro cannot warn on stable Rust, so it says nothing), or as an
/// error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Level {
    /// Not checked.
    #[default]
    Allow,
    /// A warning.
    Warn,
    /// An error: the query does not compile.
    Deny,
}

impl Level {
    /// The level a configuration value names (`"allow"`, `"warn"`, `"deny"`).
    pub fn parse(value: &str) -> Option<Level> {
        match value {
            "allow" => Some(Level::Allow),
            "warn" => Some(Level::Warn),
            "deny" => Some(Level::Deny),
            _ => None,
        }
    }
}

/// The d1kit configuration of one crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The directory holding Cargo.toml; relative paths are resolved against it.
    pub root: PathBuf,
    /// The package's name (`[package] name`): the Worker's name when the wrangler file has none.
    pub package: Option<String>,
    /// The wrangler file whose `[[d1_databases]]` blocks `cargo build` keeps in sync.
    pub wrangler: WranglerSetting,
    /// The wrangler environments (`[env.NAME]`) that get the same blocks, each with its own ids.
    pub environments: Vec<String>,
    /// Databases by name, sorted by name.
    pub databases: Vec<DatabaseConfig>,
    /// Where each key of `[package.metadata.d1kit]` was written in Cargo.toml, by its path
    /// below that table (`"databases.users.shards"`); keys left to their default are absent.
    pub keys: BTreeMap<String, Location>,
}

/// Which wrangler file d1kit keeps in sync (`[package.metadata.d1kit] wrangler`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WranglerSetting {
    /// No `wrangler` key (or `wrangler = true`): the file wrangler itself would read in the
    /// crate's directory (`wrangler.json`, else `wrangler.jsonc`, else `wrangler.toml`), and
    /// none when there is none.
    Detect,
    /// `wrangler = "path"`: this file (absolute), created when missing.
    File(PathBuf),
    /// `wrangler = false`: d1kit never touches a wrangler file.
    Off,
}

/// One database (or pool of shards sharing one schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Its name in d1kit (`sql!(users, ...)`, `#[d1(name = "users")]`).
    pub name: String,
    /// The migrations directory (absolute).
    pub migrations: PathBuf,
    /// `migrations_pattern`, relative to the migrations directory (`*/migration.sql`); `None`:
    /// the `.sql` files directly in it ([`crate::migrations::files`]).
    pub migrations_pattern: Option<String>,
    /// The binding, or the prefix of a pool's bindings (`USERS_0`..).
    pub binding: String,
    /// How many pre-created databases the pool has (1: a single database).
    pub shards: u32,
    /// The column that scopes shared tables to a tenant.
    pub tenant_column: Option<String>,
    /// The D1 database name pattern (`database_name = "notes-{n}"`), with `{worker}`, `{name}`
    /// and `{n}` replaced; `None`: `{worker}-{name}-{n}`, or `{worker}-{name}` for one database.
    pub database_name: Option<String>,
    /// Where databases created for it live (`location_hint`: wnam, enam, weur, eeur, apac, oc).
    pub location_hint: Option<String>,
    /// The jurisdiction of databases created for it (`jurisdiction`: eu, fedramp, us).
    pub jurisdiction: Option<String>,
    /// The configured database (one shard) whose `d1kit_directory` holds the pool's pins and
    /// routing (`directory = "<name>"`): with it, tenants move while the app serves them.
    pub directory: Option<DirectoryRef>,
    /// `durable_object = "ClassName"`: the database is not D1 but the SQLite storage of one
    /// Durable Object per user, of this class, bound as `binding` (`shards` is then 1, and
    /// `tenant_column`, `database_name`, `location_hint`, `jurisdiction` and `directory` are
    /// refused). `cargo build` writes its `[[durable_objects.bindings]]` entry and the
    /// `[[migrations]]` entry that declares the class in `new_sqlite_classes`.
    pub durable_object: Option<String>,
    /// The crate's `[package.metadata.d1kit.lints]` (the same for every database).
    pub lints: Lints,
}

/// A pool's `directory`: the configured database that holds its pins and routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRef {
    /// Its name in the configuration.
    pub name: String,
    /// Its Worker binding (resolved once every database is read).
    pub binding: String,
}

/// `[package.metadata.d1kit.lints]`: how each lint is reported, `"allow"`, `"warn"` (the
/// default) or `"deny"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lints {
    /// `full_scan`: a query whose plan reads every row of a table ([`crate::lint::scan`]).
    pub full_scan: Level,
    /// `cascade_drop`: a migration that drops (or rebuilds) a table other tables reference
    /// with `ON DELETE CASCADE`, `SET NULL`, `SET DEFAULT` or `RESTRICT`
    /// ([`crate::lint::cascade`]).
    pub cascade_drop: Level,
}

impl Default for Lints {
    fn default() -> Lints {
        Lints {
            full_scan: Level::Warn,
            cascade_drop: Level::Warn,
        }
    }
}

/// D1's location hints (`primary_location_hint`).
pub const LOCATION_HINTS: &[&str] = &["wnam", "enam", "weur", "eeur", "apac", "oc"];
/// D1's jurisdictions (`jurisdiction`): the European Union, FedRAMP, the United States.
pub const JURISDICTIONS: &[&str] = &["eu", "fedramp", "us"];

/// The most bindings one Worker can have (docs/D1.md, "Bindings are static").
pub const MAX_BINDINGS: u32 = 5000;

impl DatabaseConfig {
    /// Whether it is a D1 database (or pool): not a Durable Object's storage. Only these get
    /// `[[d1_databases]]` blocks, and only these are provisioned, migrated and checked for
    /// drift by the `d1kit` commands (a Durable Object migrates itself when it wakes).
    pub fn is_d1(&self) -> bool {
        self.durable_object.is_none()
    }

    /// The bindings of this database: `BINDING` for one database, `BINDING_0` ..
    /// `BINDING_{shards-1}` for a pool: `d1_runtime::route::binding_of`, the rule the Worker
    /// applies at run time.
    pub fn bindings(&self) -> Vec<String> {
        (0..self.shards.max(1))
            .map(|n| d1_runtime::route::binding_of(&self.binding, self.shards, n))
            .collect()
    }

    /// The D1 database name of shard `n` (0 for a single database) of a Worker named `worker`.
    pub fn database_name_for(&self, worker: &str, n: u32) -> String {
        let default = if self.shards > 1 {
            "{worker}-{name}-{n}"
        } else {
            "{worker}-{name}"
        };
        self.database_name
            .as_deref()
            .unwrap_or(default)
            .replace("{worker}", worker)
            .replace("{name}", &self.name)
            .replace("{n}", &n.to_string())
    }
}

impl Config {
    /// The configuration with no `[package.metadata.d1kit]`: one database `db`, migrations in
    /// `migrations/`, binding `DB`, exactly what `wrangler d1` assumes.
    pub fn default_for(root: &Path) -> Config {
        Config {
            root: root.to_path_buf(),
            package: None,
            wrangler: WranglerSetting::Detect,
            environments: Vec::new(),
            databases: vec![DatabaseConfig {
                name: "db".to_string(),
                migrations: root.join("migrations"),
                migrations_pattern: None,
                binding: "DB".to_string(),
                shards: 1,
                tenant_column: None,
                database_name: None,
                location_hint: None,
                jurisdiction: None,
                directory: None,
                durable_object: None,
                lints: Lints::default(),
            }],
            keys: BTreeMap::new(),
        }
    }

    /// The databases that are not another's `directory`.
    fn queried(&self) -> impl Iterator<Item = &DatabaseConfig> {
        self.databases.iter().filter(|d| {
            !self
                .databases
                .iter()
                .any(|p| p.directory.as_ref().is_some_and(|dir| dir.name == d.name))
        })
    }

    /// The database called `name`, or when `name` is `None` the only one (directories of
    /// pools left out: they hold routing, not the application's tables).
    pub fn database(&self, name: Option<&str>) -> Result<&DatabaseConfig, Diagnostic> {
        let names = || {
            self.databases
                .iter()
                .map(|d| format!("`{}`", d.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match name {
            Some(n) => self.databases.iter().find(|d| d.name == n).ok_or_else(|| {
                let mut d = Diagnostic::error(format!(
                    "no database `{n}` in [package.metadata.d1kit.databases]"
                ))
                .with_help(format!("configured: {}", names()));
                if let Some(s) =
                    crate::diagnostic::closest(n, self.databases.iter().map(|d| d.name.as_str()))
                {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else if self.keys.is_empty()
                    && self.databases == Config::default_for(&self.root).databases
                {
                    d = d.with_help(format!(
                        "Cargo.toml has no [package.metadata.d1kit], so the only database is `db` (migrations in `migrations/`); to add `{n}`, write [package.metadata.d1kit.databases.{n}]"
                    ));
                }
                d
            }),
            None if self.databases.len() == 1 => Ok(&self.databases[0]),
            // A pool's directory holds routing, not the application's queries: with one
            // database besides directories, that one is meant.
            None if self.queried().count() == 1 => {
                self.queried().next().ok_or_else(|| Diagnostic::error("no database"))
            }
            None => Err(Diagnostic::error(format!(
                "{} databases are configured; name the one to use",
                self.databases.len()
            ))
            .with_help(format!(
                "one of {}: `sql!(name, \"...\")`, `sql_as!(name, Type, \"...\")`, `#[d1(database = \"name\", ..)]` on a Query, `#[d1(name = \"name\")]` on a Database",
                names()
            ))),
        }
    }
}

/// Reads the configuration from `<root>/Cargo.toml`.
pub fn load(root: &Path) -> Result<Config, Diagnostics> {
    let path = root.join("Cargo.toml");
    let bytes = std::fs::read(&path).map_err(|e| {
        Diagnostics(vec![Diagnostic::error(format!(
            "cannot read `{}`: {e}",
            path.display()
        ))
        .in_file(&path)])
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Located at the first invalid byte, the text before it as the source shown.
        let offset = e.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
        let byte = e.as_bytes().get(offset).copied().unwrap_or_default();
        Diagnostics(vec![Diagnostic::error(format!(
            "`{}` is not valid UTF-8: invalid byte 0x{byte:02x}",
            path.display()
        ))
        .with_help("save Cargo.toml as UTF-8 (cargo requires it too)")
        .at_offset(&before, offset, 1)
        .in_file(&path)])
    })?;
    parse(&text, root, &path)
}

/// Two databases whose bindings overlap, or more bindings than a Worker can have.
fn check_bindings(config: &Config, text: &str, path: &Path) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    let mut total: u64 = 0;
    for db in &config.databases {
        total += u64::from(db.shards);
        for b in db.bindings() {
            if let Some(other) = owner.insert(b.clone(), &db.name) {
                let mut d = Diagnostic::error(format!(
                    "databases `{other}` and `{}` both want the binding `{b}`",
                    db.name
                ))
                .with_help("give one of them another `binding` under [package.metadata.d1kit.databases.<name>]")
                .in_file(path);
                if let Some(l) = config.key_location(&format!("databases.{}.binding", db.name)) {
                    d = d.at_offset(text, l.offset, 1);
                }
                errors.push(d);
                break;
            }
        }
    }
    if total > u64::from(MAX_BINDINGS) {
        errors.push(
            Diagnostic::error(format!(
                "[package.metadata.d1kit.databases] asks for {total} bindings: a Worker can have at most {MAX_BINDINGS}"
            ))
            .in_file(path),
        );
    }
    errors
}

/// Two databases naming the same Durable Object class: their objects would be the same ones,
/// one SQLite storage holding two schemas.
fn check_durable_classes(config: &Config, text: &str, path: &Path) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for db in &config.databases {
        let Some(class) = db.durable_object.as_deref() else {
            continue;
        };
        if let Some(other) = owner.insert(class, &db.name) {
            let mut d = Diagnostic::error(format!(
                "databases `{other}` and `{}` both name the Durable Object class `{class}`: each user's object of that class would hold both databases in one SQLite storage",
                db.name
            ))
            .with_help("give each database a class of its own (`durable_object` under [package.metadata.d1kit.databases.<name>])")
            .in_file(path);
            if let Some(l) = config.key_location(&format!("databases.{}.durable_object", db.name)) {
                d = d.at_offset(text, l.offset, 1);
            }
            errors.push(d);
        }
    }
    errors
}

/// Each `directory` key (`(pool, named database, span)`) names another configured database
/// of one shard, which no other pool uses as its directory and which has none itself.
fn check_directories(
    config: &Config,
    directories: &[(String, String, std::ops::Range<usize>)],
    text: &str,
    path: &Path,
) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut users: BTreeMap<&str, &str> = BTreeMap::new();
    for (pool, named, span) in directories {
        let key = format!("`package.metadata.d1kit.databases.{pool}.directory` = `{named}`");
        let target = config.databases.iter().find(|d| &d.name == named);
        let why = match target {
            _ if named == pool => Some("names the pool itself".to_string()),
            None => Some(format!(
                "names no configured database (configured: {})",
                config
                    .databases
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(d) if d.shards != 1 => Some(format!(
                "names a pool of {} shards; a directory is one database",
                d.shards
            )),
            Some(d) if d.directory.is_some() => {
                Some("names a database that has a directory of its own".to_string())
            }
            Some(d) if d.durable_object.is_some() => Some(format!(
                "names a Durable Object database (`durable_object = \"{}\"`{}): a directory is a D1 database the Worker binds, one per pool, and a Durable Object is one database per user",
                d.durable_object.as_deref().unwrap_or_default(),
                config
                    .key_location(&format!("databases.{named}.durable_object"))
                    .map(|l| format!(" at Cargo.toml:{}", l.line))
                    .unwrap_or_default()
            )),
            Some(_) => users.insert(named, pool).map(|other| {
                format!("is already the directory of `{other}`; each pool needs its own")
            }),
        };
        if let Some(why) = why {
            errors.push(
                Diagnostic::error(format!("{key} {why}"))
                    .with_help(format!("add `[package.metadata.d1kit.databases.{pool}_directory]` (one shard, migrations optional: d1kit creates its tables) and name it here"))
                    .in_file(path)
                    .at_offset(text, span.start, span.len()),
            );
        }
    }
    errors
}

/// Why a `database_name` pattern is wrong, if it is.
fn check_name_pattern(pattern: &str, shards: u32) -> Result<(), String> {
    let mut rest = pattern;
    while let Some(open) = rest.find(['{', '}']) {
        let after = &rest[open..];
        let Some(close) = after.find('}').filter(|_| after.starts_with('{')) else {
            return Err(if after.starts_with('{') {
                "has a `{` without its `}`".into()
            } else {
                "has a `}` without its `{`".into()
            });
        };
        let placeholder = &after[..=close];
        if !["{worker}", "{name}", "{n}"].contains(&placeholder) {
            return Err(format!("has an unknown placeholder `{placeholder}`"));
        }
        rest = &after[close + 1..];
    }
    if shards > 1 && !pattern.contains("{n}") {
        return Err(format!(
            "has no `{{n}}`: all {shards} shards would get the same database name"
        ));
    }
    if pattern.trim().is_empty() {
        return Err("is empty".into());
    }
    Ok(())
}

/// Whether `s` can name a binding that JavaScript reads as `env.NAME`: an ASCII identifier
/// that is not a reserved word.
pub fn is_js_identifier(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "implements",
        "import",
        "in",
        "instanceof",
        "interface",
        "let",
        "new",
        "null",
        "package",
        "private",
        "protected",
        "public",
        "return",
        "static",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
    ];
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !RESERVED.contains(&s)
}

/// Checks what [`parse`] cannot without the file system: every migrations directory exists.
pub fn check_files(config: &Config) -> Vec<Diagnostic> {
    config
        .databases
        .iter()
        .filter_map(|db| check_migrations_dir(config, db))
        .collect()
}

/// The error for `db`'s migrations directory when it does not exist, at its key in Cargo.toml
/// (or naming the default when the key was not written).
pub fn check_migrations_dir(config: &Config, db: &DatabaseConfig) -> Option<Diagnostic> {
    if db.migrations.is_dir() {
        return None;
    }
    let manifest = config.root.join("Cargo.toml");
    let key = format!("databases.{}.migrations", db.name);
    let shown = db
        .migrations
        .strip_prefix(&config.root)
        .unwrap_or(&db.migrations)
        .display()
        .to_string();
    let (what, help) = if db.migrations.is_file() {
        (
            "is a file, not a directory",
            "point `migrations` at the directory that holds the `.sql` files",
        )
    } else {
        (
            "does not exist",
            "create it (`wrangler d1 migrations create <DB> <name>` does), or set `migrations` under [package.metadata.d1kit.databases.<name>] in Cargo.toml",
        )
    };
    let d = match config.key_location(&key) {
        Some(l) => Diagnostic::error(format!(
            "migrations directory `{shown}` of `package.metadata.d1kit.{key}` {what}"
        ))
        .at(l, 1),
        None => Diagnostic::error(format!(
            "migrations directory `{shown}` of database `{}` {what} (the default of `package.metadata.d1kit.{key}`)",
            db.name
        )),
    };
    Some(d.in_file(&manifest).with_help(help))
}

impl Config {
    /// Where `key` (a path below `[package.metadata.d1kit]`, e.g. `"databases.users.shards"`)
    /// was written in Cargo.toml; `None` when it was left to its default.
    pub fn key_location(&self, key: &str) -> Option<Location> {
        self.keys.get(key).copied()
    }

    /// `key` as a person finds it: `` `package.metadata.d1kit.databases.users.binding` `` with
    /// `Cargo.toml:LINE` when it was written, or "not set" when it was left to its default.
    pub fn describe_key(&self, key: &str) -> String {
        match self.key_location(key) {
            Some(l) => format!("`package.metadata.d1kit.{key}` at Cargo.toml:{}", l.line),
            None => format!("`package.metadata.d1kit.{key}` (not set)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_metadata_means_wrangler_defaults() {
        let c = parse(
            "[package]\nname = \"app\"\n",
            Path::new("/app"),
            Path::new("/app/Cargo.toml"),
        )
        .unwrap();
        assert_eq!(c.databases.len(), 1);
        assert_eq!(c.databases[0].name, "db");
        assert_eq!(c.databases[0].binding, "DB");
        assert_eq!(c.databases[0].migrations, Path::new("/app/migrations"));
    }

    #[test]
    fn lint_levels_apply_to_every_database_and_are_checked_at_their_key() {
        let c = parse(
            "[package]\nname = \"a\"\n",
            Path::new("/a"),
            Path::new("/a/Cargo.toml"),
        )
        .unwrap();
        assert_eq!(c.databases[0].lints.full_scan, Level::Warn);
        let text = "[package.metadata.d1kit.lints]\nfull_scan = \"deny\"\n[package.metadata.d1kit.databases.users]\n[package.metadata.d1kit.databases.teams]\n";
        let c = parse(text, Path::new("/a"), Path::new("/a/Cargo.toml")).unwrap();
        assert!(c.databases.iter().all(|d| d.lints.full_scan == Level::Deny));
        // With only the lints table, the default database gets them.
        let c = parse(
            "[package.metadata.d1kit.lints]\nfull_scan = \"allow\"\n",
            Path::new("/a"),
            Path::new("/a/Cargo.toml"),
        )
        .unwrap();
        assert_eq!(c.database(None).unwrap().lints.full_scan, Level::Allow);
        let e = errors("[package.metadata.d1kit.lints]\nfull_scan = \"forbid\"\n");
        assert!(
            e[0].message
                .contains("lints.full_scan` = `forbid` is not a lint level"),
            "{e:?}"
        );
        let at = e[0].span.location.unwrap();
        assert_eq!((at.line, at.column), (2, 13));
        let c = parse(
            "[package.metadata.d1kit.lints]\ncascade_drop = \"deny\"\n",
            Path::new("/a"),
            Path::new("/a/Cargo.toml"),
        )
        .unwrap();
        let lints = c.database(None).unwrap().lints;
        assert_eq!(
            (lints.cascade_drop, lints.full_scan),
            (Level::Deny, Level::Warn)
        );
        let e = errors("[package.metadata.d1kit.lints]\nfull_scans = \"deny\"\n");
        assert!(e[0].message.contains("unknown field `full_scans`"), "{e:?}");
    }

    #[test]
    fn a_directory_names_another_database_of_one_shard() {
        let ok = "[package.metadata.d1kit.databases.users]\nshards = 4\ndirectory = \"dir\"\n[package.metadata.d1kit.databases.dir]\nbinding = \"ROUTES\"\n";
        let c = parse(ok, Path::new("/a"), Path::new("/a/Cargo.toml")).unwrap();
        let dir = c
            .database(Some("users"))
            .unwrap()
            .directory
            .clone()
            .unwrap();
        assert_eq!(
            c.database(None).unwrap().name,
            "users",
            "a directory is no default"
        );
        assert_eq!((dir.name.as_str(), dir.binding.as_str()), ("dir", "ROUTES"));
        for (text, says, line) in [
            ("[package.metadata.d1kit.databases.users]\nshards = 4\ndirectory = \"nope\"\n", "databases.users.directory` = `nope` names no configured database (configured: users)", 3),
            ("[package.metadata.d1kit.databases.users]\nshards = 4\ndirectory = \"users\"\n", "names the pool itself", 3),
            ("[package.metadata.d1kit.databases.users]\ndirectory = \"dir\"\n[package.metadata.d1kit.databases.dir]\nshards = 2\n", "names a pool of 2 shards; a directory is one database", 2),
            ("[package.metadata.d1kit.databases.users]\ndirectory = \"dir\"\n[package.metadata.d1kit.databases.orgs]\ndirectory = \"dir\"\n[package.metadata.d1kit.databases.dir]\n", "is already the directory of `orgs`", 2),
        ] {
            let e = errors(text);
            assert!(e[0].message.contains(says), "{e:?}");
            assert_eq!(e[0].span.location.unwrap().line, line, "{e:?}");
        }
    }

    #[test]
    fn a_durable_object_database_takes_a_class_and_no_d1_keys() {
        let ok = "[package.metadata.d1kit.lints]\nfull_scan = \"deny\"\n[package.metadata.d1kit.databases.notes]\nmigrations = \"db/notes\"\nmigrations_pattern = \"db/notes/*.sql\"\ndurable_object = \"UserNotes\"\n";
        let c = parse(ok, Path::new("/a"), Path::new("/a/Cargo.toml")).unwrap();
        let db = c.database(None).unwrap();
        assert_eq!(db.durable_object.as_deref(), Some("UserNotes"));
        assert!(!db.is_d1());
        // The binding defaults as for D1: the name upper-cased; one binding, one "shard".
        assert_eq!((db.binding.as_str(), db.shards), ("NOTES", 1));
        assert_eq!(db.bindings(), ["NOTES"]);
        assert_eq!(db.lints.full_scan, Level::Deny);
        assert_eq!(
            c.describe_key("databases.notes.durable_object"),
            "`package.metadata.d1kit.databases.notes.durable_object` at Cargo.toml:6"
        );
        let c = parse(
            "[package.metadata.d1kit.databases.notes]\nbinding = \"MY_NOTES\"\ndurable_object = \"$Notes_2\"\n",
            Path::new("/a"),
            Path::new("/a/Cargo.toml"),
        )
        .unwrap();
        assert_eq!(c.databases[0].binding, "MY_NOTES");
        assert!(Config::default_for(Path::new("/a")).databases[0].is_d1());

        for bad in ["", "1Notes", "User-Notes", "User Notes", "class", "Ünotes"] {
            let e = errors(&format!(
                "[package.metadata.d1kit.databases.notes]\ndurable_object = \"{bad}\"\n"
            ));
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert!(
                e[0].message.starts_with(&format!(
                    "`package.metadata.d1kit.databases.notes.durable_object` = `{bad}` is not a JavaScript class name"
                )),
                "{}",
                e[0]
            );
            assert_eq!(e[0].span.location.unwrap().line, 2);
        }

        // Every D1-only key is refused at its own line, naming `durable_object` and its line.
        let text = "[package.metadata.d1kit.databases.notes]\ndurable_object = \"UserNotes\"\nshards = 4\ntenant_column = \"owner\"\ndatabase_name = \"{worker}-notes\"\nlocation_hint = \"weur\"\njurisdiction = \"eu\"\ndirectory = \"home\"\n[package.metadata.d1kit.databases.home]\n";
        let e = errors(text);
        let seen: Vec<(u32, &str)> = e
            .iter()
            .map(|d| (d.span.location.unwrap().line, d.message.as_str()))
            .collect();
        assert_eq!(seen.len(), 6, "{e:?}");
        for (i, key) in [
            "shards",
            "tenant_column",
            "database_name",
            "location_hint",
            "jurisdiction",
            "directory",
        ]
        .iter()
        .enumerate()
        {
            let (line, message) = seen[i];
            assert_eq!(line, i as u32 + 3, "{message}");
            assert!(
                message.starts_with(&format!(
                    "`package.metadata.d1kit.databases.notes.{key}` cannot be used with `durable_object` (Cargo.toml:2): "
                )),
                "{message}"
            );
        }
        assert!(seen[0].1.ends_with("one SQLite database per user, in that user's own object: there is no pool of shards"), "{}", seen[0].1);
        assert!(seen[1].1.contains("no column scopes its rows to a tenant"));
        assert!(seen[5]
            .1
            .contains("a user's object is found by the user's key"));
        assert_eq!(
            e[0].help.as_deref(),
            Some("remove `shards`, or remove `durable_object` to keep `notes` a D1 database")
        );

        // A pool cannot route through a Durable Object database.
        let text = "[package.metadata.d1kit.databases.users]\nshards = 4\ndirectory = \"notes\"\n[package.metadata.d1kit.databases.notes]\ndurable_object = \"UserNotes\"\n";
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].message.contains("databases.users.directory` = `notes` names a Durable Object database (`durable_object = \"UserNotes\"` at Cargo.toml:5)"),
            "{}",
            e[0]
        );
        assert_eq!(e[0].span.location.unwrap().line, 3);

        // Two databases, one class: refused at the second's key; bindings still distinct.
        let text = "[package.metadata.d1kit.databases.a]\ndurable_object = \"UserNotes\"\n[package.metadata.d1kit.databases.b]\ndurable_object = \"UserNotes\"\n";
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].message.starts_with(
                "databases `a` and `b` both name the Durable Object class `UserNotes`"
            ),
            "{}",
            e[0]
        );
        assert_eq!(e[0].span.location.unwrap().line, 4);
        // A durable database's binding is checked against the others' like any binding.
        let text = "[package.metadata.d1kit.databases.users]\nbinding = \"NOTES\"\n[package.metadata.d1kit.databases.notes]\ndurable_object = \"UserNotes\"\n";
        assert!(errors(text)[0]
            .message
            .contains("both want the binding `NOTES`"));
    }

    #[test]
    fn location_hint_and_jurisdiction_are_checked_at_their_key() {
        let ok = "[package.metadata.d1kit.databases.users]\nlocation_hint = \"weur\"\njurisdiction = \"eu\"\n";
        let c = parse(ok, Path::new("/a"), Path::new("/a/Cargo.toml")).unwrap();
        let db = c.database(None).unwrap();
        assert_eq!(db.location_hint.as_deref(), Some("weur"));
        assert_eq!(db.jurisdiction.as_deref(), Some("eu"));
        let bad = "[package.metadata.d1kit.databases.users]\nlocation_hint = \"mars\"\njurisdiction = \"moon\"\n";
        let e = errors(bad);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].message
                .contains("databases.users.location_hint` = `mars`"),
            "{}",
            e[0].message
        );
        assert!(e[0].help.as_deref().unwrap().contains("wnam"));
        assert!(
            e[1].message
                .contains("databases.users.jurisdiction` = `moon`"),
            "{}",
            e[1].message
        );
    }

    #[test]
    fn databases_and_defaults() {
        let text = "[package.metadata.d1kit]\nwrangler = \"wrangler.toml\"\n[package.metadata.d1kit.databases.users]\nmigrations = \"migrations/users\"\nshards = 8\ntenant_column = \"user_id\"\n";
        let c = parse(text, Path::new("/app"), Path::new("/app/Cargo.toml")).unwrap();
        let db = c.database(None).unwrap();
        assert_eq!((db.binding.as_str(), db.shards), ("USERS", 8));
        assert_eq!(db.tenant_column.as_deref(), Some("user_id"));
        assert_eq!(
            c.wrangler,
            WranglerSetting::File("/app/wrangler.toml".into())
        );
        assert!(c
            .database(Some("user"))
            .unwrap_err()
            .help
            .unwrap()
            .contains("users"));
    }

    #[test]
    fn migrations_pattern_is_kept_relative_to_the_directory_and_checked() {
        let ok = "[package.metadata.d1kit.databases.app]\nmigrations = \"./prisma/migrations/\"\nmigrations_pattern = \"prisma/migrations/*/migration.sql\"\n";
        let c = parse(ok, Path::new("/app"), Path::new("/app/Cargo.toml")).unwrap();
        let db = c.database(None).unwrap();
        assert_eq!(db.migrations_pattern.as_deref(), Some("*/migration.sql"));
        // The default directory is `migrations`, as without the key.
        let default_dir = "[package.metadata.d1kit.databases.app]\nmigrations_pattern = \"migrations/**/*.sql\"\n";
        let c = parse(default_dir, Path::new("/app"), Path::new("/app/Cargo.toml")).unwrap();
        assert_eq!(
            c.database(None).unwrap().migrations_pattern.as_deref(),
            Some("**/*.sql")
        );
        let outside = "[package.metadata.d1kit.databases.app]\nmigrations = \"drizzle\"\nmigrations_pattern = \"migrations/*/migration.sql\"\n";
        let e = errors(outside);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].message.contains("`package.metadata.d1kit.databases.app.migrations_pattern` = `migrations/*/migration.sql` does not start with the migrations directory `drizzle/`"),
            "{}",
            e[0].message
        );
        assert!(e[0]
            .help
            .as_deref()
            .unwrap()
            .contains("drizzle/*/migration.sql"));
        let loc = e[0].span.location.unwrap();
        assert_eq!(loc.line, 3);
        let extglob = "[package.metadata.d1kit.databases.app]\nmigrations_pattern = \"migrations/+(a|b)/migration.sql\"\n";
        let e = errors(extglob);
        assert!(e[0].message.contains("extended glob"), "{}", e[0].message);
    }

    #[test]
    fn unknown_key_is_an_error_at_its_line() {
        let text = "[package]\nname = \"a\"\n[package.metadata.d1kit.databases.users]\nshard = 8\n";
        let err = parse(text, Path::new("/a"), Path::new("/a/Cargo.toml")).unwrap_err();
        let d = &err.0[0];
        assert!(d.message.contains("unknown field `shard`"), "{d}");
        assert_eq!(d.span.location.unwrap().line, 4);
    }

    fn errors(text: &str) -> Vec<Diagnostic> {
        parse(text, Path::new("/a"), Path::new("/a/Cargo.toml"))
            .unwrap_err()
            .0
    }

    fn db(keys: &str) -> String {
        format!("[package]\nname = \"a\"\n[package.metadata.d1kit.databases.users]\n{keys}\n")
    }

    #[test]
    fn shards_must_be_between_1_and_5000() {
        for (keys, says) in [
            ("shards = 0", "must be at least 1"),
            ("shards = 5001", "at most 5000 bindings"),
        ] {
            let e = errors(&db(keys));
            assert!(e[0].message.contains("databases.users.shards"), "{}", e[0]);
            assert!(e[0].message.contains(says), "{}", e[0]);
            assert_eq!(e[0].span.location.unwrap().line, 4);
        }
        assert!(parse(
            &db("shards = 5000"),
            Path::new("/a"),
            Path::new("/a/Cargo.toml")
        )
        .is_ok());
        let two = format!(
            "{}[package.metadata.d1kit.databases.b]\nshards = 2\n",
            db("shards = 4999")
        );
        assert!(errors(&two)[0].message.contains("5001 bindings"));
    }

    #[test]
    fn bindings_must_be_javascript_identifiers() {
        for bad in ["1USERS", "USERS-1", "", "my db", "class", "ÜSERS"] {
            let e = errors(&db(&format!("binding = \"{bad}\"")));
            assert!(
                e[0].message.contains("not a JavaScript identifier"),
                "{bad}: {}",
                e[0]
            );
            assert!(e[0].message.contains("databases.users.binding"), "{}", e[0]);
        }
        for good in ["USERS", "_u", "$db", "Users_2"] {
            assert!(is_js_identifier(good), "{good}");
        }
        // The default binding is the name upper-cased: `my-db` gives `MY-DB`.
        let e = errors("[package.metadata.d1kit.databases.my-db]\n");
        assert!(e[0].message.contains("`MY-DB`"), "{}", e[0]);
        assert!(e[0].help.as_deref().unwrap().contains("set `binding`"));
    }

    #[test]
    fn bindings_of_two_databases_must_not_overlap() {
        let text = "[package.metadata.d1kit.databases.a]\nbinding = \"USERS\"\nshards = 4\n[package.metadata.d1kit.databases.b]\nbinding = \"USERS_2\"\n";
        let e = errors(text);
        assert!(
            e[0].message
                .contains("`a` and `b` both want the binding `USERS_2`"),
            "{}",
            e[0]
        );
        assert_eq!(e[0].span.location.unwrap().line, 5);
    }

    #[test]
    fn database_name_patterns() {
        let c = parse(
            &db("shards = 3\ndatabase_name = \"{worker}-n{n}\""),
            Path::new("/a"),
            Path::new("/a/Cargo.toml"),
        )
        .unwrap();
        let d = &c.databases[0];
        assert_eq!(d.database_name_for("app", 2), "app-n2");
        assert_eq!(d.bindings(), ["USERS_0", "USERS_1", "USERS_2"]);
        let single = &Config::default_for(Path::new("/a")).databases[0];
        assert_eq!(single.database_name_for("app", 0), "app-db");
        assert_eq!(single.bindings(), ["DB"]);
        for (pattern, says) in [
            ("notes", "has no `{n}`"),
            ("{worker}-{shard}", "unknown placeholder `{shard}`"),
            ("{worker-{n}", "unknown placeholder"),
            ("x-{n", "without its `}`"),
            ("x}-{n}", "without its `{`"),
        ] {
            let e = errors(&db(&format!("shards = 2\ndatabase_name = \"{pattern}\"")));
            assert!(e[0].message.contains(says), "{pattern}: {}", e[0]);
            assert!(
                e[0].message.contains("databases.users.database_name"),
                "{}",
                e[0]
            );
        }
    }

    #[test]
    fn wrangler_and_environments() {
        let parse = |t: &str| parse(t, Path::new("/a"), Path::new("/a/Cargo.toml"));
        let c = parse("[package]\nname = \"app\"\n").unwrap();
        assert_eq!(
            (c.wrangler, c.package.as_deref()),
            (WranglerSetting::Detect, Some("app"))
        );
        let c = parse("[package.metadata.d1kit]\nwrangler = false\nenvironments = [\"staging\", \"production\"]\n").unwrap();
        assert_eq!(c.wrangler, WranglerSetting::Off);
        assert_eq!(c.environments, ["staging", "production"]);
        assert_eq!(
            c.describe_key("environments"),
            "`package.metadata.d1kit.environments` at Cargo.toml:3"
        );
        assert_eq!(
            c.describe_key("databases.db.binding"),
            "`package.metadata.d1kit.databases.db.binding` (not set)"
        );
        let c = parse("[package.metadata.d1kit]\nwrangler = \"deploy/wrangler.jsonc\"\n").unwrap();
        assert_eq!(
            c.wrangler,
            WranglerSetting::File("/a/deploy/wrangler.jsonc".into())
        );
        let e =
            errors("[package.metadata.d1kit]\nenvironments = [\"staging\", \"staging\", \"\"]\n");
        assert_eq!(e.len(), 2);
        assert!(e[0].message.contains("lists `staging` twice"), "{}", e[0]);
        assert!(e[1].message.contains("empty environment name"), "{}", e[1]);
        let e = errors("[package.metadata.d1kit]\nenvironment = [\"staging\"]\n");
        assert!(
            e[0].message.contains("unknown field `environment`"),
            "{}",
            e[0]
        );
        assert_eq!(e[0].span.location.unwrap().line, 2);
    }

    #[test]
    fn wrangler_must_name_a_wrangler_file_outside_the_migrations() {
        let parse = |t: &str| parse(t, Path::new("/a"), Path::new("/a/Cargo.toml"));
        let wrangler = |value: &str, rest: &str| {
            format!("[package]\nname = \"app\"\n\n[package.metadata.d1kit]\nwrangler = \"{value}\"\n{rest}")
        };
        let users = "\n[package.metadata.d1kit.databases.users]\nmigrations = \"db/users\"\n";
        for (value, rest, says) in [
            ("Cargo.toml", "", "names a Cargo.toml, not a wrangler file"),
            ("./Cargo.toml", users, "names a Cargo.toml"),
            ("../cargo.TOML", "", "names a Cargo.toml"),
            (
                "wrangler.yaml",
                "",
                "is not a wrangler file: wrangler reads `.toml`, `.json` and `.jsonc` files",
            ),
            ("deploy/wrangler", "", "is not a wrangler file"),
            ("wrangler.JSON", "", "is not a wrangler file"),
            ("", "", "is not a wrangler file"),
            (
                "migrations/wrangler.toml",
                "",
                "is inside the migrations directory of database `db` (`migrations`)",
            ),
            (
                "db/users/./wrangler.jsonc",
                users,
                "is inside the migrations directory of database `users` (`db/users`)",
            ),
            (
                "db/x/../users/deep/wrangler.toml",
                users,
                "inside the migrations directory of database `users`",
            ),
        ] {
            let text = wrangler(value, rest);
            let e = parse(&text).expect_err(value).0;
            assert_eq!(e.len(), 1, "{value}: {e:?}");
            assert!(e[0].message.contains(says), "{value}: {}", e[0]);
            assert!(
                e[0].message
                    .starts_with(&format!("`package.metadata.d1kit.wrangler` = `{value}`")),
                "{}",
                e[0]
            );
            // At the key's value, line 5 of Cargo.toml.
            let at = e[0].span.location.unwrap();
            assert_eq!((at.line, at.column), (5, 12), "{value}");
            assert_eq!(e[0].span.file.as_deref(), Some(Path::new("/a/Cargo.toml")));
            assert!(
                e[0].help.as_deref().unwrap().contains("wrangler.toml"),
                "{}",
                e[0]
            );
        }
        // Wrangler files, beside or outside the migrations, are fine.
        for (value, rest) in [
            ("wrangler.toml", ""),
            ("deploy/wrangler.jsonc", users),
            ("../shared/wrangler.json", ""),
            ("migrations.toml", ""),
            ("db/wrangler.toml", users),
        ] {
            let text = wrangler(value, rest);
            let c = parse(&text).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert!(matches!(c.wrangler, WranglerSetting::File(_)), "{value}");
        }
        // Migrations in the crate's own directory hold every file of it: not refused for that.
        let text = wrangler(
            "wrangler.toml",
            "\n[package.metadata.d1kit.databases.users]\nmigrations = \".\"\n",
        );
        parse(&text).unwrap();
    }

    #[test]
    fn invalid_utf8_in_cargo_toml_is_located() {
        let root = std::env::temp_dir().join(format!("d1kit-config-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("Cargo.toml"), b"[package]\nname = \"caf\xe9\"\n").unwrap();
        let e = load(&root).unwrap_err().0;
        assert!(
            e[0].message
                .ends_with("is not valid UTF-8: invalid byte 0xe9"),
            "{:?}",
            e[0]
        );
        let at = e[0].span.location.unwrap();
        assert_eq!((at.line, at.column), (2, 12));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_migrations_directory_names_the_key() {
        let root = std::env::temp_dir().join(format!("d1kit-config-{}", std::process::id()));
        std::fs::create_dir_all(root.join("migrations")).unwrap();
        let text = "[package.metadata.d1kit.databases.users]\nmigrations = \"db/users\"\n[package.metadata.d1kit.databases.notes]\n";
        let c = parse(text, &root, &root.join("Cargo.toml")).unwrap();
        let e = check_files(&c);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].message.contains(
                "`db/users` of `package.metadata.d1kit.databases.users.migrations` does not exist"
            ),
            "{}",
            e[0]
        );
        assert_eq!(e[0].span.location.unwrap().line, 2);
        std::fs::remove_dir_all(root.join("migrations")).unwrap();
        let e = check_files(&Config::default_for(&root));
        assert!(
            e[0].message
                .contains("the default of `package.metadata.d1kit.databases.db.migrations`"),
            "{}",
            e[0]
        );
        std::fs::write(root.join("migrations"), "CREATE TABLE t (x);").unwrap();
        let e = check_files(&Config::default_for(&root));
        assert!(
            e[0].message
                .contains("`migrations` of database `db` is a file, not a directory"),
            "{}",
            e[0]
        );
        let _ = std::fs::remove_file(root.join("migrations"));
        let _ = std::fs::remove_dir_all(&root);
    }
}
