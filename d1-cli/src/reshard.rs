//! `d1kit reshard (--local | --remote) [--dry-run]`: every tenant of a pool brought to the
//! shard the configuration routes it to, through `d1_runtime::reshard` (each move checked,
//! copied in one batch with a record of itself, then deleted from its old shard; a rerun
//! finishes what a crash left). Retired shards (blocks `d1kit config` kept because their
//! databases may hold tenants) are drained, and their blocks removed once empty.
//!
//! Online when the pool has a `directory`: `d1_runtime::reshard::online` holds, fences and
//! marks the tenants it moves, so the application keeps serving them. Without one it is
//! offline: the application must not write to the pool while it runs; the output says so.

use crate::config::Crate;
use crate::fleet::{each, short_id, table, Backend, Db};
use crate::report::{self, count};
use crate::{Format, PoolArgs, ReshardArgs};
use d1_codegen::config::DatabaseConfig;
use d1_codegen::wrangler::{self, FileBlock};
use d1_codegen::{Diagnostic, Diagnostics};
use d1_runtime::block_on;
use d1_runtime::reshard::{self, online, Layout, Move, Outcome, Plan};
use d1_runtime::route::router;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One database of the pool: its shard index, binding and id.
pub(crate) struct Shard {
    /// Its binding.
    pub binding: String,
    /// Its database id (remote) or local id.
    pub id: String,
    /// No longer configured: drained, then its block removed.
    pub retired: bool,
}

/// Opens `shard`'s database; a local one must exist already (`d1kit migrate` creates it).
pub(crate) fn open(place: &Backend, shard: &Shard) -> d1_runtime::Result<Db> {
    if !place.exists(&shard.id) {
        return Err(d1_runtime::Error::Backend(format!(
            "{} has no local database yet: run `d1kit migrate --local` first",
            shard.binding
        )));
    }
    place.open(&shard.id)
}

pub(crate) fn error(message: impl Into<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic::error(message)])
}

/// `d1kit reshard`.
pub fn run(args: ReshardArgs) -> ExitCode {
    crate::fleet::exit(args.place.format, reshard(&args))
}

