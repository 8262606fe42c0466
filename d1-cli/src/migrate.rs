//! `d1kit migrate (--local | --remote) [--dry-run]`: the migrations every database of the fleet
//! has not applied yet, through `d1_runtime::fleet` (bounded concurrency, retries, canary,
//! fail-fast, checksums), then a table of every database and a summary; and `d1kit status`,
//! the same run read-only, presented as where each database stands.

use crate::fleet::{self as cli_fleet, first_line, short_id, table, Backend, Fleet};
use crate::report::{count, escape};
use crate::restore;
use crate::{Format, MigrateArgs, StatusArgs};
use d1_runtime::fleet::{self, DatabaseReport, Options, Status};
use d1_runtime::{block_on, reshard};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every database's report, with the configured database it belongs to.
struct Outcome<'a> {
    /// `(configured database, report)`, in the fleet's order.
    databases: Vec<(&'a str, DatabaseReport)>,
    /// The whole run's time.
    elapsed: Duration,
}

impl Outcome<'_> {
    /// Databases with a status (`applied`, `up to date`, ...).
    fn with_status(&self, status: Status) -> usize {
        self.databases
            .iter()
            .filter(|(_, d)| d.status() == status)
            .count()
    }

    /// Every database for programs: `{"database", "label", "id"}` and the fields `fields`
    /// gives.
    fn databases_json(&self, fields: impl Fn(&str, &DatabaseReport) -> Value) -> Vec<Value> {
        self.databases
            .iter()
            .map(|(database, d)| {
                let mut o = json!({ "database": database, "label": d.label, "id": d.id });
                if let (Some(o), Value::Object(fields)) = (o.as_object_mut(), fields(database, d)) {
                    o.extend(fields);
                }
                o
            })
            .collect()
    }

    /// Databases per second over those that ran.
    fn rate(&self) -> f64 {
        let ran = self.databases.iter().filter(|(_, d)| !d.skipped).count();
        ran as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `d1kit migrate`.
pub fn run(args: MigrateArgs) -> ExitCode {
    cli_fleet::command(&args.fleet, "migrate", |fleet| {
        let options = Options {
            concurrency: fleet.concurrency,
            canary: args.canary,
            fail_fast: args.fail_fast,
            dry_run: args.dry_run,
            ..Options::default()
        };
        let dry_run = args.dry_run;
        // Remote: each database's Time Travel bookmark, just before it is migrated.
        let bookmarks = match (&fleet.backend, dry_run) {
            (Backend::Remote(_), false) => Some(restore::Log::new(args.bookmarks.as_deref())?),
            _ => None,
        };
        let outcome = apply(
            fleet,
            &options,
            if dry_run { "planning" } else { "migrating" },
            bookmarks.as_ref(),
        );
        match fleet.format {
            Format::Json => println!(
                "{}",
                migrate_json(fleet, &outcome, dry_run, bookmarks.as_ref())
            ),
            Format::Text => {
                print!("{}", migrate_text(&outcome, dry_run));
                if let Some(log) = &bookmarks {
                    print!(
                        "{}",
                        bookmarks_text(&outcome, log, args.bookmarks.as_deref())
                    );
                }
            }
        }
        if !dry_run {
            set_up_directories(fleet)?;
        }
        Ok(outcome
            .databases
            .iter()
            .any(|(_, d)| !d.is_ok() || (dry_run && !d.pending.is_empty())))
    })
}

/// For each pool with a directory among the migrated databases: the directory's d1kit tables,
/// and the routing size recorded unless one is (the app's routers need it before their
/// first request). A recorded size that differs from the configuration is kept: the
/// tenants are still where it routes them, until `d1kit reshard` moves them.
fn set_up_directories(fleet: &Fleet) -> Result<(), d1_codegen::Diagnostics> {
    for group in &fleet.groups {
        let Some((name, shards)) = &group.directory else {
            continue;
        };
        let fail = |why: String| {
            d1_codegen::Diagnostics(vec![d1_codegen::Diagnostic::error(format!(
                "the directory `{name}` of `{}`: {why}",
                group.database
            ))])
        };
        let Some(target) = fleet
            .groups
            .iter()
            .find(|g| &g.database == name)
            .and_then(|g| g.targets.first())
        else {
            eprintln!(
                "warning: the directory `{}` of `{}` was not migrated in this run: its d1kit tables are set up when it is (`d1kit migrate` without --database)",
                escape(name),
                escape(&group.database)
            );
            continue;
        };
        let db = fleet.open(target, true).map_err(|e| fail(e.to_string()))?;
        let routing = block_on(d1_runtime::route::router::set_up(&db, *shards))
            .map_err(|e| fail(e.to_string()))?;
        if routing != *shards && fleet.format == Format::Text {
            eprintln!(
                "note: `{}` is configured with {}, but its tenants are still routed over {routing}: run `d1kit reshard --database {}` to move them (online, through `{}`)",
                escape(&group.database),
                count(*shards as usize, "shard"),
                escape(&group.database),
                escape(name)
            );
        }
    }
    Ok(())
}

/// Runs the fleet, one configured database after the other, under one progress bar. After a
/// failure with `--fail-fast` or `--canary`, the databases of the groups left are skipped.
fn apply<'a>(
    fleet: &'a Fleet,
    options: &Options,
    verb: &str,
    bookmarks: Option<&restore::Log>,
) -> Outcome<'a> {
    let start = Instant::now();
    let bar = fleet.progress(verb);
    let failures = AtomicUsize::new(0);
    let mut databases = Vec::new();
    let mut stopped = false;
    for group in &fleet.groups {
        let reports = if stopped {
            group
                .targets
                .iter()
                .map(|t| DatabaseReport {
                    label: t.label.clone(),
                    id: t.id.clone(),
                    skipped: true,
                    ..DatabaseReport::default()
                })
                .collect()
        } else {
            let report = fleet::run(
                group.targets.clone(),
                group.migrations,
                options,
                |t| {
                    let db = fleet.open(t, !options.dry_run)?;
                    if let (Some(log), Backend::Remote(client)) = (bookmarks, &fleet.backend) {
                        take_bookmark(log, client, &group.database, t)?;
                    }
                    Ok(db)
                },
                |d| {
                    bar.inc(1);
                    if !d.is_ok() {
                        let n = failures.fetch_add(1, Ordering::SeqCst) + 1;
                        bar.set_message(format!("({n} failed)"));
                    }
                },
            );
            stopped = report.failed() > 0 && (options.fail_fast || options.canary > 0);
            report.databases
        };
        databases.extend(reports.into_iter().map(|d| (group.database.as_str(), d)));
    }
    bar.finish_and_clear();
    Outcome {
        databases,
        elapsed: start.elapsed(),
    }
}

