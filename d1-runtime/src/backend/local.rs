//! The local backend: an embedded SQLite (rusqlite, bundled) that behaves like
//! `wrangler dev --local`: foreign keys on, wrangler's `d1_migrations` table, `batch` atomic.

use crate::database::{Database as DatabaseDef, Migration};
use crate::executor::{Batch, Executor, Query, RawResults, Results, RunResult, Statement};
use crate::row::{FromRow, Row, RowSource};
use crate::{Error, Result, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, StatementStatus};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One local database: a SQLite file, or in memory.
///
/// ```
/// use d1_runtime::{local, Executor, Sql};
/// let db = local::Database::open_in_memory()?;
/// local::block_on(db.run(Sql::<()>::new("CREATE TABLE t (x INTEGER)", vec![])))?;
/// let res = local::block_on(db.run(Sql::<()>::new("INSERT INTO t VALUES (?1)", vec![7.into()])))?;
/// assert_eq!(res.changes, 1);
/// # Ok::<(), d1_runtime::Error>(())
/// ```
pub struct Database {
    cell: Cell,
    path: Option<PathBuf>,
}

/// Prepared statements of `'static` SQL (what the macros emit), keyed by the string's address:
/// a lookup costs a pointer hash, where rusqlite's own cache hashes the SQL text twice per call.
type StatementCache<'c> = RefCell<HashMap<(usize, usize), rusqlite::Statement<'c>, AddressHash>>;

/// Hashes a string's (address, length): already unique, so one multiply spreads it.
#[derive(Default, Clone, Copy)]
struct AddressHash;

impl std::hash::BuildHasher for AddressHash {
    type Hasher = AddressHasher;
    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

self_cell::self_cell!(
    struct Cell {
        owner: Connection,
        #[not_covariant]
        dependent: StatementCache,
    }
);

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub use crate::migrate::MigrateReport;

fn sqlite(sql: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::query(explained(&e), sql)
}

/// SQLite's message, with what "unable to open database file" most often means when many
/// databases are open at once (SQLite opens a journal lazily, so a statement can fail so
/// too). [`Error::is_transient`] treats it as transient: a fleet run tries again.
fn explained(e: &rusqlite::Error) -> String {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen) {
        format!("{e} (with many databases open at once the process may be out of file descriptors: lower --concurrency, or raise `ulimit -n`)")
    } else {
        e.to_string()
    }
}

/// A connection's own error (opening, a transaction's begin or commit).
fn backend(e: rusqlite::Error) -> Error {
    Error::Backend(explained(&e))
}

/// Why `path` could not be opened.
fn opening(path: &Path, e: rusqlite::Error) -> Error {
    Error::Backend(format!("{}: {}", path.display(), explained(&e)))
}

