//! Analyses kept between compiler runs. rustc expands every macro of a crate again on each
//! build, even when only one query changed, and an analysis run by an unoptimized proc macro
//! costs a third of a millisecond. This keeps the result of each successful analysis so the
//! next run can skip it.
//!
//! Nothing needs it: it is a memo, not an input. An analysis is reused only when all it
//! depends on is unchanged: d1kit's own build, the database's configuration, the names and
//! contents of the migration files ([`Fingerprint`]), and the query's text and options. The
//! result is the one a fresh analysis would give. Errors are never kept: they are cheap to find
//! again and must point at the code as it is now.
//!
//! The store lives beside rustc's output (`target/<profile>/.d1kit/`, one file per build and
//! fingerprint). It is written in appended lines that each carry a checksum, so a torn or
//! interleaved write is skipped when read. Deleting it is always safe, and files unused for a
//! week are removed. It is off where the compiler is not cargo's rustc (rust-analyzer's
//! proc-macro server, tests calling the expansion directly), and when `D1KIT_CACHE=off`.

use super::project::{hash128, Fingerprint};
use crate::analyze::{Param, ResultColumn, Signature, StatementKind};
use crate::lint::QueryOptions;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// The store's directory under rustc's output directory.
const DIR: &str = ".d1kit";
/// Store files not written for this long are removed when a new one is created.
const UNUSED: Duration = Duration::from_secs(7 * 24 * 3600);
/// A store file larger than this is started afresh rather than read.
const MAX_FILE: u64 = 16 << 20;

/// A kept analysis: what the expansion needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    /// The signature, without its warnings (the macros cannot show them).
    pub sig: Signature,
    /// The SQL as D1 receives it.
    pub d1_sql: String,
}

/// The analysis of `sql` kept by an earlier run with the same build and `fingerprint`.
pub(crate) fn get(fingerprint: &Fingerprint, sql: &str, options: QueryOptions) -> Option<Kept> {
    let dir = store_dir()?;
    with_store(dir, fingerprint, |store| store.get(sql, options))
}

/// Keeps the analysis of `sql` for later runs (best effort: a store that cannot be written is
/// no error).
pub(crate) fn put(fingerprint: &Fingerprint, sql: &str, options: QueryOptions, analysis: &Kept) {
    if let Some(dir) = store_dir() {
        with_store(dir, fingerprint, |store| {
            store.put(sql, options, analysis);
            Some(())
        });
    }
}

fn with_store<R>(
    dir: &Path,
    fingerprint: &Fingerprint,
    f: impl FnOnce(&mut Store) -> Option<R>,
) -> Option<R> {
    if fingerprint.hash == 0 {
        return None;
    }
    static STORES: OnceLock<Mutex<HashMap<u128, Store>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let id = hash128(|h| {
        build_id().hash(h);
        fingerprint.hash.hash(h);
    });
    let store = stores
        .entry(id)
        .or_insert_with(|| Store::open(dir.join(format!("{id:032x}.analyses"))));
    f(store)
}

/// The directory of the store, when there is one: `<rustc --out-dir>/../.d1kit`.
fn store_dir() -> Option<&'static Path> {
    static DIR_: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR_.get_or_init(|| {
        if std::env::var_os("D1KIT_CACHE").is_some_and(|v| v == "off" || v == "0") {
            return None;
        }
        let out = out_dir(compiler_args())?;
        build_id()?;
        Some(out.parent()?.join(DIR))
    })
    .as_deref()
}

/// The compiler's arguments, with `@file` arguments read (cargo uses them for long lines);
/// read once per process.
fn compiler_args() -> &'static [OsString] {
    static ARGS: OnceLock<Vec<OsString>> = OnceLock::new();
    ARGS.get_or_init(|| {
        let mut args = Vec::new();
        for a in std::env::args_os().skip(1) {
            match a.to_str().and_then(|s| s.strip_prefix('@')) {
                Some(file) => match std::fs::read_to_string(file) {
                    Ok(text) => args.extend(text.lines().map(OsString::from)),
                    Err(_) => args.push(a),
                },
                None => args.push(a),
            }
        }
        args
    })
}

/// The value of `--name value` or `--name=value`, each occurrence.
fn values<'a>(args: &'a [OsString], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let eq = format!("{name}=");
    args.iter().enumerate().filter_map(move |(i, a)| {
        let a = a.to_str()?;
        if a == name {
            args.get(i + 1)?.to_str()
        } else {
            a.strip_prefix(eq.as_str())
        }
    })
}

/// rustc's `--out-dir`.
fn out_dir(args: &[OsString]) -> Option<PathBuf> {
    values(args, "--out-dir").next().map(PathBuf::from)
}