/// Records `target`'s Time Travel bookmark in `log` unless it has one (a retry, or a rerun
/// with the same file, keeps the first: the state before anything was applied).
fn take_bookmark(
    log: &restore::Log,
    client: &d1_runtime::rest::Client,
    database: &str,
    target: &d1_runtime::fleet::Target,
) -> d1_runtime::Result<()> {
    if log.get(&target.id).is_some() {
        return Ok(());
    }
    let bookmark = block_on(client.bookmark(&target.id, None))
        .map_err(|e| e.context("taking its Time Travel bookmark before migrating it"))?;
    log.add(restore::Entry {
        database: database.to_owned(),
        label: target.label.clone(),
        id: target.id.clone(),
        bookmark,
        taken_at: restore::now(),
    })
}

/// The bookmarks taken before migrating, for people: those of the databases that changed,
/// and where the file is.
fn bookmarks_text(outcome: &Outcome, log: &restore::Log, file: Option<&std::path::Path>) -> String {
    let mut out = String::new();
    let changed: Vec<_> = outcome
        .databases
        .iter()
        .filter(|(_, d)| !d.applied.is_empty())
        .filter_map(|(_, d)| log.get(&d.id))
        .collect();
    if !changed.is_empty() {
        out.push_str("Time Travel bookmarks from before the migrations (d1kit restore puts a database back):\n");
        for e in &changed {
            out.push_str(&format!(
                "  {}  {}  {}\n",
                escape(&e.label),
                short_id(&e.id),
                e.bookmark
            ));
        }
    }
    if let Some(file) = file {
        out.push_str(&format!(
            "bookmarks written to {}: `d1kit restore --remote --bookmarks {}` restores them\n",
            file.display(),
            file.display()
        ));
    }
    out
}