impl Database {
    /// Opens (creating it and its directory if needed) the SQLite file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| opening(path, e))?;
        Database::setup(conn, Some(path.to_owned()))
    }

    /// A fresh database in memory.
    pub fn open_in_memory() -> Result<Database> {
        let conn = Connection::open_in_memory().map_err(backend)?;
        Database::setup(conn, None)
    }

    /// The database of `tenant` for the configured database `D`, one SQLite file per tenant
    /// under `data_dir/D::NAME/`: created on first use and migrated to `D`'s migrations.
    pub fn open_tenant<D: DatabaseDef>(
        data_dir: impl AsRef<Path>,
        tenant: &str,
    ) -> Result<Database> {
        let path = data_dir
            .as_ref()
            .join(D::NAME)
            .join(format!("{}.sqlite", file_stem(tenant)));
        let db = Database::open(path)?;
        db.migrate(D::MIGRATIONS)?;
        Ok(db)
    }

    fn setup(conn: Connection, path: Option<PathBuf>) -> Result<Database> {
        // As in D1: foreign keys are enforced.
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(Database {
            cell: Cell::new(conn, |_| RefCell::new(HashMap::default())),
            path,
        })
    }

    /// The file, for a database that is not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The underlying rusqlite connection, for what d1kit does not cover.
    pub fn connection(&self) -> &Connection {
        self.cell.borrow_owner()
    }

    /// Applies the migrations this database has not applied yet, exactly as
    /// `wrangler d1 migrations apply` does: in order, each file in one transaction recorded in
    /// `d1_migrations`, stopping at the first failure. It also records each file's SHA-256 in
    /// `d1kit_migrations`, so an applied migration that was later edited is an error. (This is
    /// [`crate::migrate::migrate`], which every backend shares, run to completion here.)
    pub fn migrate(&self, migrations: &[Migration]) -> Result<MigrateReport> {
        crate::block_on(crate::migrate::migrate(self, migrations))
    }

    /// [`migrate`](Self::migrate) with the migrations embedded by `#[derive(Database)]`.
    pub fn migrate_to<D: DatabaseDef>(&self) -> Result<MigrateReport> {
        self.migrate(D::MIGRATIONS)
    }

    /// Runs one statement, handing each row to `each`; returns what it did.
    fn execute(
        &self,
        (text, params): (&Cow<'static, str>, &[Value]),
        measure: bool,
        each: impl FnMut(&mut dyn RowSource) -> Result<bool>,
    ) -> Result<RunResult> {
        let sql = &**text;
        self.cell.with_dependent(|conn, cache| {
            // Owned SQL, or the cache busy (a query run while rows are being read): use
            // rusqlite's cache, keyed by the text.
            let cached = match text {
                Cow::Borrowed(text) => cache.try_borrow_mut().ok().map(|c| (text, c)),
                Cow::Owned(_) => None,
            };
            let Some((text, mut cache)) = cached else {
                let mut stmt = conn.prepare_cached(sql).map_err(sqlite(sql))?;
                return run_statement(conn, &mut stmt, (sql, params), measure, each);
            };
            let key = (text.as_ptr() as usize, text.len());
            if let Some(stmt) = cache.get_mut(&key) {
                return run_statement(conn, stmt, (sql, params), measure, each);
            }
            let stmt = cache
                .entry(key)
                .or_insert(conn.prepare(sql).map_err(sqlite(sql))?);
            run_statement(conn, stmt, (sql, params), measure, each)
        })
    }

    fn collect<R: FromRow>(&self, statement: (&Cow<'static, str>, &[Value])) -> Result<Vec<R>> {
        let mut out = Vec::new();
        self.execute(statement, false, |source| {
            out.push(R::from_row(&mut Row::new(source))?);
            Ok(true)
        })?;
        Ok(out)
    }

    fn raw(&self, statement: &Statement) -> Result<RawResults> {
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        let meta = self.execute((&statement.sql, &statement.params), true, |source| {
            if columns.is_none() {
                columns = Some(
                    (0..source.len())
                        .map(|i| source.name(i).unwrap_or("").to_owned())
                        .collect(),
                );
            }
            rows.push(
                (0..source.len())
                    .map(|i| source.take(i).unwrap_or(Value::Null))
                    .collect(),
            );
            Ok(true)
        })?;
        Ok(RawResults {
            columns: columns.unwrap_or_default(),
            rows,
            meta,
        })
    }
}

impl Executor for Database {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        q.with_statement(|sql, params| self.collect((sql, params)))
    }

    async fn all_meta<Q: Query>(&self, q: Q) -> Result<Results<Q::Row>> {
        let mut rows = Vec::new();
        let meta = q.with_statement(|sql, params| {
            self.execute((sql, params), true, |source| {
                rows.push(Q::Row::from_row(&mut Row::new(source))?);
                Ok(true)
            })
        })?;
        Ok(Results { rows, meta })
    }

    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        let mut first = None;
        q.with_statement(|sql, params| {
            self.execute((sql, params), false, |source| {
                first = Some(Q::Row::from_row(&mut Row::new(source))?);
                Ok(false)
            })
        })?;
        Ok(first)
    }

    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        q.with_statement(|sql, params| self.execute((sql, params), true, |_| Ok(true)))
    }

    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        let statements = b.into_statements();
        // IMMEDIATE: the write lock is taken at the start, where the busy timeout waits for
        // it. A deferred transaction that reads, then writes, while another connection writes
        // fails at once with "database is locked" (SQLite cannot wait without risking a
        // deadlock).
        let tx = rusqlite::Transaction::new_unchecked(
            self.connection(),
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(backend)?;
        let mut results = Vec::with_capacity(statements.len());
        for (i, statement) in statements.iter().enumerate() {
            // On error `tx` is dropped, which rolls every earlier statement back.
            let raw = self
                .raw(statement)
                .map_err(|e| e.in_batch(i, statements.len()))?;
            // A statement that ended the transaction (COMMIT, END, ROLLBACK) would leave the
            // rest of the batch outside it: D1 refuses those, and so does this backend.
            if self.connection().is_autocommit() {
                return Err(Error::query(
                    format!(
                        "batch statement {} of {} ended the batch's transaction: a batch is one transaction, its statements cannot commit or roll it back",
                        i + 1,
                        statements.len()
                    ),
                    &statement.sql,
                ));
            }
            results.push(raw);
        }
        tx.commit().map_err(backend)?;
        B::decode(results)
    }
}