/// What identifies the build of d1kit that expands the macros: its version, SQLite's, and the
/// `d1kit` library rustc links the crate against (`--extern name=…/libd1kit-<hash>.rlib`).
/// Cargo rebuilds that library whenever the macros or anything they use changes, so its
/// path, size and modification time change with them. `None` when there is no such argument.
fn build_id() -> Option<u128> {
    static ID: OnceLock<Option<u128>> = OnceLock::new();
    *ID.get_or_init(|| {
        let (path, meta) = values(compiler_args(), "--extern").find_map(|v| {
            let path = Path::new(v.split_once('=')?.1);
            let name = path.file_name()?.to_str()?;
            if !name.starts_with("libd1kit-") {
                return None;
            }
            Some((path.to_path_buf(), std::fs::metadata(path).ok()?))
        })?;
        let modified = meta.modified().ok()?;
        Some(hash128(|h| {
            env!("CARGO_PKG_VERSION").hash(h);
            rusqlite::version().hash(h);
            path.hash(h);
            meta.len().hash(h);
            modified.hash(h);
        }))
    })
}

/// One store file: its lines by query key, each the encoded analysis.
struct Store {
    file: PathBuf,
    entries: HashMap<u64, String>,
}

fn query_key(sql: &str, options: QueryOptions) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    sql.hash(&mut h);
    options.hash(&mut h);
    h.finish()
}

fn checksum(payload: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    payload.hash(&mut h);
    h.finish()
}

impl Store {
    fn open(file: PathBuf) -> Store {
        let mut entries = HashMap::new();
        let meta = std::fs::metadata(&file);
        match meta {
            Ok(m) if m.len() <= MAX_FILE => {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    entries = parse_lines(&text);
                }
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&file);
            }
            Err(_) => {
                if let Some(dir) = file.parent() {
                    prune(dir);
                }
            }
        }
        Store { file, entries }
    }

    fn get(&self, sql: &str, options: QueryOptions) -> Option<Kept> {
        let payload = self.entries.get(&query_key(sql, options))?;
        let (text, kept, analysis) = decode(payload)?;
        (text == sql && kept == options).then_some(analysis)
    }

    fn put(&mut self, sql: &str, options: QueryOptions, analysis: &Kept) {
        let key = query_key(sql, options);
        let payload = encode(sql, options, analysis);
        if self.entries.get(&key) == Some(&payload) {
            return;
        }
        let line = format!("{key:016x}\t{:016x}\t{payload}\n", checksum(&payload));
        let written = self
            .file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.file)
            })
            // One write, so that concurrent compilers appending to the file do not interleave
            // inside a line (and a line that is torn anyway fails its checksum).
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if written.is_ok() {
            self.entries.insert(key, payload);
        }
    }
}

/// The lines of a store file whose checksum holds, by key (a later line wins).
fn parse_lines(text: &str) -> HashMap<u64, String> {
    let mut entries = HashMap::new();
    for line in text.split_inclusive('\n') {
        let Some(line) = line.strip_suffix('\n') else {
            continue; // torn: the write did not finish
        };
        let mut parts = line.splitn(3, '\t');
        let (Some(key), Some(sum), Some(payload)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(key), Ok(sum)) = (u64::from_str_radix(key, 16), u64::from_str_radix(sum, 16))
        else {
            continue;
        };
        if checksum(payload) == sum {
            entries.insert(key, payload.to_owned());
        }
    }
    entries
}

/// Removes the store files of `dir` that have not been written for [`UNUSED`].
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > UNUSED);
        if old && path.extension().is_some_and(|x| x == "analyses") {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A line's payload: the query, its options and what was kept of its analysis, as JSON (no raw
/// tab or newline, so a line stays one line).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    sql: Cow<'a, str>,
    /// [`QueryOptions::bits`].
    options: u8,
    #[serde(borrow)]
    d1_sql: Cow<'a, str>,
    kind: StatementKind,
    params: Cow<'a, [Param]>,
    columns: Cow<'a, [ResultColumn]>,
}

