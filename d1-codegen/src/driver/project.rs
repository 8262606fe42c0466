//! The crate being compiled, as the macros see it: its configuration and each database's
//! migrations and analyzer, loaded once per compiler process and reused while the files on
//! disk are unchanged (one rustc process expands every macro of a crate).

use crate::analyze::{Analyzer, Engine};
use crate::config::{self, Config, DatabaseConfig};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lint;
use crate::migrations::{self, MigrationSet};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// A database ready to check queries.
#[derive(Debug)]
pub struct Loaded {
    /// Its configuration.
    pub database: DatabaseConfig,
    /// Its migrations as read from disk.
    pub migrations: MigrationSet,
    /// The schema they build, and the SQLite oracle.
    pub analyzer: Analyzer,
}

/// What a database's analyses depend on besides the query, read without parsing anything:
/// its configuration and the names and contents of its migration files, as one hash. Two
/// compiler runs with the same fingerprint analyse a query alike (the memo of `driver::memo`).
#[derive(Debug)]
pub struct Fingerprint {
    /// The database's configuration.
    pub database: DatabaseConfig,
    /// A 128-bit hash of the configuration and every `.sql` file of the migrations directory.
    pub hash: u128,
    /// The crate's Cargo.toml and the migration files: what rustc must track.
    files: Vec<PathBuf>,
    /// Whether an expansion of this process already asked rustc to track them.
    tracked: AtomicBool,
}

impl Fingerprint {
    /// The files whose changes must rebuild the crate, the first time this is asked in this
    /// process, and nothing afterwards (rustc tracks them for the whole crate once one
    /// expansion `include_bytes!`s them).
    pub fn untracked_files(&self) -> Vec<PathBuf> {
        if self.tracked.swap(true, Ordering::Relaxed) {
            return Vec::new();
        }
        self.files.clone()
    }
}

/// A 128-bit hash (two SipHash passes with different prefixes): fast, since std is optimized
/// even when the macros are not, and wide enough that distinct inputs never meet in practice.
pub(crate) fn hash128(f: impl Fn(&mut std::hash::DefaultHasher)) -> u128 {
    let half = |seed: u8| {
        let mut h = std::hash::DefaultHasher::new();
        seed.hash(&mut h);
        f(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// The migration files of `db` (its directory and pattern, as [`migrations::load`] reads
/// them), in order.
fn migration_files(db: &DatabaseConfig) -> Result<Vec<migrations::File>, Diagnostics> {
    migrations::files(&db.migrations, db.migrations_pattern.as_deref())
}

/// The stamp of `db`'s migrations: each file's name, size and time, so that an edit in a
/// nested folder (`<ts>_<name>/migration.sql`) is seen as well as an added folder; the
/// directory's own stamp when it cannot be walked (the load then reports why).
fn migrations_stamp(db: &DatabaseConfig) -> Stamp {
    match migration_files(db) {
        Ok(files) => files
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f.path).ok();
                (
                    f.name,
                    meta.as_ref().map_or(0, std::fs::Metadata::len),
                    meta.and_then(|m| m.modified().ok()),
                )
            })
            .collect(),
        Err(_) => stamp(&db.migrations),
    }
}

/// Names, sizes and modification times of a directory's entries (or of one file): cheap to
/// read on every macro call, and changed by any edit, addition or removal.
type Stamp = Vec<(String, u64, Option<SystemTime>)>;

fn stamp(path: &Path) -> Stamp {
    let meta = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    match std::fs::read_dir(path) {
        Ok(entries) => {
            let mut s: Stamp = entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let (len, time) = meta(&e.path())?;
                    Some((e.file_name().to_string_lossy().into_owned(), len, time))
                })
                .collect();
            s.sort();
            s
        }
        Err(_) => meta(path).map_or_else(Vec::new, |(len, time)| vec![(String::new(), len, time)]),
    }
}

/// A per-process cache: path → what was loaded from it (errors included), with the stamp it
/// was loaded at and when that stamp was last compared with the disk.
type Cache<T> = Mutex<HashMap<PathBuf, Entry<T>>>;

struct Entry<T> {
    stamp: Stamp,
    checked: Instant,
    value: Result<T, Diagnostics>,
}

/// How long a stamp is trusted before the files are looked at again. Within one compiler
/// process the files do not change; in a long-lived one (rust-analyzer's proc-macro server)
/// an edit is seen this much later at most. Looking every call cost a `read_dir` and a `stat`
/// per migration file on every macro call: a tenth of an expansion.
const RECHECK: Duration = Duration::from_secs(2);

