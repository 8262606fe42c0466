//! A migrations directory → the ordered list of migrations wrangler would apply, each with its checksum.

use crate::diagnostic::{Diagnostic, Diagnostics};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::glob::{self, Glob};

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Its path relative to the migrations directory, e.g. `0001_init.sql` or
    /// `0001_init/migration.sql`: what wrangler records in `d1_migrations`.
    pub name: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// The leading number of its first path segment, when it has one.
    pub number: Option<u64>,
    /// Its text.
    pub sql: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub checksum: String,
}

impl Migration {
    /// A migration from memory (tests, embedded migrations).
    pub fn new(name: impl Into<String>, sql: impl Into<String>) -> Migration {
        let name = name.into();
        let sql = sql.into();
        Migration {
            number: leading_number(&name),
            path: PathBuf::from(&name),
            checksum: checksum(sql.as_bytes()),
            name,
            sql,
        }
    }
}

/// The migrations of one database, in the order wrangler applies them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationSet {
    /// The directory they came from.
    pub dir: PathBuf,
    /// In wrangler's order ([`glob::compare_paths`]).
    pub migrations: Vec<Migration>,
    /// Things wrangler accepts but that are probably mistakes (two files with one number...).
    pub warnings: Vec<Diagnostic>,
}

impl MigrationSet {
    /// A set from migrations in memory, sorted as wrangler sorts them
    /// ([`glob::compare_paths`]).
    pub fn from_migrations(mut migrations: Vec<Migration>) -> MigrationSet {
        migrations.sort_by(|a, b| glob::compare_paths(&a.name, &b.name));
        let mut set = MigrationSet {
            migrations,
            ..MigrationSet::default()
        };
        set.warnings = naming_warnings(&set.migrations);
        set
    }