/// Seconds for people.
fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Milliseconds for programs, to the microsecond.
fn milliseconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// What goes wrong with a database, in full: its error, else (dry run) its edited migrations.
fn problems(d: &DatabaseReport) -> Vec<String> {
    if let Some(e) = &d.error {
        return vec![e.clone()];
    }
    d.edited
        .iter()
        .map(|(name, recorded, current)| {
            format!(
                "migration `{name}` was edited after it was applied (recorded sha256 {recorded}, file now {current})"
            )
        })
        .collect()
}

/// The per-database table, the problems in full, and the summary line.
fn migrate_text(outcome: &Outcome, dry_run: bool) -> String {
    let rows: Vec<Vec<String>> = outcome
        .databases
        .iter()
        .map(|(_, d)| {
            let (after, now) = if dry_run {
                (d.before + d.pending.len(), d.pending.len())
            } else {
                (d.before + d.applied.len(), d.applied.len())
            };
            let error = match &d.error {
                _ if !d.edited.is_empty() => format!("edited: {}", edited_names(d)),
                Some(e) => first_line(e, 72),
                None => String::new(),
            };
            if d.skipped {
                return vec![
                    d.label.clone(),
                    short_id(&d.id),
                    String::new(),
                    String::new(),
                    d.status().to_string(),
                    "0".to_string(),
                    String::new(),
                ];
            }
            vec![
                d.label.clone(),
                short_id(&d.id),
                format!("{} → {after}", d.before),
                now.to_string(),
                d.status().to_string(),
                d.attempts.to_string(),
                error,
            ]
        })
        .collect();
    let headers = [
        "DATABASE",
        "ID",
        "VERSION",
        if dry_run { "PENDING" } else { "APPLIED" },
        "STATUS",
        "ATTEMPTS",
        "ERROR",
    ];
    let mut out = table(&headers, &rows);
    for (_, d) in &outcome.databases {
        for p in problems(d) {
            out.push_str(&format!("{}: {}\n", escape(&d.label), escape(&p)));
        }
        if !d.unknown.is_empty() {
            out.push_str(&format!(
                "{}: has applied {} that the migrations directory lacks (left alone): {}\n",
                escape(&d.label),
                count(d.unknown.len(), "migration"),
                names(&d.unknown)
            ));
        }
        if !d.out_of_order.is_empty() {
            out.push_str(&format!(
                "warning: {}: {}\n",
                escape(&d.label),
                out_of_order(d, dry_run)
            ));
        }
    }
    let adopted: usize = outcome.databases.iter().map(|(_, d)| d.adopted.len()).sum();
    out.push_str(&format!(
        "{} {}, {} up to date, {} failed, {} skipped in {} ({:.1} databases/s){}\n",
        if dry_run {
            outcome.with_status(Status::Pending)
        } else {
            outcome.with_status(Status::Applied)
        },
        if dry_run { "pending" } else { "migrated" },
        outcome.with_status(Status::UpToDate),
        outcome.with_status(Status::Failed),
        outcome.with_status(Status::Skipped),
        seconds(outcome.elapsed),
        outcome.rate(),
        match adopted {
            0 => String::new(),
            n => format!("; {} applied by wrangler adopted", count(n, "migration")),
        }
    ));
    out
}

