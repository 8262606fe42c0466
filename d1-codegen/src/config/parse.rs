//! Cargo.toml's `[package.metadata.d1kit]` read into a [`Config`], each key checked where it is
//! written (file:line:column), every error of the table reported together.

use super::{
    check_bindings, check_durable_classes, check_name_pattern, is_js_identifier, Config,
    DatabaseConfig, DirectoryRef, Level, Lints, WranglerSetting, JURISDICTIONS, LOCATION_HINTS,
    MAX_BINDINGS,
};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::glob;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use toml::Spanned;

#[derive(Deserialize)]
struct Manifest {
    package: Option<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Option<String>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    d1kit: Option<RawConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    wrangler: Option<Spanned<RawWrangler>>,
    environments: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    databases: BTreeMap<Spanned<String>, RawDatabase>,
    lints: Option<RawLints>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLints {
    full_scan: Option<Spanned<String>>,
    cascade_drop: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawWrangler {
    Path(String),
    Enabled(bool),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    migrations: Option<Spanned<String>>,
    migrations_pattern: Option<Spanned<String>>,
    binding: Option<Spanned<String>>,
    shards: Option<Spanned<u32>>,
    tenant_column: Option<Spanned<String>>,
    database_name: Option<Spanned<String>>,
    location_hint: Option<Spanned<String>>,
    jurisdiction: Option<Spanned<String>>,
    directory: Option<Spanned<String>>,
    durable_object: Option<Spanned<String>>,
}

/// Parses the configuration out of Cargo.toml text; `path` names the file in errors.
///
/// Checks everything that needs no file system: unknown keys, `shards` in 1..=5000, bindings
/// that are JavaScript identifiers and distinct across databases, `database_name` patterns,
/// environment names. [`super::check_files`] checks the migrations directories.
pub fn parse(text: &str, root: &Path, path: &Path) -> Result<Config, Diagnostics> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| {
        let mut d = Diagnostic::error(format!("invalid d1kit configuration: {}", e.message()))
            .with_help("see docs/CONFIG.md: keys are `wrangler`, `environments`, `lints.{full_scan, cascade_drop}` and `databases.<name>.{migrations, migrations_pattern, binding, shards, tenant_column, database_name, location_hint, jurisdiction, directory, durable_object}`");
        if let Some(span) = e.span() {
            d = d.at(Location::at(text, span.start), span.len());
        }
        Diagnostics(vec![d.in_file(path)])
    })?;
    let package = manifest.package.as_ref().and_then(|p| p.name.clone());
    let Some(raw) = manifest
        .package
        .and_then(|p| p.metadata)
        .and_then(|m| m.d1kit)
    else {
        return Ok(Config {
            package,
            ..Config::default_for(root)
        });
    };
    let mut reader = Reader {
        text,
        path,
        keys: BTreeMap::new(),
        errors: Vec::new(),
        directories: Vec::new(),
        wrangler: None,
    };
    let wrangler = reader.wrangler(raw.wrangler, root);
    let environments = reader.environments(raw.environments);
    let lints = reader.lints(raw.lints);
    let databases: Vec<DatabaseConfig> = raw
        .databases
        .into_iter()
        .map(|(name, db)| reader.database(name, db, lints, root))
        .collect();
    // Without databases the default one's migrations directory counts.
    let default_databases = Config::default_for(root).databases;
    let migrations = if databases.is_empty() {
        &default_databases
    } else {
        &databases
    };
    reader.check_wrangler(&wrangler, migrations, root);
    let Reader {
        keys,
        mut errors,
        directories,
        ..
    } = reader;
    let mut config = Config {
        root: root.to_path_buf(),
        package,
        wrangler,
        environments,
        databases,
        keys,
    };
    if config.databases.is_empty() {
        config.databases = Config::default_for(root).databases;
        for db in &mut config.databases {
            db.lints = lints;
        }
    }
    errors.extend(check_bindings(&config, text, path));
    errors.extend(check_durable_classes(&config, text, path));
    errors.extend(super::check_directories(&config, &directories, text, path));
    let bindings: BTreeMap<String, String> = config
        .databases
        .iter()
        .map(|d| (d.name.clone(), d.binding.clone()))
        .collect();
    for db in &mut config.databases {
        if let Some(dir) = &mut db.directory {
            dir.binding = bindings.get(&dir.name).cloned().unwrap_or_default();
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    Ok(config)
}

/// The state of one reading: where each key was written, and the errors found so far.
struct Reader<'t> {
    text: &'t str,
    path: &'t Path,
    keys: BTreeMap<String, Location>,
    errors: Vec<Diagnostic>,
    /// Each `directory` key: the pool, the database it names, where it is written.
    directories: Vec<(String, String, Range<usize>)>,
    /// `wrangler = "path"`: the path as written, and where.
    wrangler: Option<(String, Range<usize>)>,
}

/// `path` lexically cleaned: `.` dropped, `a/..` folded (no file system: the file may not
/// exist yet).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The extensions of the files wrangler reads (`wrangler.toml`, `wrangler.json`,
/// `wrangler.jsonc`); it tells TOML from JSON by them.
const WRANGLER_EXTENSIONS: [&str; 3] = ["toml", "json", "jsonc"];

impl Reader<'_> {
    /// Records where `key` (its path below `[package.metadata.d1kit]`) is written.
    fn at(&mut self, key: String, span: Range<usize>) {
        self.keys.insert(key, Location::at(self.text, span.start));
    }