/// The pool, planned and (unless `--dry-run`) moved; `Ok(true)` when a tenant could not be
/// moved.
fn reshard(args: &ReshardArgs) -> Result<bool, Diagnostics> {
    let Pool {
        krate,
        db,
        tenant_column,
        shards,
        synced,
        place,
        dbs,
        layout,
        directory,
    } = open_pool(&args.place)?;
    if let Some((binding, dir)) = &directory {
        block_on(router::set_up(dir, db.shards))
            .map_err(|e| error(format!("{binding}: setting up the directory: {e}")))?;
    }
    let pins = match &directory {
        Some((binding, dir)) => block_on(online::pins(dir))
            .map_err(|e| error(format!("{binding}: reading its pins: {e}")))?,
        None => Default::default(),
    };
    let plan = block_on(reshard::plan(&dbs, db.shards, &layout, |t| {
        pins.get(t).copied()
    }))
    .map_err(|e| error(format!("reading the pool: {e}")))?;
    let json = args.place.format == Format::Json;
    if !json {
        eprintln!(
            "reshard of `{}` ({} configured, {}): {}",
            db.name,
            count(db.shards as usize, "shard"),
            match shards.iter().filter(|s| s.retired).count() {
                0 => "none retired".to_string(),
                n => format!("{n} retired to drain"),
            },
            match &directory {
                Some((binding, _)) => format!(
                    "online through the directory {binding}: each moving tenant is refused (Error::TenantMoving) for about {} s",
                    (args.settle as f64 / 1000.0).max(0.1)
                ),
                None => "offline, the application must not write to these databases until it ends".into(),
            }
        );
        for (shard, table, value) in &plan.strays {
            eprintln!(
                "warning: {}: `{}` has rows whose {tenant_column} is {}, no tenant: they stay",
                shards[*shard as usize].binding,
                report::escape(table),
                report::escape(value)
            );
        }
    }
    if args.dry_run {
        match args.place.format {
            Format::Json => println!("{}", plan_json(&db, &shards, &plan)),
            Format::Text => print!("{}", plan_text(&shards, &plan)),
        }
        return Ok(false);
    }
    if !args.yes && !confirm(&plan)? {
        return Err(error("nothing moved: not confirmed"));
    }
    let start = Instant::now();
    let work = plan.unfinished.len() + plan.moves.len();
    let bar = progress(json, work);
    if let Some((binding, dir)) = &directory {
        let wait = || std::thread::sleep(Duration::from_millis(args.settle));
        let settle = online::Settle {
            wait: &wait,
            wave: args.concurrency as usize,
            renumber: args.renumber,
        };
        let report = block_on(online::run(&dbs, db.shards, &layout, dir, &settle, |_| {
            bar.inc(1)
        }))
        .map_err(|e| error(format!("{binding}: {e}")))?;
        bar.finish_and_clear();
        return finish_report(
            &krate, &synced, &dbs, &shards, &layout, args, &db, &report, start,
        );
    }
    // Unfinished moves of an earlier run first, each tenant's in order.
    let mut finished = Vec::new();
    let (groups, split) = reshard::groups(&plan.unfinished);
    for group in groups.iter().chain(&split) {
        let (from, to) = (&dbs[group[0].from as usize], &dbs[group[0].to as usize]);
        block_on(reshard::finish(&layout, group, from, to)).map_err(|e| {
            error(format!(
                "finishing the moves an earlier run left ({}): {e}",
                group[0].tenant.key.escape_debug()
            ))
        })?;
        finished.extend(group.iter().cloned());
        bar.inc(group.len() as u64);
    }
    // Then the moves, in groups of one source and one target, groups in parallel (each
    // worker opens its own connections); then tenants split over several shards, one by one.
    let (parallel, split) = reshard::groups(&plan.moves);
    let failures = Mutex::new(0usize);
    let run_group = |moves: &Vec<Move>| -> Vec<(Move, Result<Outcome, String>)> {
        let outcomes = open(&place, &shards[moves[0].from as usize]).and_then(|from| {
            let to = open(&place, &shards[moves[0].to as usize])?;
            block_on(reshard::move_tenants_via(
                &layout,
                moves,
                &from,
                &to,
                &reshard::Offline,
                args.renumber,
            ))
        });
        match outcomes {
            Ok(outcomes) => moves
                .iter()
                .cloned()
                .zip(outcomes.into_iter().map(Ok))
                .collect(),
            Err(e) => moves
                .iter()
                .map(|mv| (mv.clone(), Err(e.to_string())))
                .collect(),
        }
    };
    let done = |outcomes: &Vec<(Move, Result<Outcome, String>)>| {
        bar.inc(outcomes.len() as u64);
        let bad = outcomes
            .iter()
            .filter(|(_, o)| !matches!(o, Ok(Outcome::Moved { .. })))
            .count();
        if bad > 0 {
            let mut f = failures.lock().unwrap_or_else(|e| e.into_inner());
            *f += bad;
            bar.set_message(format!("({} not moved)", *f));
        }
    };
    let mut results = each(&parallel, args.concurrency as usize, run_group, done);
    results.extend(each(&split, 1, run_group, done));
    bar.finish_and_clear();
    let mut report = reshard::Report {
        shards: vec![reshard::ShardReport::default(); shards.len()],
        finished,
        ..reshard::Report::default()
    };
    for (mv, outcome) in results.into_iter().flatten() {
        report.record(mv, outcome);
    }
    finish_report(
        &krate, &synced, &dbs, &shards, &layout, args, &db, &report, start,
    )
}