/// The names of a database's edited migrations, for people.
fn edited_names(d: &DatabaseReport) -> String {
    d.edited
        .iter()
        .map(|(n, _, _)| escape(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Migration names for people: escaped, `, `-separated.
fn names(list: &[String]) -> String {
    list.iter()
        .map(|n| escape(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[{"name", "recorded", "current"}]`.
fn edited_json(d: &DatabaseReport) -> Value {
    d.edited
        .iter()
        .map(|(name, recorded, current)| {
            json!({ "name": name, "recorded": recorded, "current": current })
        })
        .collect()
}

/// The report for programs: every field of every database, and the totals.
fn migrate_json(
    fleet: &Fleet,
    outcome: &Outcome,
    dry_run: bool,
    bookmarks: Option<&restore::Log>,
) -> Value {
    let databases = outcome.databases_json(|_, d| {
        json!({
            "bookmark": bookmarks.and_then(|log| log.get(&d.id)).map(|e| e.bookmark),
            "status": d.status().as_str(),
            "before": d.before,
            "after": d.before + d.applied.len(),
            "applied": d.applied,
            "pending": d.pending,
            "adopted": d.adopted,
            "unknown": d.unknown,
            "out_of_order": d.out_of_order,
            "edited": edited_json(d),
            "attempts": d.attempts,
            "error": d.error,
            "skipped": d.skipped,
            "elapsed_ms": milliseconds(d.elapsed),
        })
    });
    json!({
        "command": "migrate",
        "mode": fleet.mode(),
        "dry_run": dry_run,
        "databases": databases,
        "totals": {
            "databases": outcome.databases.len(),
            "migrated": outcome.with_status(Status::Applied),
            "up_to_date": outcome.with_status(Status::UpToDate),
            "pending": outcome.with_status(Status::Pending),
            "failed": outcome.with_status(Status::Failed),
            "skipped": outcome.with_status(Status::Skipped),
            "migrations_applied": outcome.databases.iter().map(|(_, d)| d.applied.len()).sum::<usize>(),
            "migrations_adopted": outcome.databases.iter().map(|(_, d)| d.adopted.len()).sum::<usize>(),
            "elapsed_ms": milliseconds(outcome.elapsed),
            "databases_per_second": outcome.rate(),
        },
    })
}

/// Migration names in backquotes, escaped, comma-separated.
fn quoted(list: &[&str]) -> String {
    list.iter()
        .map(|n| format!("`{}`", escape(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The warning for migrations that sort before one already applied (wrangler would apply them
/// too, after it, whatever their names say).
fn out_of_order(d: &DatabaseReport, dry_run: bool) -> String {
    let listed = quoted(&d.out_of_order);
    format!(
        "{listed} {} after migrations that sort later were applied: check that {} not depend on being applied before them",
        if dry_run { "would apply" } else { "applied" },
        if d.out_of_order.len() == 1 { "it does" } else { "they do" }
    )
}

/// One word for where a database stands: `failed` (not read), `edited`, `unknown` (applied
/// migrations the directory lacks), `behind` (pending ones), `up to date`.
fn standing(d: &DatabaseReport) -> &'static str {
    if d.error.is_some() || d.skipped {
        "failed"
    } else if !d.edited.is_empty() {
        "edited"
    } else if !d.unknown.is_empty() {
        "unknown"
    } else if !d.pending.is_empty() {
        "behind"
    } else {
        "up to date"
    }
}

/// The last migration a database applied: the greatest name among those it has applied
/// (migrations are applied in name order), unknown ones included.
fn last_applied<'a>(
    d: &'a DatabaseReport,
    migrations: &'a [d1_runtime::Migration],
) -> Option<&'a str> {
    if d.error.is_some() {
        return None;
    }
    migrations
        .iter()
        .map(|m| m.name)
        .filter(|n| !d.pending.contains(n))
        .chain(d.unknown.iter().map(String::as_str))
        .max()
}

/// `d1kit status`: a dry run of the fleet, as a status table.
pub fn status(args: StatusArgs) -> ExitCode {
    cli_fleet::command(&args.fleet, "inspect", |fleet| {
        let options = Options {
            concurrency: fleet.concurrency,
            dry_run: true,
            ..Options::default()
        };
        let outcome = apply(fleet, &options, "reading", None);
        let misplaced = misplaced(fleet);
        print_status(fleet, &outcome, &misplaced);
        Ok(outcome
            .databases
            .iter()
            .any(|(_, d)| !matches!(standing(d), "up to date" | "behind"))
            || misplaced.values().any(|n| matches!(n, Ok(n) if *n > 0)))
    })
}

/// For each database of a pool that scopes tenants by a column (by id): how many of the
/// tenants it holds belong on another shard (after `shards` changed, before `d1kit reshard`),
/// or why that could not be read.
fn misplaced(fleet: &Fleet) -> HashMap<String, Result<usize, String>> {
    let mut out = HashMap::new();
    for group in &fleet.groups {
        let Some((column, bindings)) = &group.pool else {
            continue;
        };
        let shards = bindings.len() as u32;
        for target in &group.targets {
            // A database bound twice has joined labels: its first is its shard.
            let first = target.label.split(", ").next().unwrap_or_default();
            let Some(here) = bindings.iter().position(|b| b == first) else {
                continue;
            };
            let count = fleet.open(target, false).and_then(|db| {
                let layout = block_on(reshard::layout(&db, column))?;
                let (tenants, _) = block_on(reshard::tenants(&db, &layout))?;
                Ok(tenants
                    .keys()
                    .filter(|key| reshard::destination(key, shards, None) != here as u32)
                    .count())
            });
            out.insert(target.id.clone(), count.map_err(|e| e.to_string()));
        }
    }
    out
}

/// The status table (or JSON) of a dry run's outcome.
fn print_status(
    fleet: &Fleet,
    outcome: &Outcome,
    misplaced: &HashMap<String, Result<usize, String>>,
) {
    let migrations = |database: &str| {
        fleet
            .groups
            .iter()
            .find(|g| g.database == database)
            .map_or(&[][..], |g| g.migrations)
    };
    match fleet.format {
        Format::Json => {
            let databases = outcome.databases_json(|database, d| {
                json!({
                    "status": standing(d),
                    "applied": d.before,
                    "pending": d.pending,
                    "last_applied": last_applied(d, migrations(database)),
                    "edited": edited_json(d),
                    "unknown": d.unknown,
                    "out_of_order": d.out_of_order,
                    "error": d.error,
                    "attempts": d.attempts,
                    "misplaced_tenants": misplaced.get(&d.id).and_then(|m| m.as_ref().ok()),
                })
            });
            let totals = json!({
                "databases": outcome.databases.len(),
                "misplaced_tenants": misplaced.values().filter_map(|m| m.as_ref().ok()).sum::<usize>(),
                "up_to_date": status_count(outcome, "up to date"),
                "behind": status_count(outcome, "behind"),
                "edited": status_count(outcome, "edited"),
                "unknown": status_count(outcome, "unknown"),
                "failed": status_count(outcome, "failed"),
                "elapsed_ms": milliseconds(outcome.elapsed),
            });
            println!(
                "{}",
                json!({ "command": "status", "mode": fleet.mode(), "databases": databases, "totals": totals })
            );
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = outcome
                .databases
                .iter()
                .map(|(database, d)| {
                    let total = migrations(database).len();
                    let mut notes = Vec::new();
                    if !d.edited.is_empty() {
                        notes.push(format!("edited: {}", edited_names(d)));
                    }
                    if !d.unknown.is_empty() {
                        notes.push(format!("unknown: {}", names(&d.unknown)));
                    }
                    if !d.out_of_order.is_empty() {
                        notes.push(format!(
                            "out of order: {} (applies after newer ones)",
                            quoted(&d.out_of_order)
                        ));
                    }
                    if let Some(e) = &d.error {
                        notes.push(first_line(e, 72));
                    }
                    match misplaced.get(&d.id) {
                        Some(Ok(0)) | None => {}
                        Some(Ok(n)) => notes.push(format!(
                            "{} belong on other shards (run `d1kit reshard`)",
                            count(*n, "tenant")
                        )),
                        Some(Err(e)) => {
                            notes.push(format!("tenants not read: {}", first_line(e, 60)))
                        }
                    }
                    let read = d.error.is_none();
                    vec![
                        d.label.clone(),
                        short_id(&d.id),
                        if read {
                            format!("{}/{total}", d.before)
                        } else {
                            "?".into()
                        },
                        if read {
                            d.pending.len().to_string()
                        } else {
                            "?".into()
                        },
                        last_applied(d, migrations(database))
                            .unwrap_or("-")
                            .to_string(),
                        standing(d).to_string(),
                        notes.join("; "),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "DATABASE",
                        "ID",
                        "APPLIED",
                        "PENDING",
                        "LAST APPLIED",
                        "STATUS",
                        "NOTES"
                    ],
                    &rows
                )
            );
            for (_, d) in &outcome.databases {
                for p in problems(d) {
                    println!("{}: {}", escape(&d.label), escape(&p));
                }
            }
            println!(
                "{}: {} up to date, {} behind, {} edited, {} with unknown migrations, {} failed ({})",
                count(outcome.databases.len(), "database"),
                status_count(outcome, "up to date"),
                status_count(outcome, "behind"),
                status_count(outcome, "edited"),
                status_count(outcome, "unknown"),
                status_count(outcome, "failed"),
                seconds(outcome.elapsed)
            );
        }
    }
}

/// Databases whose [`standing`] is `word`.
fn status_count(outcome: &Outcome, word: &str) -> usize {
    outcome
        .databases
        .iter()
        .filter(|(_, d)| standing(d) == word)
        .count()
}