    /// An error at `span` of Cargo.toml.
    fn error(&self, span: Range<usize>, message: String) -> Diagnostic {
        Diagnostic::error(message)
            .in_file(self.path)
            .at_offset(self.text, span.start, span.len())
    }

    fn wrangler(&mut self, raw: Option<Spanned<RawWrangler>>, root: &Path) -> WranglerSetting {
        let Some(w) = raw else {
            return WranglerSetting::Detect;
        };
        self.at("wrangler".into(), w.span());
        let span = w.span();
        match w.into_inner() {
            RawWrangler::Path(p) => {
                let path = root.join(&p);
                self.wrangler = Some((p, span));
                WranglerSetting::File(path)
            }
            RawWrangler::Enabled(true) => WranglerSetting::Detect,
            RawWrangler::Enabled(false) => WranglerSetting::Off,
        }
    }

    /// `wrangler = "path"` must name a wrangler file d1kit may write: not a Cargo.toml (the
    /// blocks would go into the manifest), a `.toml`, `.json` or `.jsonc` file (what wrangler
    /// reads), and not inside a migrations directory (a file written there changes the
    /// directory cargo watches and wrangler applies migrations from).
    fn check_wrangler(
        &mut self,
        setting: &WranglerSetting,
        databases: &[DatabaseConfig],
        root: &Path,
    ) {
        let (WranglerSetting::File(path), Some((raw, span))) = (setting, self.wrangler.clone())
        else {
            return;
        };
        let key = format!(
            "`package.metadata.d1kit.wrangler` = `{}`",
            raw.escape_debug()
        );
        let help = "name the wrangler file (`wrangler.toml`, `wrangler.jsonc` or `wrangler.json`, relative to the crate), or remove the key to use the one wrangler finds in the crate's directory";
        let path = normalize(path);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let extension = path.extension().and_then(|e| e.to_str());
        let problem = if name.eq_ignore_ascii_case("Cargo.toml") {
            Some(format!(
                "{key} names a Cargo.toml, not a wrangler file: d1kit would write its [[d1_databases]] blocks into the manifest"
            ))
        } else if !extension.is_some_and(|e| WRANGLER_EXTENSIONS.contains(&e)) {
            Some(format!(
                "{key} is not a wrangler file: wrangler reads `.toml`, `.json` and `.jsonc` files, and d1kit edits only those"
            ))
        } else {
            databases.iter().find_map(|db| {
                let dir = normalize(&db.migrations);
                // A migrations directory that holds the crate itself (`migrations = "."`) holds
                // every wrangler file too: only one below the crate's directory counts.
                (path.starts_with(&dir) && !normalize(root).starts_with(&dir)).then(|| {
                    format!(
                        "{key} is inside the migrations directory of database `{}` (`{}`): d1kit would write the wrangler file among its migrations",
                        db.name,
                        db.migrations
                            .strip_prefix(root)
                            .unwrap_or(&db.migrations)
                            .display()
                    )
                })
            })
        };
        if let Some(message) = problem {
            let e = self.error(span, message).with_help(help);
            self.errors.push(e);
        }
    }