    /// One checksum over every file's name and checksum: equal sets give equal fingerprints.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for m in &self.migrations {
            h.update(m.name.as_bytes());
            h.update([0]);
            h.update(m.checksum.as_bytes());
            h.update([0]);
        }
        hex(&h.finalize())
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn checksum(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn leading_number(name: &str) -> Option<u64> {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One migration file found by [`files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its path relative to the migrations directory, `/`-separated: the name wrangler
    /// records in `d1_migrations` (`0001_init.sql`, `20250101_init/migration.sql`).
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
}

/// The files of `dir` that `pattern` (a `migrations_pattern` relative to `dir`; `None`: the
/// `.sql` files directly in it) matches, in the order `wrangler d1 migrations apply` applies
/// them: wrangler's walk (regular files only, directories entered only when they may hold a
/// match, names starting with `.` matched only by a pattern that spells the dot) and its
/// order ([`glob::compare_paths`]). A match wrangler would skip or fail on (a symbolic link,
/// a name that is not UTF-8, a directory that cannot be listed) is an error here, never
/// skipped silently.
pub fn files(dir: &Path, pattern: Option<&str>) -> Result<Vec<File>, Diagnostics> {
    let glob = Glob::new(pattern.unwrap_or(glob::DEFAULT)).map_err(|why| {
        Diagnostics(vec![Diagnostic::error(format!(
            "migrations pattern `{}` {why}",
            pattern.unwrap_or_default()
        ))])
    })?;
    let root = std::fs::read_dir(dir).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            "does not exist".to_string()
        } else if dir.is_file() {
            "is a file, not a directory".to_string()
        } else {
            format!("cannot be read: {e}")
        };
        Diagnostics(vec![Diagnostic::error(format!(
            "migrations directory `{}` {what}",
            dir.display()
        ))
        .with_help(
            "create it with `wrangler d1 migrations create <DB> <name>`, or set `migrations` under [package.metadata.d1kit.databases.<name>] in Cargo.toml",
        )
        .in_file(dir)])
    })?;
    let mut errors = Vec::new();
    let mut found = Vec::new();
    let mut stack = vec![(root, String::new(), dir.to_path_buf())];
    while let Some((entries, rel, abs)) = stack.pop() {
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(
                        Diagnostic::error(format!("cannot list `{}`: {e}", abs.display()))
                            .in_file(&abs),
                    );
                    continue;
                }
            };
            let path = entry.path();
            let lossy = entry.file_name().to_string_lossy().into_owned();
            let name = if rel.is_empty() {
                lossy.clone()
            } else {
                format!("{rel}/{lossy}")
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let wanted = |is_dir: bool| {
                if is_dir {
                    glob.may_hold(&name)
                } else {
                    glob.matches(&name)
                }
            };
            let refuse = |why: String| {
                Diagnostic::error(format!("cannot read migration `{name}`: {why}"))
                    .with_help(
                        "replace it with a regular file: wrangler applies regular files only",
                    )
                    .in_file(&path)
            };
            if kind.is_symlink() {
                let target = std::fs::metadata(&path);
                if wanted(target.as_ref().is_ok_and(|m| m.is_dir())) {
                    let why = match target {
                        Err(e) => format!("it is a symbolic link that leads nowhere readable ({e})"),
                        Ok(_) => "it is a symbolic link, which wrangler's walk does not follow, so wrangler would never apply what it leads to".to_string(),
                    };
                    errors.push(refuse(why));
                }
                continue;
            }
            if !wanted(kind.is_dir()) {
                continue;
            }
            if entry.file_name().to_str().is_none() {
                errors.push(
                    Diagnostic::error(format!(
                        "migration file name `{}` is not UTF-8",
                        path.display()
                    ))
                    .in_file(&path),
                );
            } else if kind.is_dir() {
                match std::fs::read_dir(&path) {
                    Ok(entries) => stack.push((entries, name, path)),
                    Err(e) => errors.push(
                        Diagnostic::error(format!("cannot list `{}`: {e}", path.display()))
                            .with_help("wrangler skips a folder it cannot read: make it readable, or remove it")
                            .in_file(&path),
                    ),
                }
            } else if kind.is_file() {
                found.push(File { name, path });
            } else {
                errors.push(refuse("it is not a regular file".to_string()));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    found.sort_by(|a, b| glob::compare_paths(&a.name, &b.name));
    Ok(found)
}

/// Reads the migrations of `dir` that `pattern` selects ([`files`]), in wrangler's order.
pub fn load(dir: &Path, pattern: Option<&str>) -> Result<MigrationSet, Diagnostics> {
    let mut errors = Vec::new();
    let mut migrations = Vec::new();
    for File { name, path } in files(dir, pattern)? {
        match std::fs::read(&path) {
            Err(e) => {
                errors.push(Diagnostic::error(format!("cannot read migration: {e}")).in_file(&path))
            }
            Ok(bytes) => match String::from_utf8(bytes) {
                Err(e) => {
                    let offset = e.utf8_error().valid_up_to();
                    let text = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
                    errors.push(
                        Diagnostic::error(format!("migration `{name}` is not valid UTF-8"))
                            .with_help("save the file as UTF-8")
                            .at_offset(&text, offset, 1)
                            .in_file(&path),
                    );
                }
                Ok(sql) => {
                    let sql = sql
                        .strip_prefix('\u{feff}')
                        .map(str::to_string)
                        .unwrap_or(sql);
                    migrations.push(Migration {
                        number: leading_number(&name),
                        checksum: checksum(sql.as_bytes()),
                        name,
                        path,
                        sql,
                    })
                }
            },
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let mut set = MigrationSet::from_migrations(migrations);
    set.dir = dir.to_path_buf();
    Ok(set)
}

fn naming_warnings(migrations: &[Migration]) -> Vec<Diagnostic> {
    let first = |m: &Migration| m.name.split('/').next().unwrap_or_default().to_string();
    let mut warnings = Vec::new();
    for (i, m) in migrations.iter().enumerate() {
        match m.number {
            None => warnings.push(
                Diagnostic::warning(format!(
                    "migration `{}` does not start with a number (`NNNN_name.sql`); wrangler applies it after every numbered one",
                    m.name
                ))
                .with_help("rename it `NNNN_name.sql` so its place in the order is obvious")
                .in_file(&m.path),
            ),
            Some(n) => {
                // Files of one migration folder share its number by design.
                if let Some(prev) = migrations[..i]
                    .iter()
                    .find(|p| p.number == Some(n) && first(p) != first(m))
                {
                    warnings.push(
                        Diagnostic::warning(format!(
                            "migrations `{}` and `{}` have the same number {n}; they run in name order",
                            prev.name, m.name
                        ))
                        .in_file(&m.path),
                    );
                }
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &[u8])]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "d1kit-migrations-{}-{}",
            std::process::id(),
            files
                .iter()
                .map(|f| f.0)
                .collect::<Vec<_>>()
                .join("-")
                .replace(['.', '/'], "_")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("meta")).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        std::fs::write(dir.join("meta/_journal.json"), b"{}").unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_sql_entries_are_refused_not_skipped() {
        let dir = dir_with(&[("0001_a.sql", b"CREATE TABLE a (x);")]);
        std::os::unix::fs::symlink(dir.join("missing.sql"), dir.join("0002_dangling.sql")).unwrap();
        std::os::unix::fs::symlink(dir.join("0003_loop.sql"), dir.join("0003_loop.sql")).unwrap();
        std::fs::create_dir_all(dir.join("0004_folder.sql")).unwrap();
        let errors = load(&dir, None).unwrap_err().0;
        let messages: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(errors.len(), 2, "{messages:?}");
        assert!(
            messages.iter().any(|m| m
                .starts_with("cannot read migration `0002_dangling.sql`: it is a symbolic link")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("cannot read migration `0003_loop.sql`")),
            "{messages:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_migration_is_refused_as_wrangler_would_never_apply_it() {
        let dir = dir_with(&[("0001_a.sql", b"CREATE TABLE a (x);")]);
        std::os::unix::fs::symlink(dir.join("0001_a.sql"), dir.join("0002_link.sql")).unwrap();
        std::os::unix::fs::symlink(dir.join("0001_a.sql"), dir.join("notes.md")).unwrap();
        let errors = load(&dir, None).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].message.contains(
                "`0002_link.sql`: it is a symbolic link, which wrangler's walk does not follow"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn nested_layouts_are_read_through_their_pattern() {
        // drizzle-kit 1.0: <ts>_<name>/migration.sql beside snapshot.json; Prisma adds
        // migration_lock.toml at the top.
        let dir = dir_with(&[("migration_lock.toml", b"provider = \"sqlite\"")]);
        for (folder, sql) in [
            ("20250102000000_second", "CREATE TABLE b (x);"),
            ("20250101000000_first", "CREATE TABLE a (x);"),
        ] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
            std::fs::write(dir.join(folder).join("migration.sql"), sql).unwrap();
            std::fs::write(dir.join(folder).join("snapshot.json"), "{}").unwrap();
        }
        let set = load(&dir, Some("*/migration.sql")).unwrap();
        let names: Vec<_> = set.migrations.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "20250101000000_first/migration.sql",
                "20250102000000_second/migration.sql"
            ]
        );
        assert_eq!(set.migrations[0].number, Some(20250101000000));
        assert!(set.warnings.is_empty(), "{:?}", set.warnings);
        // The default pattern reads only top-level files: none here.
        assert!(load(&dir, None).unwrap().migrations.is_empty());
        let err = load(&dir, Some("+(a).sql")).unwrap_err();
        assert!(err.0[0].message.contains("extended glob"), "{err}");
    }

    #[test]
    fn a_file_given_as_the_directory_says_so() {
        let dir = dir_with(&[("0001_a.sql", b"CREATE TABLE a (x);")]);
        let errors = load(&dir.join("0001_a.sql"), None).unwrap_err().0;
        assert!(
            errors[0].message.ends_with("is a file, not a directory"),
            "{:?}",
            errors[0]
        );
    }

    #[test]
    fn orders_by_number_and_ignores_other_files() {
        let dir = dir_with(&[
            ("0002_b.sql", b"CREATE TABLE b(x);"),
            ("10_c.sql", b"CREATE TABLE c(x);"),
            ("0001_a.sql", b"\xef\xbb\xbfCREATE TABLE a(x);"),
            ("README.md", b"not a migration"),
            (
                "0003_upper.SQL",
                b"not read: wrangler's *.sql is case-sensitive",
            ),
        ]);
        let set = load(&dir, None).unwrap();
        let names: Vec<_> = set.migrations.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["0001_a.sql", "0002_b.sql", "10_c.sql"]);
        assert_eq!(set.migrations[0].sql, "CREATE TABLE a(x);", "BOM stripped");
        assert_eq!(set.migrations[0].checksum.len(), 64);
        assert!(set.warnings.is_empty());
    }

    #[test]
    fn same_number_and_unnumbered_are_warnings() {
        let dir = dir_with(&[
            ("0001_a.sql", b"SELECT 1;"),
            ("0001_b.sql", b"SELECT 1;"),
            ("init.sql", b""),
        ]);
        let set = load(&dir, None).unwrap();
        assert_eq!(set.migrations.len(), 3);
        assert_eq!(set.warnings.len(), 2, "{:?}", set.warnings);
        assert!(set.warnings[0].message.contains("same number 1"));
        assert!(set.warnings[1]
            .message
            .contains("does not start with a number"));
    }

    #[test]
    fn missing_directory_and_bad_utf8_are_errors() {
        let err = load(Path::new("/nonexistent/d1kit/migrations"), None).unwrap_err();
        assert!(err.0[0].message.contains("does not exist"), "{err}");
        let dir = dir_with(&[("0001_bad.sql", b"SELECT 1;\nSELECT '\xff';")]);
        let err = load(&dir, None).unwrap_err();
        assert!(err.0[0].message.contains("not valid UTF-8"));
        let loc = err.0[0].span.location.unwrap();
        assert_eq!((loc.line, loc.column), (2, 9));
    }
}