/// Releases drained retired shards and prints the report; `Ok(true)` when a tenant could
/// not be moved.
#[allow(clippy::too_many_arguments)]
fn finish_report(
    krate: &Crate,
    synced: &wrangler::Synced,
    dbs: &[Db],
    shards: &[Shard],
    layout: &Layout,
    args: &ReshardArgs,
    db: &DatabaseConfig,
    report: &reshard::Report,
    start: Instant,
) -> Result<bool, Diagnostics> {
    let elapsed = start.elapsed();
    let released = release(krate, synced, dbs, shards, layout, args)?;
    match args.place.format {
        Format::Json => println!("{}", report_json(db, shards, report, elapsed, &released)),
        Format::Text => print!("{}", report_text(shards, report, elapsed, &released)),
    }
    Ok(!report.refused.is_empty() || !report.failed.is_empty())
}

/// A pool opened for moves: its crate and configuration, its shards (configured, then
/// retired) and their databases, the tables that move, and its directory if it has one.
pub(crate) struct Pool {
    pub krate: Crate,
    pub db: DatabaseConfig,
    pub tenant_column: String,
    pub shards: Vec<Shard>,
    pub synced: wrangler::Synced,
    pub place: Backend,
    pub dbs: Vec<Db>,
    pub layout: Layout,
    /// The directory's binding and database.
    pub directory: Option<(String, Db)>,
}

/// Opens the pool `at` names: its configured database (or the only one) of the crate at its
/// manifest path, its environment's blocks, locally or over the REST API.
pub(crate) fn open_pool(at: &PoolArgs) -> Result<Pool, Diagnostics> {
    let krate = Crate::load(at.manifest_path.clone())?;
    let db = krate
        .config
        .database(at.database.as_deref())
        .map_err(|d| Diagnostics(vec![d]))?
        .clone();
    let tenant_column = tenant_column(&db)?;
    let (shards, synced, directory) = pool(&krate, &db, at.env.as_deref(), at.remote)?;
    let place = Backend::new(&krate, at.remote, at.persist_to.as_deref())?;
    let dbs: Vec<Db> = shards
        .iter()
        .map(|s| open(&place, s))
        .collect::<d1_runtime::Result<_>>()
        .map_err(|e| error(e.to_string()))?;
    let layout = read_layout(&dbs, &shards, &tenant_column)?;
    let directory = match directory {
        Some(d) => Some((
            d.binding.clone(),
            open(&place, &d).map_err(|e| error(e.to_string()))?,
        )),
        None => None,
    };
    Ok(Pool {
        krate,
        db,
        tenant_column,
        shards,
        synced,
        place,
        dbs,
        layout,
        directory,
    })
}

/// The pool's tenant column: without one, its tenants' rows cannot be told apart.
pub(crate) fn tenant_column(db: &DatabaseConfig) -> Result<String, Diagnostics> {
    db.tenant_column.clone().ok_or_else(|| {
        Diagnostics(vec![Diagnostic::error(format!(
            "database `{}` has no `tenant_column`: d1kit cannot tell its tenants' rows apart to move them",
            db.name
        ))
        .with_help(format!(
            "set `tenant_column` under [package.metadata.d1kit.databases.{}]",
            db.name
        ))])
    })
}