    fn environments(&mut self, raw: Option<Spanned<Vec<Spanned<String>>>>) -> Vec<String> {
        let mut environments: Vec<String> = Vec::new();
        let Some(envs) = raw else {
            return environments;
        };
        self.at("environments".into(), envs.span());
        for env in envs.into_inner() {
            let span = env.span();
            let env = env.into_inner();
            if env.trim().is_empty() {
                let e = self.error(
                    span,
                    "`package.metadata.d1kit.environments` holds an empty environment name".into(),
                );
                self.errors.push(e);
            } else if environments.contains(&env) {
                let e = self.error(
                    span,
                    format!("`package.metadata.d1kit.environments` lists `{env}` twice"),
                );
                self.errors.push(e);
            } else {
                environments.push(env);
            }
        }
        environments
    }

    fn lints(&mut self, raw: Option<RawLints>) -> Lints {
        let mut lints = Lints::default();
        let Some(raw) = raw else {
            return lints;
        };
        for (field, value, slot) in [
            ("full_scan", raw.full_scan, &mut lints.full_scan),
            ("cascade_drop", raw.cascade_drop, &mut lints.cascade_drop),
        ] {
            let Some(value) = value else { continue };
            self.at(format!("lints.{field}"), value.span());
            match Level::parse(value.get_ref()) {
                Some(level) => *slot = level,
                None => {
                    let e = self
                        .error(
                            value.span(),
                            format!(
                                "`package.metadata.d1kit.lints.{field}` = `{}` is not a lint level",
                                value.get_ref()
                            ),
                        )
                        .with_help("one of: \"allow\", \"warn\" (the default), \"deny\"");
                    self.errors.push(e);
                }
            }
        }
        lints
    }

    fn database(
        &mut self,
        name: Spanned<String>,
        db: RawDatabase,
        lints: Lints,
        root: &Path,
    ) -> DatabaseConfig {
        let name_span = name.span();
        let name = name.into_inner();
        let key = |k: &str| format!("databases.{name}.{k}");
        self.at(format!("databases.{name}"), name_span.clone());
        // A Durable Object database: its D1-only keys are refused (each at its line) and left
        // out, so nothing downstream reads them.
        let mut db = db;
        let durable_object = db
            .durable_object
            .take()
            .map(|class| self.durable_object(&name, class, &mut db));
        let shards = self.shards(&name, db.shards);
        let binding = self.binding(&name, name_span, db.binding);
        let migrations = match db.migrations {
            None => "migrations".to_string(),
            Some(m) => {
                self.at(key("migrations"), m.span());
                m.into_inner()
            }
        };
        let migrations_pattern = db
            .migrations_pattern
            .and_then(|p| self.migrations_pattern(&name, &migrations, p));
        let database_name = match db.database_name {
            None => None,
            Some(p) => {
                self.at(key("database_name"), p.span());
                if let Err(why) = check_name_pattern(p.get_ref(), shards) {
                    let e = self.error(p.span(),
                        format!("`package.metadata.d1kit.databases.{name}.database_name` = `{}` {why}", p.get_ref()),
                    ).with_help("a pattern of `{worker}` (the Worker's name), `{name}` (the database's name in d1kit) and `{n}` (the shard), e.g. \"{worker}-{name}-{n}\"");
                    self.errors.push(e);
                }
                Some(p.into_inner())
            }
        };
        let location_hint = self.choice(&name, "location_hint", db.location_hint, LOCATION_HINTS);
        let jurisdiction = self.choice(&name, "jurisdiction", db.jurisdiction, JURISDICTIONS);
        let directory = db.directory.map(|d| {
            self.at(key("directory"), d.span());
            self.directories
                .push((name.clone(), d.get_ref().clone(), d.span()));
            DirectoryRef {
                name: d.into_inner(),
                binding: String::new(),
            }
        });
        DatabaseConfig {
            directory,
            location_hint,
            jurisdiction,
            lints,
            migrations: root.join(migrations),
            migrations_pattern,
            binding,
            shards,
            tenant_column: db.tenant_column.map(|t| {
                self.at(key("tenant_column"), t.span());
                t.into_inner()
            }),
            database_name,
            durable_object,
            name,
        }
    }

