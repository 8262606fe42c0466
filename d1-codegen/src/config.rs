//! `[package.metadata.d1kit]` of the application's Cargo.toml → [`Config`] (DESIGN.md §2), with wrangler's defaults when absent.

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The d1kit configuration of one crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The directory holding Cargo.toml; relative paths are resolved against it.
    pub root: PathBuf,
    /// The wrangler file whose `[[d1_databases]]` blocks `cargo build` keeps in sync.
    pub wrangler: Option<PathBuf>,
    /// Databases by name, sorted by name.
    pub databases: Vec<DatabaseConfig>,
}

/// One database (or pool of shards sharing one schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Its name in d1kit (`sql!(users, ...)`, `#[d1(name = "users")]`).
    pub name: String,
    /// The migrations directory (absolute).
    pub migrations: PathBuf,
    /// The binding, or the prefix of a pool's bindings (`USERS_0`..).
    pub binding: String,
    /// How many pre-created databases the pool has (1: a single database).
    pub shards: u32,
    /// The column that scopes shared tables to a tenant.
    pub tenant_column: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    package: Option<Package>,
}

#[derive(Deserialize)]
struct Package {
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    d1kit: Option<RawConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    wrangler: Option<String>,
    #[serde(default)]
    databases: BTreeMap<String, RawDatabase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    migrations: Option<String>,
    binding: Option<String>,
    shards: Option<u32>,
    tenant_column: Option<String>,
}

impl Config {
    /// The configuration with no `[package.metadata.d1kit]`: one database `db`, migrations in
    /// `migrations/`, binding `DB`, exactly what `wrangler d1` assumes.
    pub fn default_for(root: &Path) -> Config {
        Config {
            root: root.to_path_buf(),
            wrangler: None,
            databases: vec![DatabaseConfig {
                name: "db".to_string(),
                migrations: root.join("migrations"),
                binding: "DB".to_string(),
                shards: 1,
                tenant_column: None,
            }],
        }
    }

    /// The database called `name`, or the only one when `name` is `None`.
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
                } else if *self == Config::default_for(&self.root) {
                    d = d.with_help(format!(
                        "Cargo.toml has no [package.metadata.d1kit], so the only database is `db` (migrations in `migrations/`); to add `{n}`, write [package.metadata.d1kit.databases.{n}]"
                    ));
                }
                d
            }),
            None if self.databases.len() == 1 => Ok(&self.databases[0]),
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
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Diagnostics(vec![Diagnostic::error(format!(
            "cannot read `{}`: {e}",
            path.display()
        ))
        .in_file(&path)])
    })?;
    parse(&text, root, &path)
}

/// Parses the configuration out of Cargo.toml text; `path` names the file in errors.
pub fn parse(text: &str, root: &Path, path: &Path) -> Result<Config, Diagnostics> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| {
        let mut d = Diagnostic::error(format!("invalid d1kit configuration: {}", e.message()))
            .with_help("see DESIGN.md §2: keys are `wrangler` and `databases.<name>.{migrations, binding, shards, tenant_column}`");
        if let Some(span) = e.span() {
            d = d.at(Location::at(text, span.start), span.len());
        }
        Diagnostics(vec![d.in_file(path)])
    })?;
    let Some(raw) = manifest
        .package
        .and_then(|p| p.metadata)
        .and_then(|m| m.d1kit)
    else {
        return Ok(Config::default_for(root));
    };
    let mut config = Config {
        root: root.to_path_buf(),
        wrangler: raw.wrangler.map(|w| root.join(w)),
        databases: Vec::new(),
    };
    let mut errors = Vec::new();
    for (name, db) in raw.databases {
        let shards = db.shards.unwrap_or(1);
        if shards == 0 {
            errors.push(
                Diagnostic::error(format!(
                    "`package.metadata.d1kit.databases.{name}.shards` must be at least 1"
                ))
                .in_file(path),
            );
        }
        config.databases.push(DatabaseConfig {
            migrations: root.join(db.migrations.unwrap_or_else(|| "migrations".to_string())),
            binding: db.binding.unwrap_or_else(|| name.to_ascii_uppercase()),
            shards: shards.max(1),
            tenant_column: db.tenant_column,
            name,
        });
    }
    if config.databases.is_empty() {
        config.databases = Config::default_for(root).databases;
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    Ok(config)
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
    fn databases_and_defaults() {
        let text = "[package.metadata.d1kit]\nwrangler = \"wrangler.toml\"\n[package.metadata.d1kit.databases.users]\nmigrations = \"migrations/users\"\nshards = 8\ntenant_column = \"user_id\"\n";
        let c = parse(text, Path::new("/app"), Path::new("/app/Cargo.toml")).unwrap();
        let db = c.database(None).unwrap();
        assert_eq!((db.binding.as_str(), db.shards), ("USERS", 8));
        assert_eq!(db.tenant_column.as_deref(), Some("user_id"));
        assert_eq!(c.wrangler.as_deref(), Some(Path::new("/app/wrangler.toml")));
        assert!(c
            .database(Some("user"))
            .unwrap_err()
            .help
            .unwrap()
            .contains("users"));
    }

    #[test]
    fn unknown_key_is_an_error_at_its_line() {
        let text = "[package]\nname = \"a\"\n[package.metadata.d1kit.databases.users]\nshard = 8\n";
        let err = parse(text, Path::new("/a"), Path::new("/a/Cargo.toml")).unwrap_err();
        let d = &err.0[0];
        assert!(d.message.contains("unknown field `shard`"), "{d}");
        assert_eq!(d.span.location.unwrap().line, 4);
    }
}
