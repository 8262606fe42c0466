//! A migrations directory → the ordered list of migrations wrangler would apply, each with its checksum.

use crate::diagnostic::{Diagnostic, Diagnostics};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The file name, e.g. `0001_init.sql`: what wrangler records in `d1_migrations`.
    pub name: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// Its leading number, when the name has one.
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
    /// Sorted by full file name.
    pub migrations: Vec<Migration>,
    /// Things wrangler accepts but that are probably mistakes (two files with one number...).
    pub warnings: Vec<Diagnostic>,
}

impl MigrationSet {
    /// A set from migrations in memory, sorted as wrangler sorts files.
    pub fn from_migrations(mut migrations: Vec<Migration>) -> MigrationSet {
        migrations.sort_by(|a, b| a.name.cmp(&b.name));
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

/// Reads every `*.sql` file of `dir` (not recursing: drizzle-kit's `meta/` folder is not a
/// migration) in order of the full file name, as `wrangler d1 migrations apply` does.
pub fn load(dir: &Path) -> Result<MigrationSet, Diagnostics> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
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
    let mut migrations = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push(
                    Diagnostic::error(format!("cannot list `{}`: {e}", dir.display())).in_file(dir),
                );
                continue;
            }
        };
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            errors.push(
                Diagnostic::error(format!(
                    "migration file name `{}` is not UTF-8",
                    path.display()
                ))
                .in_file(&path),
            );
            continue;
        };
        if !is_migration(&path) {
            // A `.sql` entry that is no file: a directory is not a migration, but a link to
            // nothing (or a loop) is one that cannot be read: refused, never skipped silently.
            if name.to_ascii_lowercase().ends_with(".sql") && !path.is_dir() {
                let why = match std::fs::metadata(&path) {
                    Err(e) if std::fs::symlink_metadata(&path).is_ok() => {
                        format!("it is a symbolic link that leads nowhere readable ({e})")
                    }
                    Err(e) => e.to_string(),
                    Ok(_) => "it is not a regular file".to_string(),
                };
                errors.push(
                    Diagnostic::error(format!("cannot read migration `{name}`: {why}"))
                        .with_help("fix or remove the entry: wrangler would fail on it too")
                        .in_file(&path),
                );
            }
            continue;
        }
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

/// Whether a directory entry is a migration: a file whose name ends in `.sql` (any case), as
/// wrangler reads them.
pub fn is_migration(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".sql"))
        && path.is_file()
}

fn naming_warnings(migrations: &[Migration]) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    for (i, m) in migrations.iter().enumerate() {
        match m.number {
            None => warnings.push(
                Diagnostic::warning(format!(
                    "migration `{}` does not start with a number (`NNNN_name.sql`); wrangler still applies it in file-name order",
                    m.name
                ))
                .with_help("rename it `NNNN_name.sql` so its place in the order is obvious")
                .in_file(&m.path),
            ),
            Some(n) => {
                if let Some(prev) = migrations[..i].iter().find(|p| p.number == Some(n)) {
                    warnings.push(
                        Diagnostic::warning(format!(
                            "migrations `{}` and `{}` have the same number {n}; they run in file-name order",
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
        let errors = load(&dir).unwrap_err().0;
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

    #[test]
    fn a_file_given_as_the_directory_says_so() {
        let dir = dir_with(&[("0001_a.sql", b"CREATE TABLE a (x);")]);
        let errors = load(&dir.join("0001_a.sql")).unwrap_err().0;
        assert!(
            errors[0].message.ends_with("is a file, not a directory"),
            "{:?}",
            errors[0]
        );
    }

    #[test]
    fn orders_by_full_file_name_and_ignores_other_files() {
        let dir = dir_with(&[
            ("0002_b.sql", b"CREATE TABLE b(x);"),
            ("0010_c.sql", b"CREATE TABLE c(x);"),
            ("0001_a.sql", b"\xef\xbb\xbfCREATE TABLE a(x);"),
            ("README.md", b"not a migration"),
        ]);
        let set = load(&dir).unwrap();
        let names: Vec<_> = set.migrations.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["0001_a.sql", "0002_b.sql", "0010_c.sql"]);
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
        let set = load(&dir).unwrap();
        assert_eq!(set.migrations.len(), 3);
        assert_eq!(set.warnings.len(), 2, "{:?}", set.warnings);
        assert!(set.warnings[0].message.contains("same number 1"));
        assert!(set.warnings[1]
            .message
            .contains("does not start with a number"));
    }

    #[test]
    fn missing_directory_and_bad_utf8_are_errors() {
        let err = load(Path::new("/nonexistent/d1kit/migrations")).unwrap_err();
        assert!(err.0[0].message.contains("does not exist"), "{err}");
        let dir = dir_with(&[("0001_bad.sql", b"SELECT 1;\nSELECT '\xff';")]);
        let err = load(&dir).unwrap_err();
        assert!(err.0[0].message.contains("not valid UTF-8"));
        let loc = err.0[0].span.location.unwrap();
        assert_eq!((loc.line, loc.column), (2, 9));
    }
}