    /// `durable_object = "ClassName"`: a JavaScript class name. The keys that configure D1
    /// databases are errors beside it, each at its line; they are taken out of `db`.
    fn durable_object(
        &mut self,
        name: &str,
        class: Spanned<String>,
        db: &mut RawDatabase,
    ) -> String {
        let key = format!("package.metadata.d1kit.databases.{name}.durable_object");
        self.at(format!("databases.{name}.durable_object"), class.span());
        if !is_js_identifier(class.get_ref()) {
            let e = self
                .error(
                    class.span(),
                    format!(
                        "`{key}` = `{}` is not a JavaScript class name",
                        class.get_ref().escape_debug()
                    ),
                )
                .with_help("the name of the Durable Object class your Worker exports (`#[durable_object] pub struct UserNotes`): ASCII letters, digits, `_` and `$`, not starting with a digit, not a reserved word");
            self.errors.push(e);
        }
        let line = Location::at(self.text, class.span().start).line;
        let pool = "a Durable Object database is one SQLite database per user, in that user's own object: there is no pool";
        let d1 = "it configures the D1 databases d1kit names and creates; a Durable Object's storage is created with its object, the first time the Worker reaches it";
        let refused: [(&str, Option<Range<usize>>, String); 6] = [
            (
                "shards",
                db.shards.take().map(|s| s.span()),
                format!("{pool} of shards"),
            ),
            (
                "tenant_column",
                db.tenant_column.take().map(|s| s.span()),
                format!(
                    "{pool}, and no column scopes its rows to a tenant: every row is the user's"
                ),
            ),
            (
                "database_name",
                db.database_name.take().map(|s| s.span()),
                d1.to_string(),
            ),
            (
                "location_hint",
                db.location_hint.take().map(|s| s.span()),
                d1.to_string(),
            ),
            (
                "jurisdiction",
                db.jurisdiction.take().map(|s| s.span()),
                format!(
                    "{d1} (a Durable Object's jurisdiction is chosen in code, from its namespace)"
                ),
            ),
            (
                "directory",
                db.directory.take().map(|s| s.span()),
                format!("{pool} to route: a user's object is found by the user's key"),
            ),
        ];
        for (field, span, why) in refused {
            let Some(span) = span else { continue };
            self.at(format!("databases.{name}.{field}"), span.clone());
            let e = self
                .error(
                    span,
                    format!(
                        "`package.metadata.d1kit.databases.{name}.{field}` cannot be used with `durable_object` (Cargo.toml:{line}): {why}"
                    ),
                )
                .with_help(format!(
                    "remove `{field}`, or remove `durable_object` to keep `{name}` a D1 database"
                ));
            self.errors.push(e);
        }
        class.into_inner()
    }

