//! Fleets: the same migrations on every database of a pool, a tenant directory or a list of
//! ids, safely (docs/FLEET.md, "The fleet").
//!
//! [`run`] migrates (or, with [`Options::dry_run`], plans) every [`Target`] with bounded
//! concurrency: each database is opened in the worker thread that migrates it (so executors
//! need not be `Send`), transient failures are retried with exponential backoff and jitter, a
//! database that fails is reported and does not stop the others (unless
//! [`Options::fail_fast`]), and [`Options::canary`] databases go first, alone. Every
//! migration is one atomic batch that records itself in `d1_migrations`, so the state lives
//! in the databases: a run interrupted at any point, even by a crash, is resumed by running
//! again, and nothing is applied twice.
//!
//! [`drift`] compares a database's live schema with the schema its migrations build.

use crate::database::Migration;
use crate::executor::{Executor, Sql};
use crate::migrate::{self, MigrateReport};
use crate::{Error, Result, Value};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One database of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How reports name it (`USERS_3`, a tenant, an id...).
    pub label: String,
    /// Its database id: targets with one id are one database, migrated once.
    pub id: String,
}

impl Target {
    /// A target named `label` for database `id`.
    pub fn new(label: impl Into<String>, id: impl Into<String>) -> Target {
        Target {
            label: label.into(),
            id: id.into(),
        }
    }
}

/// Targets with the same id merged into one (labels joined with `, `), first-seen order kept:
/// one database bound twice is migrated once.
pub fn dedup(targets: Vec<Target>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::with_capacity(targets.len());
    let mut seen = std::collections::HashMap::new();
    for t in targets {
        match seen.get(&t.id) {
            Some(&i) => {
                let merged: &mut Target = &mut out[i];
                if !merged.label.split(", ").any(|l| l == t.label) {
                    merged.label.push_str(", ");
                    merged.label.push_str(&t.label);
                }
            }
            None => {
                seen.insert(t.id.clone(), out.len());
                out.push(t);
            }
        }
    }
    out
}

/// How a fleet run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Databases migrated at once (at least 1).
    pub concurrency: usize,
    /// Migrate this many databases first; if any of them fails, stop before the others.
    pub canary: usize,
    /// Stop starting databases after the first failure (those not started are skipped).
    pub fail_fast: bool,
    /// Read every database's state and report what would be applied; change nothing.
    pub dry_run: bool,
    /// Attempts in all for a database whose failure is transient ([`Error::is_transient`]).
    pub attempts: u32,
    /// The first retry's backoff; doubled each time, with jitter.
    pub base_delay: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            concurrency: 8,
            canary: 0,
            fail_fast: false,
            dry_run: false,
            attempts: 5,
            base_delay: Duration::from_millis(250),
        }
    }
}

/// What happened to one database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseReport {
    /// The target's label.
    pub label: String,
    /// The database id.
    pub id: String,
    /// Migrations it had applied before this run.
    pub before: usize,
    /// Migrations applied by this run, in order (also those applied before a failure).
    pub applied: Vec<&'static str>,
    /// Migrations still to apply after this run (with `dry_run`: what would be applied).
    pub pending: Vec<&'static str>,
    /// Migrations wrangler had applied alone, whose checksums this run recorded.
    pub adopted: Vec<&'static str>,
    /// Applied migrations this program does not have.
    pub unknown: Vec<String>,
    /// Pending migrations that sort before one already applied ([`crate::migrate::Plan`]).
    pub out_of_order: Vec<&'static str>,
    /// Applied migrations whose file changed since: `(name, recorded sha256, current)`.
    pub edited: Vec<(String, String, String)>,
    /// Tries it took (1 without retries; 0 when skipped).
    pub attempts: u32,
    /// Why it failed, if it did (after its retries).
    pub error: Option<String>,
    /// Not started: an earlier failure stopped the run (fail-fast or canary).
    pub skipped: bool,
    /// How long it took, retries included.
    pub elapsed: Duration,
}

impl DatabaseReport {
    /// Whether the database ended at the last migration with nothing wrong.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && !self.skipped && self.edited.is_empty()
    }

    /// Where the database stands after the run.
    pub fn status(&self) -> Status {
        if self.skipped {
            Status::Skipped
        } else if self.error.is_some() || !self.edited.is_empty() {
            Status::Failed
        } else if !self.pending.is_empty() {
            Status::Pending
        } else if !self.applied.is_empty() {
            Status::Applied
        } else {
            Status::UpToDate
        }
    }
}