/// The pool's databases from the wrangler file as `d1kit config` would leave it: the
/// configured shards in order, then the retired blocks it keeps.
pub(crate) fn pool(
    krate: &Crate,
    db: &DatabaseConfig,
    env: Option<&str>,
    remote: bool,
) -> Result<(Vec<Shard>, wrangler::Synced, Option<Shard>), Diagnostics> {
    if let Some(env) = env {
        if !krate.config.environments.iter().any(|e| e == env) {
            return Err(error(format!(
                "no environment `{env}` in `package.metadata.d1kit.environments`"
            )));
        }
    }
    let synced = krate.sync_wrangler(
        false,
        "no pool to reshard",
        "the pool is the databases the wrangler file's d1kit blocks bind: run `d1kit config` (or `cargo build`) first",
    )?;
    let shown = krate.shown(&synced.file.path);
    let blocks = wrangler::file_blocks(&synced.rewrite.text, &synced.file)?;
    let in_scope = |binding: &str| -> Option<&FileBlock> {
        blocks
            .iter()
            .find(|b| b.env.as_deref() == env && b.binding.as_deref() == Some(binding))
    };
    let id_of = |b: &FileBlock| -> Result<String, Diagnostics> {
        if remote && b.has_placeholder_id() {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "{shown}: {} still holds d1kit's placeholder id, not a database on Cloudflare",
                b.describe()
            ))
            .with_help("run `d1kit provision --remote` first")]));
        }
        let id = if remote {
            b.database_id.as_deref()
        } else {
            b.local_id()
        };
        id.map(str::to_string)
            .ok_or_else(|| error(format!("{shown}: {} has no database_id", b.describe())))
    };
    let mut shards = Vec::new();
    for binding in db.bindings() {
        let Some(b) = in_scope(&binding) else {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "{shown} has no block for `{binding}`"
            ))
            .with_help("run `d1kit config` (or `cargo build`) to write it")]));
        };
        shards.push(Shard {
            binding,
            id: id_of(b)?,
            retired: false,
        });
    }
    for r in &synced.rewrite.retired {
        if r.env.as_deref() != env || r.database != db.name {
            continue;
        }
        if let Some(b) = in_scope(&r.binding) {
            // Kept for its local data only: there is no such database on Cloudflare.
            if remote && b.has_placeholder_id() {
                continue;
            }
            shards.push(Shard {
                binding: r.binding.clone(),
                id: id_of(b)?,
                retired: true,
            });
        }
    }
    // One database bound twice would be moved onto itself.
    let mut ids: Vec<&str> = shards.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(error(format!(
            "{shown}: database id `{}` is bound to two shards of `{}`",
            w[0], db.name
        )));
    }
    let directory = match &db.directory {
        None => None,
        Some(d) => {
            let Some(b) = in_scope(&d.binding) else {
                return Err(Diagnostics(vec![Diagnostic::error(format!(
                    "{shown} has no block for `{}`, the directory of `{}`",
                    d.binding, db.name
                ))
                .with_help("run `d1kit config` (or `cargo build`) to write it")]));
            };
            Some(Shard {
                binding: d.binding.clone(),
                id: id_of(b)?,
                retired: false,
            })
        }
    };
    Ok((shards, synced, directory))
}

/// The tenant tables, read from the first shard; every other shard must have the same.
pub(crate) fn read_layout(
    dbs: &[Db],
    shards: &[Shard],
    column: &str,
) -> Result<Layout, Diagnostics> {
    let mut layout: Option<Layout> = None;
    for (db, shard) in dbs.iter().zip(shards) {
        let here = block_on(reshard::layout(db, column))
            .map_err(|e| error(format!("{}: reading its tables: {e}", shard.binding)))?;
        match &layout {
            None if here.tables.is_empty() => {
                return Err(Diagnostics(vec![Diagnostic::error(format!(
                    "{}: no table has the tenant column `{column}`",
                    shard.binding
                ))
                .with_help(
                    "run `d1kit migrate` first: every shard must have the schema",
                )]))
            }
            None => layout = Some(here),
            Some(first) if *first != here => {
                return Err(Diagnostics(vec![Diagnostic::error(format!(
                    "{} has other tenant tables than {}: {} against {}",
                    shard.binding,
                    shards[0].binding,
                    names(&here),
                    names(first)
                ))
                .with_help(
                    "run `d1kit migrate` so that every shard has the same schema",
                )]))
            }
            Some(_) => {}
        }
    }
    layout.ok_or_else(|| error("the pool has no database"))
}