    /// `migrations_pattern`: a glob relative to the crate that starts with the `migrations`
    /// directory, as wrangler requires of its own; kept relative to that directory.
    fn migrations_pattern(
        &mut self,
        name: &str,
        migrations: &str,
        raw: Spanned<String>,
    ) -> Option<String> {
        let key = format!("package.metadata.d1kit.databases.{name}.migrations_pattern");
        self.at(format!("databases.{name}.migrations_pattern"), raw.span());
        let dir = glob::normalize(migrations);
        let pattern = glob::normalize(raw.get_ref());
        let Some(relative) = glob::strip_dir(&pattern, &dir) else {
            let e = self
                .error(
                    raw.span(),
                    format!(
                        "`{key}` = `{}` does not start with the migrations directory `{dir}/`",
                        raw.get_ref()
                    ),
                )
                .with_help(format!(
                    "the pattern is relative to the crate, like `migrations`, and wrangler requires it to start with `migrations_dir`: e.g. \"{dir}/*/migration.sql\" (drizzle-kit 1.0, Prisma)"
                ));
            self.errors.push(e);
            return None;
        };
        match glob::Glob::new(relative) {
            Ok(_) => Some(relative.to_string()),
            Err(why) => {
                let e = self
                    .error(raw.span(), format!("`{key}` = `{}` {why}", raw.get_ref()))
                    .with_help("wrangler reads it as a minimatch glob; d1kit supports `*`, `?`, `[...]`, `**` and `{a,b}`");
                self.errors.push(e);
                None
            }
        }
    }

    /// `shards`: 1 when absent, at least 1 and at most a Worker's bindings.
    fn shards(&mut self, name: &str, raw: Option<Spanned<u32>>) -> u32 {
        let Some(s) = raw else {
            return 1;
        };
        self.at(format!("databases.{name}.shards"), s.span());
        let n = *s.get_ref();
        if n == 0 {
            let e = self.error(
                s.span(),
                format!("`package.metadata.d1kit.databases.{name}.shards` must be at least 1"),
            );
            self.errors.push(e);
        } else if n > MAX_BINDINGS {
            let e = self.error(s.span(),
                format!("`package.metadata.d1kit.databases.{name}.shards` is {n}: a Worker can have at most {MAX_BINDINGS} bindings"),
            ).with_help("D1 bindings are static; for more tenants than a pool can bind, use the REST API or pin tenants to shards with a directory");
            self.errors.push(e);
        }
        n.clamp(1, MAX_BINDINGS)
    }

    /// `binding`: the database's name upper-cased when absent; a JavaScript identifier.
    fn binding(
        &mut self,
        name: &str,
        name_span: Range<usize>,
        raw: Option<Spanned<String>>,
    ) -> String {
        let Some(b) = raw else {
            let b = name.to_ascii_uppercase();
            if !is_js_identifier(&b) {
                let e = self.error(name_span,
                    format!("the default binding of database `{name}`, `{b}` (its name upper-cased), is not a JavaScript identifier"),
                )
                .with_help(format!("set `binding` under [package.metadata.d1kit.databases.{name}]: letters, digits, `_` and `$`, not starting with a digit"));
                self.errors.push(e);
            }
            return b;
        };
        self.at(format!("databases.{name}.binding"), b.span());
        if !is_js_identifier(b.get_ref()) {
            let e = self.error(b.span(),
                format!("`package.metadata.d1kit.databases.{name}.binding` = `{}` is not a JavaScript identifier", b.get_ref()),
            ).with_help("a Worker reads the binding as `env.NAME`: letters, digits, `_` and `$`, not starting with a digit, not a reserved word");
            self.errors.push(e);
        }
        b.into_inner()
    }

    /// A key whose value is one of `allowed`.
    fn choice(
        &mut self,
        name: &str,
        field: &str,
        value: Option<Spanned<String>>,
        allowed: &[&str],
    ) -> Option<String> {
        let value = value?;
        self.at(format!("databases.{name}.{field}"), value.span());
        if !allowed.contains(&value.get_ref().as_str()) {
            let e = self
                .error(
                    value.span(),
                    format!(
                        "`package.metadata.d1kit.databases.{name}.{field}` = `{}` is not one D1 knows",
                        value.get_ref()
                    ),
                )
                .with_help(format!("one of: {}", allowed.join(", ")));
            self.errors.push(e);
        }
        Some(value.into_inner())
    }
}