/// Where a database stands after a fleet run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not started (fail-fast or canary).
    Skipped,
    /// An error, or an applied migration edited since.
    Failed,
    /// Migrations left to apply (a dry run).
    Pending,
    /// This run applied migrations.
    Applied,
    /// Nothing to apply.
    UpToDate,
}

impl Status {
    /// One word for tables and JSON: `skipped`, `failed`, `pending`, `applied`, `up to date`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Pending => "pending",
            Status::Applied => "applied",
            Status::UpToDate => "up to date",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a fleet run did, database by database, in the targets' order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One entry per (deduplicated) target.
    pub databases: Vec<DatabaseReport>,
    /// The whole run's time.
    pub elapsed: Duration,
}

impl Report {
    /// Databases that failed (skipped ones not counted).
    pub fn failed(&self) -> usize {
        self.databases
            .iter()
            .filter(|d| !d.skipped && !d.is_ok())
            .count()
    }

    /// Databases not started.
    pub fn skipped(&self) -> usize {
        self.databases.iter().filter(|d| d.skipped).count()
    }

    /// Migrations applied in all.
    pub fn applied(&self) -> usize {
        self.databases.iter().map(|d| d.applied.len()).sum()
    }
}

/// Migrates (or plans, with `dry_run`) every target: `open` gives a target's executor, in the
/// thread that uses it; `progress` hears about each database as it finishes (from worker
/// threads, in completion order). Targets are deduplicated by id first ([`dedup`]).
pub fn run<E, Open, Progress>(
    targets: Vec<Target>,
    migrations: &[Migration],
    options: &Options,
    open: Open,
    progress: Progress,
) -> Report
where
    E: Executor,
    Open: Fn(&Target) -> Result<E> + Sync,
    Progress: Fn(&DatabaseReport) + Sync,
{
    let start = Instant::now();
    let targets = dedup(targets);
    let mut slots: Vec<Option<DatabaseReport>> = targets.iter().map(|_| None).collect();
    let mut stop = false;
    let canary = options.canary.min(targets.len());
    let phases = [(0, canary), (canary, targets.len())];
    for (from, to) in phases {
        if from == to || stop {
            continue;
        }
        let is_canary = to == canary && canary > 0;
        let stops = |report: &DatabaseReport| !report.is_ok() && (options.fail_fast || is_canary);
        let reports = for_each_concurrent(
            &targets[from..to],
            options.concurrency,
            |target| {
                let report = crate::block_on(one(target, migrations, options, &open));
                if stops(&report) {
                    ControlFlow::Break(report)
                } else {
                    ControlFlow::Continue(report)
                }
            },
            &progress,
        );
        stop = reports.iter().flatten().any(stops);
        for (slot, report) in slots[from..to].iter_mut().zip(reports) {
            *slot = report;
        }
    }
    let databases = slots
        .into_iter()
        .zip(&targets)
        .map(|(slot, t)| {
            slot.unwrap_or_else(|| DatabaseReport {
                label: t.label.clone(),
                id: t.id.clone(),
                skipped: true,
                ..DatabaseReport::default()
            })
        })
        .collect();
    Report {
        databases,
        elapsed: start.elapsed(),
    }
}

/// Runs `work` on each item with at most `concurrency` scoped threads (at least one, and no
/// more than there are items), each thread taking the next item in the items' order until none
/// is left. A `work` that returns [`ControlFlow::Break`] stops the run: no item is started
/// after it (the items in hand finish). `done` hears each result, from the worker threads in
/// completion order, once its break (if any) has been raised. The results come back in the
/// items' order, `None` for an item never started.
///
/// What [`run`] and the `d1kit` command's fleet-wide commands share; not a stable API.
#[doc(hidden)]
pub fn for_each_concurrent<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    work: impl Fn(&T) -> ControlFlow<R, R> + Sync,
    done: impl Fn(&R) + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..concurrency.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { return };
                let result = match work(item) {
                    ControlFlow::Continue(result) => result,
                    ControlFlow::Break(result) => {
                        stop.store(true, Ordering::SeqCst);
                        result
                    }
                };
                done(&result);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// One database, with its retries.