/// Binds, steps and measures one prepared statement.
fn run_statement(
    conn: &Connection,
    stmt: &mut rusqlite::Statement<'_>,
    (sql, params): (&str, &[Value]),
    measure: bool,
    mut each: impl FnMut(&mut dyn RowSource) -> Result<bool>,
) -> Result<RunResult> {
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(Error::Bind {
            index: params.len().min(expected) + 1,
            message: format!(
                "the statement takes {expected} parameters, {} were given",
                params.len()
            ),
        });
    }
    for (i, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, value).map_err(sqlite(sql))?;
    }
    // `all` and `first` do not report what they did: skip measuring it.
    let (readonly, before, started) = if measure {
        stmt.reset_status(StatementStatus::FullscanStep);
        (
            stmt.readonly(),
            conn.total_changes(),
            Some(std::time::Instant::now()),
        )
    } else {
        (true, 0, None)
    };
    let mut returned = 0u64;
    {
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(sqlite(sql))? {
            returned += 1;
            let mut source = LocalRow { row };
            if !each(&mut source)? {
                break;
            }
        }
    }
    let scanned = if measure {
        stmt.get_status(StatementStatus::FullscanStep).max(0) as u64
    } else {
        0
    };
    // D1 reports sqlite3_changes(): rows of this statement only, not those its triggers
    // wrote. It is stale after a statement that changed nothing, hence the total check.
    let changes = if readonly || conn.total_changes() == before {
        0
    } else {
        conn.changes()
    };
    Ok(RunResult {
        changes,
        last_row_id: if changes > 0 {
            conn.last_insert_rowid()
        } else {
            0
        },
        rows_read: returned + scanned,
        rows_written: changes,
        duration: started.map(|t| t.elapsed()),
    })
}

struct LocalRow<'a> {
    row: &'a rusqlite::Row<'a>,
}

impl RowSource for LocalRow<'_> {
    fn len(&self) -> usize {
        self.row.as_ref().column_count()
    }
    fn name(&self, index: usize) -> Option<&str> {
        self.row.as_ref().column_name(index).ok()
    }
    fn take(&mut self, index: usize) -> Option<Value> {
        let value = self.row.get_ref(index).ok()?;
        Some(match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            // Valid UTF-8 (the rule) takes the fast check; only invalid bytes pay for the
            // replacement characters.
            ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(t).into_owned(),
            }),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

pub use crate::state_file::wrangler_state_file;

/// A tenant key as a file name: kept when it is plain (`[A-Za-z0-9_-]`, up to 64 bytes), else
/// hex-encoded, so no key can reach outside the data directory.
fn file_stem(tenant: &str) -> String {
    let plain = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        tenant.to_owned()
    } else {
        let hex: String = tenant.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x-{hex}")
    }
}

