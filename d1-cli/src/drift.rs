//! `d1kit drift (--local | --remote)`: every database's live schema against the schema its
//! migrations build (applied from scratch to an empty database in memory), per object and per
//! column, with `--concurrency` databases read at once. A database that has not applied every
//! migration yet is compared with the schema of those it has applied, and said to be behind
//! (run `d1kit migrate`): pending is not drift.

use crate::fleet::{self as cli_fleet, Fleet};
use crate::report::{count, escape, escape_lines};
use crate::{Format, StatusArgs};
use d1_codegen::{Diagnostic, Diagnostics};
use d1_runtime::fleet::{self, Drift, SchemaObject, Target};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Tries at one database whose failure is transient.
const ATTEMPTS: u32 = 5;

/// One database compared.
struct Compared<'a> {
    /// The configured database it belongs to.
    database: &'a str,
    target: &'a Target,
    /// How its live schema differs (empty when it matches).
    drift: Vec<Drift>,
    /// Migrations it has not applied yet.
    pending: Vec<&'static str>,
    /// Why it could not be read.
    error: Option<String>,
}

/// `d1kit drift`.
pub fn run(args: StatusArgs) -> ExitCode {
    cli_fleet::command(&args.fleet, "compare", |fleet| {
        let start = Instant::now();
        let mut expected = Vec::new();
        for group in &fleet.groups {
            let schema = expected_schema(group.migrations).map_err(|e| {
                Diagnostics(vec![Diagnostic::error(format!(
                    "the migrations of `{}` do not apply to an empty database: {e}",
                    group.database
                ))])
            })?;
            expected.push(schema);
        }
        let items: Vec<(usize, &Target)> = fleet
            .groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| g.targets.iter().map(move |t| (i, t)))
            .collect();
        let bar = fleet.progress("comparing");
        let results = cli_fleet::each(
            &items,
            fleet.concurrency,
            |&(group, target)| {
                let migrations = fleet.groups[group].migrations;
                let (drift, pending, error) =
                    match live_drift(fleet, target, migrations, &expected[group]) {
                        Ok((d, p)) => (d, p, None),
                        Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
                    };
                Compared {
                    database: &fleet.groups[group].database,
                    target,
                    drift,
                    pending,
                    error,
                }
            },
            |_| bar.inc(1),
        );
        bar.finish_and_clear();
        let elapsed = start.elapsed();
        match fleet.format {
            Format::Json => println!("{}", drift_json(fleet, &results, elapsed)),
            Format::Text => print!("{}", drift_text(&results, elapsed)),
        }
        Ok(results
            .iter()
            .any(|c| !c.drift.is_empty() || c.error.is_some()))
    })
}

/// The schema `migrations` build from scratch.
fn expected_schema(migrations: &[d1_runtime::Migration]) -> d1_runtime::Result<Vec<SchemaObject>> {
    let db = d1_runtime::local::Database::open_in_memory()?;
    db.migrate(migrations)?;
    d1_runtime::block_on(fleet::schema(&db))
}