async fn one<E: Executor, Open: Fn(&Target) -> Result<E>>(
    target: &Target,
    migrations: &[Migration],
    options: &Options,
    open: &Open,
) -> DatabaseReport {
    let start = Instant::now();
    let mut report = DatabaseReport {
        label: target.label.clone(),
        id: target.id.clone(),
        ..DatabaseReport::default()
    };
    let mut done = MigrateReport::default();
    let mut before: Option<Vec<String>> = None;
    loop {
        report.attempts += 1;
        let result = attempt(
            (target, migrations, options, open),
            &mut report,
            &mut done,
            &mut before,
        )
        .await;
        match result {
            Ok(()) => {
                report.error = None;
                break;
            }
            Err(e) if e.is_transient() && report.attempts < options.attempts.max(1) => {
                report.error = Some(e.to_string());
                std::thread::sleep(crate::backoff(
                    options.base_delay,
                    report.attempts,
                    Duration::from_secs(60),
                ));
            }
            Err(e) => {
                report.error = Some(e.to_string());
                break;
            }
        }
    }
    report.applied = done.applied;
    report.adopted = done.adopted;
    report.unknown = done.unknown;
    report.elapsed = start.elapsed();
    report
}

/// One try at one database. `before` is its applied list at the first read that succeeded:
/// what appeared since was applied by this run, even when the reply of the batch that did it
/// was lost and the retry only finds it done.
async fn attempt<E: Executor, Open: Fn(&Target) -> Result<E>>(
    (target, migrations, options, open): (&Target, &[Migration], &Options, &Open),
    report: &mut DatabaseReport,
    done: &mut MigrateReport,
    before: &mut Option<Vec<String>>,
) -> Result<()> {
    let db = open(target)?;
    let state = if options.dry_run {
        migrate::read_applied(&db).await?
    } else {
        migrate::applied(&db).await?
    };
    let plan = migrate::plan(&state, migrations);
    match before {
        None => {
            report.before = state.names.len();
            *before = Some(state.names.clone());
        }
        Some(before) => {
            for m in migrations {
                let now = state.names.iter().any(|n| n == m.name);
                let then = before.iter().any(|n| n == m.name);
                if now && !then && !done.applied.contains(&m.name) {
                    done.applied.push(m.name);
                }
            }
        }
    }
    report.edited = plan.edited.clone();
    report.pending = plan.pending.iter().map(|m| m.name).collect();
    report.out_of_order = plan.out_of_order.clone();
    if options.dry_run {
        done.unknown = plan.unknown;
        return Ok(());
    }
    if let Some((name, recorded, current)) = plan.edited.into_iter().next() {
        return Err(Error::MigrationEdited {
            name,
            recorded,
            current,
        });
    }
    let result = migrate::migrate_from(&db, migrations, &state, done).await;
    report.pending.retain(|name| !done.applied.contains(name));
    result
}

/// One schema object of a database: a table, index, view or trigger, with its columns for a
/// table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaObject {
    /// `table`, `index`, `view` or `trigger`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its `CREATE` statement, normalised (whitespace collapsed).
    pub sql: String,
    /// A table's columns, in order.
    pub columns: Vec<Column>,
}

/// One column of a table, as `pragma_table_info` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its declared type (`""` when it has none).
    pub declared_type: String,
    /// Declared `NOT NULL`.
    pub not_null: bool,
    /// Its default, as SQL text.
    pub default: Option<String>,
    /// Its position in the primary key (1-based), 0 when not part of it.
    pub primary_key: i64,
}