fn names(l: &Layout) -> String {
    l.tables
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Asks on a terminal; without one (a script), `--yes` is required.
fn confirm(plan: &Plan) -> Result<bool, Diagnostics> {
    let moves = plan.moves.len() + plan.unfinished.len();
    if moves == 0 {
        return Ok(true);
    }
    ask(
        &format!("reshard would move {}", count(moves, "tenant")),
        &format!("move {} between shards?", count(moves, "tenant")),
    )
}

/// Asks `question` on a terminal; without one (a script), refuses: `what` would happen, and
/// `--yes` is required.
pub(crate) fn ask(what: &str, question: &str) -> Result<bool, Diagnostics> {
    if !std::io::stdin().is_terminal() {
        return Err(Diagnostics(vec![Diagnostic::error(format!(
            "{what}, and stdin is not a terminal to confirm it"
        ))
        .with_help("pass --yes to go ahead, or --dry-run to see the plan")]));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn progress(hidden: bool, len: usize) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "moving [{bar:30}] {pos}/{len} tenants, {per_sec}, ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Retired shards left without tenants: their blocks removed from the wrangler file.
fn release(
    krate: &Crate,
    synced: &wrangler::Synced,
    dbs: &[Db],
    shards: &[Shard],
    layout: &Layout,
    args: &ReshardArgs,
) -> Result<Vec<String>, Diagnostics> {
    let mut drained = Vec::new();
    for (db, shard) in dbs.iter().zip(shards).filter(|(_, s)| s.retired) {
        let (tenants, strays) = block_on(reshard::tenants(db, layout))
            .map_err(|e| error(format!("{}: {e}", shard.binding)))?;
        let record = block_on(reshard::journal(db, 0)).map_err(|e| error(e.to_string()))?;
        if tenants.is_empty() && strays.is_empty() && record.is_empty() {
            drained.push((args.place.env.clone(), shard.binding.clone()));
        }
    }
    if drained.is_empty() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&synced.file.path)
        .map_err(|e| error(format!("cannot read `{}`: {e}", synced.file.path.display())))?;
    let rewrite = wrangler::rewrite_releasing(&text, &synced.file, &krate.config, &drained)?;
    if rewrite.text != text {
        wrangler::write(&synced.file, &rewrite.text)?;
    }
    Ok(drained.into_iter().map(|(_, b)| b).collect())
}

fn plan_text(shards: &[Shard], plan: &Plan) -> String {
    let mut rows = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        let out = plan.moves.iter().filter(|m| m.from as usize == i).count();
        let into = plan.moves.iter().filter(|m| m.to as usize == i).count();
        rows.push(vec![
            i.to_string(),
            s.binding.clone(),
            short_id(&s.id),
            if s.retired { "retired" } else { "" }.to_string(),
            plan.tenants.get(i).copied().unwrap_or(0).to_string(),
            into.to_string(),
            out.to_string(),
        ]);
    }
    let mut out = table(
        &["shard", "binding", "id", "", "tenants", "in", "out"],
        &rows,
    );
    if !plan.unfinished.is_empty() {
        out.push_str(&format!(
            "{} of an earlier run to finish\n",
            count(plan.unfinished.len(), "move")
        ));
    }
    out.push_str(&format!(
        "plan: {} to move (dry run: nothing changed)\n",
        count(plan.moves.len(), "tenant")
    ));
    out
}

fn plan_json(db: &DatabaseConfig, shards: &[Shard], plan: &Plan) -> Value {
    json!({
        "database": db.name,
        "dry_run": true,
        "shards": shards.iter().enumerate().map(|(i, s)| json!({
            "shard": i,
            "binding": s.binding,
            "id": s.id,
            "retired": s.retired,
            "tenants": plan.tenants.get(i).copied().unwrap_or(0),
        })).collect::<Vec<_>>(),
        "unfinished": plan.unfinished.iter().map(move_json).collect::<Vec<_>>(),
        "moves": plan.moves.iter().map(move_json).collect::<Vec<_>>(),
    })
}

fn move_json(m: &Move) -> Value {
    json!({ "tenant": m.tenant.key, "from": m.from, "to": m.to })
}

fn report_text(
    shards: &[Shard],
    report: &reshard::Report,
    elapsed: Duration,
    released: &[String],
) -> String {
    let rows: Vec<Vec<String>> = shards
        .iter()
        .zip(&report.shards)
        .enumerate()
        .map(|(i, (s, r))| {
            vec![
                i.to_string(),
                s.binding.clone(),
                short_id(&s.id),
                if s.retired { "retired" } else { "" }.to_string(),
                r.tenants_in.to_string(),
                r.tenants_out.to_string(),
                (r.rows_in + r.rows_out).to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "shard",
            "binding",
            "id",
            "",
            "tenants in",
            "tenants out",
            "rows moved",
        ],
        &rows,
    );
    for (tenant, ids) in &report.renumbered {
        out.push_str(&format!(
            "`{}` moved with new ids:\n",
            tenant.escape_debug()
        ));
        for line in crate::tenant::renumbered_lines(ids) {
            out.push_str(&format!("  {line}\n"));
        }
    }
    for (mv, r) in &report.refused {
        out.push_str(&format!(
            "not moved: `{}` stays whole on {}: {}\n",
            mv.tenant.key.escape_debug(),
            shards[mv.from as usize].binding,
            report::escape(&r.to_string())
        ));
    }
    for (mv, e) in &report.failed {
        out.push_str(&format!(
            "failed: `{}` ({} → {}): {} (run reshard again to resume)\n",
            mv.tenant.key.escape_debug(),
            shards[mv.from as usize].binding,
            shards[mv.to as usize].binding,
            report::escape(e)
        ));
    }
    if !report.finished.is_empty() {
        out.push_str(&format!(
            "finished {} an earlier run left\n",
            count(report.finished.len(), "move")
        ));
    }
    for b in released {
        out.push_str(&format!(
            "released {b}: drained, its block removed from the wrangler file (the database itself still exists)\n"
        ));
    }
    let rows = report.rows();
    out.push_str(&format!(
        "{} moved, {} in {:.2} s ({:.0} rows/s)\n",
        count(report.moved.len(), "tenant"),
        count(rows as usize, "row"),
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64().max(1e-9)
    ));
    out
}

fn report_json(
    db: &DatabaseConfig,
    shards: &[Shard],
    report: &reshard::Report,
    elapsed: Duration,
    released: &[String],
) -> Value {
    json!({
        "database": db.name,
        "dry_run": false,
        "shards": shards.iter().zip(&report.shards).enumerate().map(|(i, (s, r))| json!({
            "shard": i,
            "binding": s.binding,
            "id": s.id,
            "retired": s.retired,
            "tenants_in": r.tenants_in,
            "tenants_out": r.tenants_out,
            "rows_in": r.rows_in,
            "rows_out": r.rows_out,
        })).collect::<Vec<_>>(),
        "finished": report.finished.iter().map(move_json).collect::<Vec<_>>(),
        "moved": report.moved.iter().map(|(m, rows)| {
            let mut v = move_json(m);
            v["rows"] = json!(rows);
            v
        }).collect::<Vec<_>>(),
        "renumbered": report.renumbered.iter().map(|(tenant, ids)| json!({
            "tenant": tenant,
            "ids": crate::tenant::renumbered_json(ids),
        })).collect::<Vec<_>>(),
        "refused": report.refused.iter().map(|(m, r)| {
            let mut v = move_json(m);
            v["reason"] = json!(r.to_string());
            v
        }).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|(m, e)| {
            let mut v = move_json(m);
            v["error"] = json!(e);
            v
        }).collect::<Vec<_>>(),
        "released": released,
        "tenants_moved": report.moved.len(),
        "rows_moved": report.rows(),
        "elapsed_ms": (elapsed.as_secs_f64() * 1e6).round() / 1e3,
    })
}