/// The cached value for `key` if it is still current (looked at within [`RECHECK`], or its
/// `stamp()` unchanged), else a fresh `load()`, cached.
fn cached<T: Clone>(
    cache: &Cache<T>,
    stamp: impl Fn() -> Stamp,
    key: &Path,
    current: impl Fn(&T) -> bool,
    load: impl FnOnce() -> Result<T, Diagnostics>,
) -> Result<T, Diagnostics> {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let usable = |e: &Entry<T>| e.value.as_ref().map_or(true, &current);
    let mut changed = None;
    if let Some(entry) = cache.get_mut(key).filter(|e| usable(e)) {
        if entry.checked.elapsed() < RECHECK {
            return entry.value.clone();
        }
        let now = stamp();
        if entry.stamp == now {
            entry.checked = Instant::now();
            return entry.value.clone();
        }
        changed = Some(now);
    }
    let stamp = changed.unwrap_or_else(stamp);
    let value = load();
    cache.insert(
        key.to_owned(),
        Entry {
            stamp,
            checked: Instant::now(),
            value: value.clone(),
        },
    );
    value
}

fn configs() -> &'static Cache<Arc<Config>> {
    static CACHE: OnceLock<Cache<Arc<Config>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

type Shared = Arc<Mutex<Loaded>>;

fn databases() -> &'static Cache<Shared> {
    static CACHE: OnceLock<Cache<Shared>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The directory of the crate being compiled: `CARGO_MANIFEST_DIR`, unless `D1KIT_MANIFEST_DIR`
/// names another (for test harnesses such as trybuild that compile code in a generated crate).
pub fn manifest_dir() -> Result<PathBuf, Diagnostics> {
    std::env::var_os("D1KIT_MANIFEST_DIR")
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR"))
        .map(PathBuf::from)
        .ok_or_else(|| {
            Diagnostics(vec![Diagnostic::error(
                "CARGO_MANIFEST_DIR is not set: d1kit's macros must be compiled by cargo",
            )])
        })
}

/// The configuration of the crate at `root`, read once per process while Cargo.toml is unchanged.
pub fn config(root: &Path) -> Result<Arc<Config>, Diagnostics> {
    let manifest = root.join("Cargo.toml");
    cached(
        configs(),
        || stamp(&manifest),
        root,
        |_| true,
        || config::load(root).map(Arc::new),
    )
}

fn fingerprints() -> &'static Cache<Arc<Fingerprint>> {
    static CACHE: OnceLock<Cache<Arc<Fingerprint>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The [`Fingerprint`] of the database `name` (or the only one), computed once per process
/// while its migrations directory is unchanged. Configuration errors are returned; a directory
/// that cannot be read is left to [`database`] to report, with `hash` 0 (never stored).
pub fn fingerprint(name: Option<&str>) -> Result<Arc<Fingerprint>, Diagnostics> {
    let root = manifest_dir()?;
    let config = config(&root)?;
    let db = config.database(name).map_err(|d| Diagnostics(vec![d]))?;
    cached(
        fingerprints(),
        || migrations_stamp(db),
        &db.migrations,
        |f: &Arc<Fingerprint>| f.database == *db,
        || {
            let manifest = root.join("Cargo.toml");
            let mut files = vec![manifest];
            let read = migration_files(db).ok().and_then(|sql| {
                sql.into_iter()
                    .map(|f| std::fs::read(&f.path).map(|bytes| (f, bytes)))
                    .collect::<std::io::Result<Vec<_>>>()
                    .ok()
            });
            let hash = match read {
                Some(contents) => {
                    let hash = hash128(|h| {
                        format!("{db:?}").hash(h);
                        for (file, bytes) in &contents {
                            file.name.hash(h);
                            bytes.hash(h);
                        }
                    });
                    files.extend(contents.into_iter().map(|(f, _)| f.path));
                    hash
                }
                None => 0,
            };
            Ok(Arc::new(Fingerprint {
                database: db.clone(),
                hash,
                files,
                tracked: AtomicBool::new(false),
            }))
        },
    )
}

/// The database `name` (or the only one) of the crate being compiled, loaded and migrated once
/// per process while its migrations directory is unchanged.
pub fn database(name: Option<&str>) -> Result<Shared, Diagnostics> {
    let root = manifest_dir()?;
    let config = config(&root)?;
    let db = config.database(name).map_err(|d| Diagnostics(vec![d]))?;
    // The same directory under another configuration (say, a changed tenant column) reloads.
    let same_config = |l: &Shared| l.lock().is_ok_and(|l| l.database == *db);
    cached(
        databases(),
        || migrations_stamp(db),
        &db.migrations,
        same_config,
        || {
            // A missing directory is reported at its key in Cargo.toml.
            if let Some(d) = config::check_migrations_dir(&config, db) {
                return Err(Diagnostics(vec![d]));
            }
            load(db.clone())
        },
    )
}

fn load(database: DatabaseConfig) -> Result<Shared, Diagnostics> {
    let migrations =
        migrations::load(&database.migrations, database.migrations_pattern.as_deref())?;
    let engine = if database.is_d1() {
        Engine::D1
    } else {
        Engine::DurableObject
    };
    let analyzer = lint::load_on(&migrations, &database.lints, engine)?;
    Ok(Arc::new(Mutex::new(Loaded {
        database,
        migrations,
        analyzer,
    })))
}