/// How `target`'s live schema differs from the schema of the migrations it has applied
/// (`expected` when it has applied them all), and the migrations it has not applied yet;
/// retrying transient failures with exponential backoff. A local database that does not exist
/// is compared as empty (and not created).
fn live_drift(
    fleet: &Fleet,
    target: &Target,
    migrations: &'static [d1_runtime::Migration],
    expected: &[SchemaObject],
) -> d1_runtime::Result<(Vec<Drift>, Vec<&'static str>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let live = fleet.open(target, false).and_then(|db| {
            let applied = d1_runtime::block_on(d1_runtime::migrate::read_applied(&db))?;
            let schema = d1_runtime::block_on(fleet::schema(&db))?;
            Ok((applied, schema))
        });
        match live {
            Ok((applied, live)) => {
                let (done, pending): (Vec<&d1_runtime::Migration>, Vec<&d1_runtime::Migration>) =
                    migrations
                        .iter()
                        .partition(|m| applied.names.iter().any(|n| n == m.name));
                let pending: Vec<&'static str> = pending.iter().map(|m| m.name).collect();
                if pending.is_empty() {
                    return Ok((fleet::drift(expected, &live), pending));
                }
                let done: Vec<d1_runtime::Migration> = done.into_iter().copied().collect();
                let behind = expected_schema(&done)?;
                return Ok((fleet::drift(&behind, &live), pending));
            }
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                let base = Duration::from_millis(250);
                std::thread::sleep(d1_runtime::backoff(base, attempt, Duration::from_secs(60)));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One line per difference, `LABEL: object: what` (a changed definition's expected and live
/// statements indented under it), then the summary.
fn drift_text(results: &[Compared], elapsed: Duration) -> String {
    let mut out = String::new();
    for c in results {
        let label = escape(&c.target.label);
        for d in &c.drift {
            out.push_str(&format!("{label}: {}\n", difference_text(d)));
        }
        if let Some(e) = &c.error {
            out.push_str(&format!("{label}: cannot read its schema: {}\n", escape(e)));
        }
        if !c.pending.is_empty() {
            out.push_str(&format!(
                "{label}: behind (run `d1kit migrate`): {} not applied yet, compared with the schema of those it has applied\n",
                count(c.pending.len(), "migration")
            ));
        }
    }
    let drifting = results.iter().filter(|c| !c.drift.is_empty()).count();
    let differences: usize = results.iter().map(|c| c.drift.len()).sum();
    let unread = results.iter().filter(|c| c.error.is_some()).count();
    let behind = results.iter().filter(|c| !c.pending.is_empty()).count();
    out.push_str(&format!(
        "{} compared: {} {} ({}), {} {} the migrations' schema, {behind} behind, {} could not be read ({:.2} s)\n",
        count(results.len(), "database"),
        drifting,
        if drifting == 1 { "drifts" } else { "drift" },
        count(differences, "difference"),
        results.len() - drifting - unread,
        if results.len() - drifting - unread == 1 {
            "matches"
        } else {
            "match"
        },
        unread,
        elapsed.as_secs_f64()
    ));
    out
}

/// One difference for people, as [`Drift`]'s `Display` writes it, every name escaped (they are
/// read from the database); a changed definition's statements keep their lines, each indented
/// under the first, so that none of them can pass for a line of the report.
fn difference_text(d: &Drift) -> String {
    let statement = |sql: &str| escape_lines(sql).replace('\n', "\n              ");
    match d {
        Drift::Missing { kind, name } => format!(
            "{} `{}` is missing (the migrations create it)",
            escape(kind),
            escape(name)
        ),
        Drift::Extra { kind, name } => {
            format!(
                "{} `{}` is not in the migrations",
                escape(kind),
                escape(name)
            )
        }
        Drift::Column {
            table,
            column,
            what,
        } => format!(
            "table `{}`, column `{}`: {}",
            escape(table),
            escape(column),
            escape(what)
        ),
        Drift::Changed {
            kind,
            name,
            expected,
            live,
        } => format!(
            "{} `{}` differs from the migrations\n    expected: {}\n    live:     {}",
            escape(kind),
            escape(name),
            statement(expected),
            statement(live)
        ),
    }
}

/// One difference for programs: its kind, the object, and the line people read.
fn difference_json(d: &Drift) -> Value {
    let mut o = match d {
        Drift::Missing { kind, name } => json!({ "kind": "missing", "type": kind, "name": name }),
        Drift::Extra { kind, name } => json!({ "kind": "extra", "type": kind, "name": name }),
        Drift::Column {
            table,
            column,
            what,
        } => {
            json!({ "kind": "column", "type": "table", "name": table, "column": column, "what": what })
        }
        Drift::Changed {
            kind,
            name,
            expected,
            live,
        } => {
            json!({ "kind": "changed", "type": kind, "name": name, "expected": expected, "live": live })
        }
    };
    o["message"] = json!(d.to_string());
    o
}

/// The comparison for programs: each database's differences, and the totals.
fn drift_json(fleet: &Fleet, results: &[Compared], elapsed: Duration) -> Value {
    let databases: Vec<Value> = results
        .iter()
        .map(|c| {
            json!({
                "database": c.database,
                "label": c.target.label,
                "id": c.target.id,
                "drift": c.drift.iter().map(difference_json).collect::<Vec<_>>(),
                "pending": c.pending,
                "error": c.error,
            })
        })
        .collect();
    let drifting = results.iter().filter(|c| !c.drift.is_empty()).count();
    let unread = results.iter().filter(|c| c.error.is_some()).count();
    json!({
        "command": "drift",
        "mode": fleet.mode(),
        "databases": databases,
        "totals": {
            "databases": results.len(),
            "drifting": drifting,
            "differences": results.iter().map(|c| c.drift.len()).sum::<usize>(),
            "matching": results.len() - drifting - unread,
            "behind": results.iter().filter(|c| !c.pending.is_empty()).count(),
            "failed": unread,
            "elapsed_ms": (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        },
    })
}