fn encode(sql: &str, options: QueryOptions, a: &Kept) -> String {
    let line = Line {
        sql: Cow::Borrowed(sql),
        options: options.bits(),
        d1_sql: Cow::Borrowed(&a.d1_sql),
        kind: a.sig.kind,
        params: Cow::Borrowed(&a.sig.params),
        columns: Cow::Borrowed(&a.sig.columns),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

fn decode(payload: &str) -> Option<(String, QueryOptions, Kept)> {
    let line: Line<'_> = serde_json::from_str(payload).ok()?;
    let options = QueryOptions::from_bits(line.options)?;
    let sig = Signature {
        kind: line.kind,
        params: line.params.into_owned(),
        columns: line.columns.into_owned(),
        warnings: Vec::new(),
    };
    let d1_sql = line.d1_sql.into_owned();
    Some((line.sql.into_owned(), options, Kept { sig, d1_sql }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::{Migration, MigrationSet};
    use crate::Analyzer;

    fn analysis(sql: &str) -> Kept {
        let set = MigrationSet::from_migrations(vec![Migration::new(
            "0001.sql",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, title TEXT, body BLOB);",
        )]);
        let mut sig = Analyzer::from_migrations(&set)
            .unwrap()
            .analyze(sql)
            .unwrap();
        sig.warnings.clear();
        Kept {
            sig,
            d1_sql: format!("{sql} -- for D1"),
        }
    }

    #[test]
    fn an_analysis_reads_back_as_written() {
        for sql in [
            "SELECT id, title AS \"t: my::Title\", body, owner FROM notes WHERE owner = :owner",
            "SELECT count(*) AS n,\n\t'a\\\\b' AS s FROM notes -- tab\tand\r\n",
            "INSERT INTO notes (owner, title) VALUES (?1, ?2)",
            "DELETE FROM notes",
            "SELECT NULL AS empty, 1.5 AS x, id = 1 AS yes FROM notes",
        ] {
            let a = analysis(sql);
            for bits in 0..4 {
                let options = QueryOptions::from_bits(bits).unwrap();
                let line = encode(sql, options, &a);
                assert!(!line.contains('\n'), "{line:?}");
                assert_eq!(
                    decode(&line),
                    Some((sql.to_owned(), options, a.clone())),
                    "{sql}"
                );
            }
        }
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let a = analysis("SELECT id FROM notes WHERE owner = ?");
        let line = encode(
            "SELECT id FROM notes WHERE owner = ?",
            QueryOptions::default(),
            &a,
        );
        for bad in [
            line.replacen("\"options\":0", "\"options\":4", 1),
            format!("{line}\textra"),
            line[..line.len() - 1].to_owned(),
            line.replace("Select", "Selekt"),
            format!("{},\"extra\":1}}", &line[..line.len() - 1]),
            "\\x".to_owned(),
        ] {
            assert_eq!(decode(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_store_keeps_analyses_across_processes_and_skips_torn_lines() {
        let dir = std::env::temp_dir().join(format!("d1kit-memo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("x.analyses");
        let (q1, q2) = ("SELECT id FROM notes", "SELECT title FROM notes");
        let (plain, cross) = (
            QueryOptions::default(),
            QueryOptions {
                cross_tenant: true,
                ..QueryOptions::default()
            },
        );
        let scans = QueryOptions {
            allow_full_scan: true,
            ..QueryOptions::default()
        };
        let mut store = Store::open(file.clone());
        assert_eq!(store.get(q1, plain), None);
        store.put(q1, plain, &analysis(q1));
        store.put(q2, cross, &analysis(q2));
        // A second process reads what the first wrote; options are part of the key.
        let again = Store::open(file.clone());
        assert_eq!(again.get(q1, plain), Some(analysis(q1)));
        assert_eq!(again.get(q1, cross), None);
        assert_eq!(again.get(q1, scans), None);
        assert_eq!(again.get(q2, cross), Some(analysis(q2)));
        // A torn last line and a line whose checksum fails are skipped, the rest still read.
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let damaged = lines[1].replace("title", "TITLE");
        std::fs::write(
            &file,
            format!("{}\n{damaged}\n{}", lines[0], &lines[1][..20]),
        )
        .unwrap();
        let damaged = Store::open(file.clone());
        assert_eq!(damaged.get(q1, plain), Some(analysis(q1)));
        assert_eq!(damaged.get(q2, cross), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_rustc_arguments() {
        let args: Vec<OsString> = [
            "--crate-name",
            "app",
            "--out-dir",
            "/t/debug/deps",
            "--extern",
            "d1=/t/debug/deps/libd1kit-0123.rlib",
            "--extern=serde=/x/libserde-1.rmeta",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        assert_eq!(out_dir(&args), Some(PathBuf::from("/t/debug/deps")));
        assert_eq!(
            values(&args, "--extern").collect::<Vec<_>>(),
            [
                "d1=/t/debug/deps/libd1kit-0123.rlib",
                "serde=/x/libserde-1.rmeta"
            ]
        );
        // A test binary is not rustc: no store.
        assert_eq!(store_dir(), None);
    }
}