/// How a live schema differs from the expected one, object by object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The migrations build it; the database lacks it.
    Missing {
        /// `table`, `index`, `view`, `trigger`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// The database has it; the migrations do not build it.
    Extra {
        /// `table`, `index`, `view`, `trigger`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// A column of a table differs.
    Column {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What differs (`not in the migrations`, `missing`, `type TEXT, expected INTEGER`...).
        what: String,
    },
    /// The object exists on both sides with different definitions.
    Changed {
        /// `table`, `index`, `view`, `trigger`.
        kind: String,
        /// Its name.
        name: String,
        /// The definition the migrations build.
        expected: String,
        /// The definition the database has.
        live: String,
    },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing { kind, name } => {
                write!(f, "{kind} `{name}` is missing (the migrations create it)")
            }
            Drift::Extra { kind, name } => {
                write!(f, "{kind} `{name}` is not in the migrations")
            }
            Drift::Column {
                table,
                column,
                what,
            } => write!(f, "table `{table}`, column `{column}`: {what}"),
            Drift::Changed {
                kind,
                name,
                expected,
                live,
            } => write!(
                f,
                "{kind} `{name}` differs from the migrations\n    expected: {expected}\n    live:     {live}"
            ),
        }
    }
}

/// Objects that are bookkeeping, not schema: wrangler's and d1kit's tables, SQLite's own,
/// D1's internal `_cf_*` tables.
/// The schema of the database `db` runs on, bookkeeping tables left out, sorted by kind and
/// name. Two requests over REST, whatever the number of tables.
pub async fn schema<E: Executor + ?Sized>(db: &E) -> Result<Vec<SchemaObject>> {
    let (objects, columns) = db
        .batch((
            Sql::<(String, String, Option<String>)>::new(
                "SELECT type, name, sql FROM sqlite_schema ORDER BY type, name",
                Vec::<Value>::new(),
            ),
            Sql::<(String, String, String, bool, Option<String>, i64)>::new(
                "SELECT m.name, c.name, c.type, c.\"notnull\", c.dflt_value, c.pk \
                 FROM sqlite_schema AS m, pragma_table_info(m.name) AS c \
                 WHERE m.type = 'table' ORDER BY m.name, c.cid",
                Vec::<Value>::new(),
            ),
        ))
        .await?;
    let mut out: Vec<SchemaObject> = objects
        .rows
        .into_iter()
        .filter(|(_, name, _)| !crate::reshard::is_internal(name))
        .map(|(kind, name, sql)| SchemaObject {
            kind,
            name,
            sql: normalise(sql.as_deref().unwrap_or("")),
            columns: Vec::new(),
        })
        .collect();
    for (table, column, ty, notnull, default, pk) in columns.rows {
        if let Some(t) = out
            .iter_mut()
            .find(|o| o.kind == "table" && o.name == table)
        {
            t.columns.push(Column {
                name: column,
                declared_type: ty,
                not_null: notnull,
                default,
                primary_key: pk,
            });
        }
    }
    Ok(out)
}

/// `sql` with runs of whitespace made one space, outside quotes.
fn normalise(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut space = false;
    for c in sql.trim().chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => space = true,
            None => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                if matches!(c, '\'' | '"' | '`' | '[') {
                    quote = Some(if c == '[' { ']' } else { c });
                }
                out.push(c);
            }
        }
    }
    out
}

/// How `live` differs from `expected` ([`schema`] of a database migrated from scratch): per
/// object, and per column for tables that exist on both sides.
pub fn drift(expected: &[SchemaObject], live: &[SchemaObject]) -> Vec<Drift> {
    let mut out = Vec::new();
    for e in expected {
        match live.iter().find(|l| l.kind == e.kind && l.name == e.name) {
            None => out.push(Drift::Missing {
                kind: e.kind.clone(),
                name: e.name.clone(),
            }),
            Some(l) if e.kind == "table" => {
                let before = out.len();
                for c in &e.columns {
                    match l.columns.iter().find(|lc| lc.name == c.name) {
                        None => out.push(Drift::Column {
                            table: e.name.clone(),
                            column: c.name.clone(),
                            what: "missing (the migrations create it)".to_owned(),
                        }),
                        Some(lc) if lc != c => out.push(Drift::Column {
                            table: e.name.clone(),
                            column: c.name.clone(),
                            what: format!(
                                "is {}, the migrations make it {}",
                                column_text(lc),
                                column_text(c)
                            ),
                        }),
                        Some(_) => {}
                    }
                }
                for lc in &l.columns {
                    if !e.columns.iter().any(|c| c.name == lc.name) {
                        out.push(Drift::Column {
                            table: e.name.clone(),
                            column: lc.name.clone(),
                            what: format!("{} is not in the migrations", column_text(lc)),
                        });
                    }
                }
                // Same columns, other constraints (CHECK, UNIQUE, STRICT...): the statement.
                if out.len() == before && e.sql != l.sql {
                    out.push(changed(e, l));
                }
            }
            Some(l) if e.sql != l.sql => out.push(changed(e, l)),
            Some(_) => {}
        }
    }
    for l in live {
        if !expected
            .iter()
            .any(|e| e.kind == l.kind && e.name == l.name)
        {
            out.push(Drift::Extra {
                kind: l.kind.clone(),
                name: l.name.clone(),
            });
        }
    }
    out
}