pub use crate::block_on;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Sql;

    const M1: Migration = Migration {
        name: "0001_init.sql",
        sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT NOT NULL);",
        statements: &["CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT NOT NULL)"],
        checksum: "aaa",
    };
    const M2_BROKEN: Migration = Migration {
        name: "0002_bad.sql",
        sql: "INSERT INTO t (x) VALUES ('kept?'); CREATE TABLE t (y);",
        statements: &["INSERT INTO t (x) VALUES ('kept?')", "CREATE TABLE t (y)"],
        checksum: "bbb",
    };

    fn q<R>(sql: &'static str, params: Vec<Value>) -> Sql<R> {
        Sql::new(sql, params)
    }

    #[test]
    fn migrate_is_wrangler_compatible_and_stops_at_the_first_failure() {
        let db = Database::open_in_memory().unwrap();
        let err = db.migrate(&[M1, M2_BROKEN]).unwrap_err().to_string();
        assert!(
            err.contains("0002_bad.sql") && err.contains("already exists"),
            "{err}"
        );
        // 0001 applied, 0002 entirely rolled back (its INSERT too).
        let names: Vec<String> =
            block_on(db.all(q::<(String,)>("SELECT name FROM d1_migrations", vec![])))
                .unwrap()
                .into_iter()
                .map(|(n,)| n)
                .collect();
        assert_eq!(names, vec!["0001_init.sql"]);
        let count: i64 = db
            .connection()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
        // Running again applies nothing new and finds nothing wrong.
        let report = db.migrate(&[M1]).unwrap();
        assert_eq!(report, MigrateReport::default());
    }

    #[test]
    fn an_edited_applied_migration_is_an_error_and_wrangler_rows_are_adopted() {
        let db = Database::open_in_memory().unwrap();
        db.migrate(&[M1]).unwrap();
        let edited = Migration {
            checksum: "ccc",
            ..M1
        };
        let err = db.migrate(&[edited]).unwrap_err();
        assert!(
            matches!(err, Error::MigrationEdited { ref recorded, .. } if recorded == "aaa"),
            "{err}"
        );
        // A migration applied by wrangler alone has no checksum: adopted as it is now.
        db.connection()
            .execute("DELETE FROM d1kit_migrations", [])
            .unwrap();
        let report = db.migrate(&[edited]).unwrap();
        assert_eq!(report.adopted, vec!["0001_init.sql"]);
    }

    #[test]
    fn batch_is_all_or_nothing() {
        let db = Database::open_in_memory().unwrap();
        db.migrate(&[M1]).unwrap();
        let ok = block_on(db.batch((
            q::<()>("INSERT INTO t (x) VALUES (?1)", vec!["a".into()]),
            q::<(i64,)>("SELECT count(*) FROM t", vec![]),
        )));
        assert!(ok.is_ok());
        let failing = block_on(db.batch((
            q::<()>("INSERT INTO t (x) VALUES (?1)", vec!["b".into()]),
            q::<()>("INSERT INTO t (x) VALUES (?1)", vec![Value::Null]),
        )));
        let err = failing.unwrap_err().to_string();
        assert!(
            err.contains("batch statement 2 of 2") && err.contains("NOT NULL"),
            "{err}"
        );
        let count: i64 = db
            .connection()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            count, 1,
            "the first insert of the failed batch was rolled back"
        );
    }

    #[test]
    fn a_batch_statement_that_ends_the_transaction_is_an_error() {
        let db = Database::open_in_memory().unwrap();
        db.migrate(&[M1]).unwrap();
        for end in ["COMMIT", "END", "ROLLBACK"] {
            let err = block_on(db.batch((
                q::<()>("INSERT INTO t (x) VALUES ('a')", vec![]),
                q::<()>(end, vec![]),
                q::<()>("INSERT INTO t (x) VALUES ('b')", vec![]),
            )))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("batch statement 2 of 3 ended the batch's transaction"),
                "{end}: {err}"
            );
            let later: i64 = db
                .connection()
                .query_row("SELECT count(*) FROM t WHERE x = 'b'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(later, 0, "{end}: nothing after it ran");
        }
    }

    #[test]
    fn run_reports_changes_and_rowid_and_reads_report_none() {
        let db = Database::open_in_memory().unwrap();
        db.migrate(&[M1]).unwrap();
        let res =
            block_on(db.run(q::<()>("INSERT INTO t (x) VALUES ('a'), ('b')", vec![]))).unwrap();
        assert_eq!((res.changes, res.last_row_id, res.rows_written), (2, 2, 2));
        let res = block_on(db.run(q::<()>("SELECT * FROM t", vec![]))).unwrap();
        assert_eq!((res.changes, res.last_row_id), (0, 0));
        assert!(res.rows_read >= 2);
        let err = block_on(db.run(q::<()>("SELECT ?1", vec![]))).unwrap_err();
        assert!(
            err.to_string().contains("takes 1 parameters, 0 were given"),
            "{err}"
        );
    }

    #[test]
    fn wrangler_state_files_match_wranglers_names() {
        // Test vectors read off wrangler 4.86 (docs/D1.md, Local state files).
        let dir = Path::new("/state");
        assert_eq!(
            wrangler_state_file(dir, "00000000-0000-0000-0000-000000000002"),
            dir.join("v3/d1/miniflare-D1DatabaseObject/3dd27f64a8e6b7092b4dc42ea2a5f93d01d65d27a0f4927b2e4bc344a6a2f6f6.sqlite")
        );
    }

    #[test]
    fn tenant_keys_become_safe_file_names() {
        assert_eq!(file_stem("alice-1"), "alice-1");
        assert_eq!(file_stem("../etc"), "x-2e2e2f657463");
        assert_eq!(file_stem(""), "x-");
    }
}