fn changed(e: &SchemaObject, l: &SchemaObject) -> Drift {
    Drift::Changed {
        kind: e.kind.clone(),
        name: e.name.clone(),
        expected: e.sql.clone(),
        live: l.sql.clone(),
    }
}

fn column_text(c: &Column) -> String {
    let mut text = if c.declared_type.is_empty() {
        "untyped".to_owned()
    } else {
        c.declared_type.clone()
    };
    if c.not_null {
        text.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        text.push_str(" DEFAULT ");
        text.push_str(d);
    }
    if c.primary_key > 0 {
        text.push_str(" PRIMARY KEY");
    }
    text
}

#[cfg(all(test, feature = "local"))]
mod tests {
    use super::*;
    use crate::local::Database as Local;

    const M: &[Migration] = &[
        Migration {
            name: "0001_a.sql",
            sql: "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT NOT NULL);",
            statements: &["CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT NOT NULL)"],
            checksum: "1",
        },
        Migration {
            name: "0002_b.sql",
            sql: "CREATE INDEX a_x ON a (x);",
            statements: &["CREATE INDEX a_x ON a (x)"],
            checksum: "2",
        },
    ];

    #[test]
    fn dedup_merges_one_database_bound_twice() {
        let t = dedup(vec![
            Target::new("USERS_0", "id-0"),
            Target::new("USERS_1", "id-1"),
            Target::new("USERS_0 (staging)", "id-0"),
        ]);
        assert_eq!(
            t,
            vec![
                Target::new("USERS_0, USERS_0 (staging)", "id-0"),
                Target::new("USERS_1", "id-1"),
            ]
        );
    }

    #[test]
    fn drift_names_the_object_and_the_column() {
        let expected = Local::open_in_memory().unwrap();
        expected.migrate(M).unwrap();
        let live = Local::open_in_memory().unwrap();
        live.migrate(M).unwrap();
        let e = crate::block_on(schema(&expected)).unwrap();
        assert!(drift(&e, &crate::block_on(schema(&live)).unwrap()).is_empty());
        live.connection()
            .execute_batch(
                "ALTER TABLE a ADD COLUMN extra TEXT; DROP INDEX a_x; CREATE TABLE scratch (y);",
            )
            .unwrap();
        let found = drift(&e, &crate::block_on(schema(&live)).unwrap());
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "index `a_x` is missing (the migrations create it)",
                "table `a`, column `extra`: TEXT is not in the migrations",
                "table `scratch` is not in the migrations",
            ]
        );
    }

    #[test]
    fn a_dry_run_plans_and_a_run_applies_then_finds_nothing_to_do() {
        let dir = std::env::temp_dir().join(format!("d1kit-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<Target> = (0..6)
            .map(|n| Target::new(format!("db{n}"), format!("{n}")))
            .collect();
        let open = |t: &Target| Local::open(dir.join(format!("{}.sqlite", t.id)));
        let plan = run(
            targets.clone(),
            M,
            &Options {
                dry_run: true,
                ..Options::default()
            },
            open,
            |_| {},
        );
        assert!(plan
            .databases
            .iter()
            .all(|d| d.pending == ["0001_a.sql", "0002_b.sql"]));
        assert_eq!(plan.applied(), 0);
        // The dry run created no table in any database.
        let db = Local::open(dir.join("0.sqlite")).unwrap();
        let n: i64 = db
            .connection()
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let done = run(targets.clone(), M, &Options::default(), open, |_| {});
        assert_eq!(done.applied(), 12);
        assert!(done.databases.iter().all(|d| d.status() == Status::Applied));
        let again = run(targets, M, &Options::default(), open, |_| {});
        assert!(again
            .databases
            .iter()
            .all(|d| d.status() == Status::UpToDate && d.before == 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
