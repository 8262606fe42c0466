//! `d1kit tenant locate TENANT` and `d1kit tenant move TENANT --to-shard K`: one tenant of a
//! pool, where it is and where it is routed, or moved to another shard through the pool's
//! directory (`d1_runtime::reshard::online::move_one`: the same checks, copy, record and
//! deletes as `d1kit reshard`, the tenant refused only while it moves, then pinned there).
//! `delete`, `export` and `import` drive `d1_runtime::tenant` on the shard holding the
//! tenant's rows (for `import`: the shard the pool routes it to).

use crate::fleet::short_id;
use crate::report::{self, count};
use crate::reshard::{ask, error, Pool};
use crate::{
    Format, TenantArgs, TenantCommand, TenantDeleteArgs, TenantExportArgs, TenantImportArgs,
    TenantMoveArgs, TenantPoolArgs,
};
use d1_codegen::{Diagnostic, Diagnostics};
use d1_runtime::block_on;
use d1_runtime::reshard::renumber::Renumbered;
use d1_runtime::reshard::{self, online, Move, Outcome};
use d1_runtime::route::router::{self, Pin};
use d1_runtime::route::shard_for;
use d1_runtime::tenant::TableRows;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `d1kit tenant ...`.
pub fn run(args: TenantArgs) -> ExitCode {
    let (pool_args, result) = match &args.command {
        TenantCommand::Locate(a) => (a, locate(a)),
        TenantCommand::Move(a) => (&a.pool, move_tenant(a)),
        TenantCommand::Delete(a) => (
            &a.pool,
            match &a.tenants_in {
                Some(directory) => crate::own::delete(a, directory),
                None => delete_tenant(a),
            },
        ),
        TenantCommand::Export(a) => (
            &a.pool,
            match &a.tenants_in {
                Some(directory) => crate::own::export(a, directory),
                None => export_tenant(a),
            },
        ),
        TenantCommand::Import(a) => (
            &a.pool,
            match &a.tenants_in {
                Some(directory) => crate::own::import(a, directory),
                None => import_tenant(a),
            },
        ),
    };
    crate::fleet::exit(pool_args.place.format, result)
}

/// Where the pool routes `tenant`: `(shard, pin)` (`pin` `None`: by the hash), or why it
/// cannot say.
fn routed(pool: &Pool, tenant: &str) -> Result<(u32, Option<Pin>), String> {
    match &pool.directory {
        None => Ok((shard_for(tenant.as_bytes(), pool.db.shards), None)),
        Some((binding, dir)) => {
            let routing = block_on(router::snapshot(dir)).map_err(|e| format!("{binding}: {e}"))?;
            let pin =
                block_on(router::pin_of(dir, tenant)).map_err(|e| format!("{binding}: {e}"))?;
            let shard = match pin {
                Some(Pin::Moving(s)) => s,
                _ => router::place(tenant, pin, &routing).map_err(|e| e.to_string())?,
            };
            Ok((shard, pin))
        }
    }
}

fn describe(pool: &Pool, shard: u32) -> (String, String) {
    pool.shards
        .get(shard as usize)
        .map(|s| (s.binding.clone(), s.id.clone()))
        .unwrap_or_else(|| (format!("shard {shard} (not in the pool)"), String::new()))
}

/// `d1kit tenant locate`: `Ok(true)` when the tenant's rows are not all where it is routed.
fn locate(args: &TenantPoolArgs) -> Result<bool, Diagnostics> {
    let pool = crate::reshard::open_pool(&args.place)?;
    let tenant = &args.tenant;
    let (shard, pin) = routed(&pool, tenant).map_err(error)?;
    let held = block_on(reshard::locate(&pool.dbs, &pool.layout, tenant))
        .map_err(|e| error(format!("reading the pool: {e}")))?;
    let (binding, id) = describe(&pool, shard);
    let state = match pin {
        None => "routed by its hash",
        Some(Pin::At(_)) => "pinned in the directory",
        Some(Pin::Moving(_)) => "being moved (refused until the move ends)",
    };
    let misplaced = held.iter().any(|(s, _, _)| *s != shard);
    match args.place.format {
        Format::Json => println!(
            "{}",
            json!({
                "database": pool.db.name,
                "tenant": tenant,
                "shard": shard,
                "binding": binding,
                "database_id": id,
                "pinned": matches!(pin, Some(Pin::At(_))),
                "moving": matches!(pin, Some(Pin::Moving(_))),
                "rows": held.iter().map(|(s, _, n)| json!({
                    "shard": s,
                    "binding": describe(&pool, *s).0,
                    "rows": n,
                })).collect::<Vec<Value>>(),
                "misplaced": misplaced,
            })
        ),
        Format::Text => {
            println!(
                "tenant `{}` of `{}`: shard {shard}, {binding} ({}), {state}",
                tenant.escape_debug(),
                pool.db.name,
                short_id(&id)
            );
            if held.is_empty() {
                println!("  no rows yet");
            }
            for (s, _, n) in &held {
                let (b, _) = describe(&pool, *s);
                let note = if *s == shard {
                    ""
                } else {
                    "  <- not where it is routed: run `d1kit reshard`"
                };
                println!("  {}: {} on {b}{note}", s, count(*n as usize, "row"));
            }
        }
    }
    Ok(misplaced)
}

/// `d1kit tenant move`: `Ok(true)` when the move was refused.
fn move_tenant(args: &TenantMoveArgs) -> Result<bool, Diagnostics> {
    let pool = crate::reshard::open_pool(&args.pool.place)?;
    let tenant = &args.pool.tenant;
    let Some((binding, directory)) = &pool.directory else {
        return Err(Diagnostics(vec![Diagnostic::error(format!(
            "`{}` has no directory: a tenant moved off the shard its hash names would be lost to the application",
            pool.db.name
        ))
        .with_help(format!(
            "set `directory = \"<a one-shard database>\"` under [package.metadata.d1kit.databases.{}] (see docs/CONFIG.md), run `d1kit migrate`, and deploy",
            pool.db.name
        ))]));
    };
    let to = args.to_shard;
    if to >= pool.db.shards {
        return Err(error(format!(
            "--to-shard {to}: `{}` has {} (0 to {})",
            pool.db.name,
            count(pool.db.shards as usize, "shard"),
            pool.db.shards - 1
        )));
    }
    block_on(router::set_up(directory, pool.db.shards))
        .map_err(|e| error(format!("{binding}: {e}")))?;
    let held = block_on(reshard::locate(&pool.dbs, &pool.layout, tenant))
        .map_err(|e| error(format!("reading the pool: {e}")))?;
    let json = args.pool.place.format == Format::Json;
    let located = match held.as_slice() {
        [] => None,
        [(from, t, _)] => Some((*from, t.clone())),
        many => {
            let list: Vec<String> = many.iter().map(|(s, _, _)| describe(&pool, *s).0).collect();
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "tenant `{}` has rows on {}: {}",
                tenant.escape_debug(),
                count(many.len(), "shard"),
                list.join(", ")
            ))
            .with_help(
                "run `d1kit reshard` first: it makes the tenant whole again",
            )]));
        }
    };
    let (from, value) = match located {
        Some((from, value)) if from != to => (from, value),
        // No rows yet, or already there: the pin alone sends it there.
        other => {
            if !args.dry_run {
                block_on(online::pin(directory, &[(tenant.clone(), to)]))
                    .map_err(|e| error(format!("{binding}: {e}")))?;
            }
            let moved = Outcome::Moved {
                rows: 0,
                renumbered: Vec::new(),
            };
            let from = other.map(|(from, _)| from);
            return print_move(args, &pool, from, to, Ok(moved), Duration::ZERO).map(|_| false);
        }
    };
    if args.dry_run {
        return print_move(
            args,
            &pool,
            Some(from),
            to,
            Err("dry run: nothing moved".into()),
            Duration::ZERO,
        )
        .map(|_| false);
    }
    if !args.yes {
        let (a, b) = (describe(&pool, from).0, describe(&pool, to).0);
        let what = format!(
            "tenant move would move `{}` from {a} to {b}",
            tenant.escape_debug()
        );
        if !ask(
            &what,
            &format!("move `{}` from {a} to {b}?", tenant.escape_debug()),
        )? {
            return Err(error("nothing moved: not confirmed"));
        }
    }
    if !json {
        eprintln!(
            "moving `{}` online through {binding}: it is refused (Error::TenantMoving) for about {:.1} s",
            tenant.escape_debug(),
            args.settle as f64 / 1000.0
        );
    }
    let mv = Move {
        tenant: value,
        from,
        to,
    };
    let start = Instant::now();
    let wait = || std::thread::sleep(Duration::from_millis(args.settle));
    let settle = online::Settle {
        wait: &wait,
        wave: 1,
        renumber: args.renumber,
    };
    let outcome = block_on(online::move_one(
        &pool.layout,
        &mv,
        &pool.dbs[from as usize],
        &pool.dbs[to as usize],
        directory,
        pool.db.shards,
        &settle,
    ))
    .map_err(|e| e.to_string());
    let refused = !matches!(outcome, Ok(Outcome::Moved { .. }));
    print_move(args, &pool, Some(from), to, outcome, start.elapsed())?;
    Ok(refused)
}

/// `d1kit tenant delete`: always `Ok(false)` once deleted (or nothing to delete).
fn delete_tenant(args: &TenantDeleteArgs) -> Result<bool, Diagnostics> {
    let pool = crate::reshard::open_pool(&args.pool.place)?;
    let key = &args.pool.tenant;
    let shown = key.escape_debug().to_string();
    let held = block_on(reshard::locate(&pool.dbs, &pool.layout, key))
        .map_err(|e| error(format!("reading the pool: {e}")))?;
    // Per shard holding rows: the tenant as its rows spell it, and its rows per table.
    let mut found = Vec::new();
    for (shard, tenant, _) in &held {
        let rows = block_on(d1_runtime::tenant::rows(
            &pool.dbs[*shard as usize],
            &pool.layout,
            tenant,
        ))
        .map_err(|e| error(format!("{}: {e}", describe(&pool, *shard).0)))?;
        found.push((*shard, tenant.clone(), rows));
    }
    let total: u64 = found
        .iter()
        .flat_map(|(_, _, rows)| rows.iter().map(|t| t.rows))
        .sum();
    let json = args.pool.place.format == Format::Json;
    let shards_json = |found: &[(u32, reshard::Tenant, Vec<TableRows>)]| {
        found
            .iter()
            .map(|(s, _, rows)| {
                json!({
                    "shard": s,
                    "binding": describe(&pool, *s).0,
                    "tables": tables_json(rows),
                })
            })
            .collect::<Vec<Value>>()
    };
    let lines = |found: &[(u32, reshard::Tenant, Vec<TableRows>)]| {
        for (s, _, rows) in found {
            println!(
                "  {}: {} ({})",
                describe(&pool, *s).0,
                count(rows.iter().map(|t| t.rows as usize).sum(), "row"),
                table_list(rows)
            );
        }
    };
    if args.dry_run {
        if json {
            println!(
                "{}",
                json!({"database": pool.db.name, "tenant": key, "dry_run": true, "rows": total, "shards": shards_json(&found)})
            );
        } else {
            println!(
                "tenant `{shown}` of `{}`: {} to delete (dry run: nothing deleted)",
                pool.db.name,
                count(total as usize, "row")
            );
            lines(&found);
        }
        return Ok(false);
    }
    if total > 0 && !args.yes {
        let what = format!(
            "tenant delete would delete {} of tenant `{shown}`",
            count(total as usize, "row")
        );
        if !ask(
            &what,
            &format!(
                "delete every row of tenant `{shown}` ({}) from `{}`? This cannot be undone.",
                count(total as usize, "row"),
                pool.db.name
            ),
        )? {
            return Err(error("nothing deleted: not confirmed"));
        }
    }
    let start = Instant::now();
    let mut deleted = Vec::new();
    for (shard, tenant, _) in &found {
        let rows = block_on(d1_runtime::tenant::delete(
            &pool.dbs[*shard as usize],
            &pool.layout,
            tenant,
        ))
        .map_err(|e| {
            error(format!(
                "{}: {e} (run the same command again: it resumes)",
                describe(&pool, *shard).0
            ))
        })?;
        deleted.push((*shard, tenant.clone(), rows));
    }
    if let Some((binding, directory)) = &pool.directory {
        block_on(online::unpin(directory, key)).map_err(|e| error(format!("{binding}: {e}")))?;
    }
    let left = block_on(reshard::locate(&pool.dbs, &pool.layout, key))
        .map_err(|e| error(format!("checking the pool afterwards: {e}")))?;
    if !left.is_empty() {
        let list: Vec<String> = left
            .iter()
            .map(|(s, _, n)| format!("{} on {}", count(*n as usize, "row"), describe(&pool, *s).0))
            .collect();
        return Err(error(format!(
            "tenant `{shown}` still has rows after the delete ({}): a write raced it; run the command again",
            list.join(", ")
        )));
    }
    let rows: u64 = deleted
        .iter()
        .flat_map(|(_, _, rows)| rows.iter().map(|t| t.rows))
        .sum();
    if json {
        println!(
            "{}",
            json!({"database": pool.db.name, "tenant": key, "dry_run": false, "rows": rows, "shards": shards_json(&deleted), "elapsed_ms": start.elapsed().as_secs_f64() * 1000.0})
        );
    } else if rows == 0 {
        println!(
            "tenant `{shown}` of `{}`: no rows, nothing to delete",
            pool.db.name
        );
    } else {
        println!(
            "deleted tenant `{shown}` of `{}`: {} in {:.2} s; none left",
            pool.db.name,
            count(rows as usize, "row"),
            start.elapsed().as_secs_f64()
        );
        lines(&deleted);
    }
    Ok(false)
}

/// Rows per table, for people: `notes 8, comments 3`.
pub(crate) fn table_list(tables: &[TableRows]) -> String {
    let list: Vec<String> = tables
        .iter()
        .map(|t| format!("{} {}", report::escape(&t.table), t.rows))
        .collect();
    list.join(", ")
}

/// Rows per table, for programs.
pub(crate) fn tables_json(tables: &[TableRows]) -> Value {
    tables
        .iter()
        .map(|t| json!({"table": t.table, "rows": t.rows}))
        .collect()
}

/// `d1kit tenant export`: always `Ok(false)` once written.
fn export_tenant(args: &TenantExportArgs) -> Result<bool, Diagnostics> {
    let json = args.pool.place.format == Format::Json;
    if json && args.output.is_none() {
        return Err(Diagnostics(vec![Diagnostic::error(
            "--format json prints its report on stdout, where the export goes without -o",
        )
        .with_help("pass -o FILE")]));
    }
    let pool = crate::reshard::open_pool(&args.pool.place)?;
    let key = &args.pool.tenant;
    let shown = key.escape_debug().to_string();
    let held = block_on(reshard::locate(&pool.dbs, &pool.layout, key))
        .map_err(|e| error(format!("reading the pool: {e}")))?;
    let (shard, tenant) = match held.as_slice() {
        [] => {
            return Err(error(format!(
                "tenant `{shown}` has no rows in `{}`: nothing to export",
                pool.db.name
            )))
        }
        [(shard, tenant, _)] => (*shard, tenant.clone()),
        [(first, _, _), ..] if held.iter().all(|(s, _, _)| s == first) => {
            return Err(error(format!(
                "tenant `{shown}`'s rows on {} hold it both as text and as an integer: an export holds one of them",
                describe(&pool, *first).0
            )))
        }
        many => {
            let list: Vec<String> = many.iter().map(|(s, _, _)| describe(&pool, *s).0).collect();
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "tenant `{shown}` has rows on {}: {}",
                count(many.len(), "shard"),
                list.join(", ")
            ))
            .with_help("run `d1kit reshard` first: it makes the tenant whole again")]));
        }
    };
    let binding = describe(&pool, shard).0;
    let start = Instant::now();
    let text = block_on(d1_runtime::tenant::export(
        &pool.dbs[shard as usize],
        &pool.db.name,
        &pool.layout,
        &tenant,
    ))
    .map_err(|e| error(format!("{binding}: {e}")))?;
    let file = d1_runtime::tenant::read(&text)
        .map_err(|e| error(format!("the export does not read back: {e}")))?;
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| error(format!("writing the export to stdout: {e}")))?;
        }
        Some(path) => write_privately(path, &text)
            .map_err(|e| error(format!("writing {}: {e}", path.display())))?,
    }
    let elapsed = start.elapsed();
    if json {
        println!(
            "{}",
            json!({
                "database": pool.db.name,
                "tenant": key,
                "shard": shard,
                "binding": binding,
                "file": args.output.as_ref().map(|p| p.display().to_string()),
                "rows": file.rows(),
                "tables": tables_json(&file.tables),
                "bytes": text.len(),
                "sha256": file.sha256,
                "migrations": file.migrations.len(),
                "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
            })
        );
        return Ok(false);
    }
    let line = format!(
        "exported tenant `{shown}` of `{}` from {binding}: {} ({}) to {} in {:.2} s, sha256 {}",
        pool.db.name,
        count(file.rows() as usize, "row"),
        table_list(&file.tables),
        args.output
            .as_ref()
            .map_or("stdout".to_string(), |p| report::escape(
                &p.display().to_string()
            )
            .into_owned()),
        elapsed.as_secs_f64(),
        &file.sha256[..12.min(file.sha256.len())]
    );
    // Without -o the export is on stdout: the summary goes beside it.
    if args.output.is_some() {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
    Ok(false)
}

/// Writes `text` to `path` through a new temporary file beside it (readable by its owner
/// only on Unix: an export holds a tenant's data), synced, then renamed over `path`.
pub(crate) fn write_privately(path: &Path, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.d1kit-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_ref())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `d1kit tenant import`: `Ok(false)` once imported (or checked, with --dry-run).
fn import_tenant(args: &TenantImportArgs) -> Result<bool, Diagnostics> {
    let key = &args.pool.tenant;
    let shown = key.escape_debug().to_string();
    let from = if args.file == Path::new("-") {
        "stdin".to_string()
    } else {
        report::escape(&args.file.display().to_string()).into_owned()
    };
    let mut bytes = Vec::new();
    let read = if args.file == Path::new("-") {
        std::io::stdin().lock().read_to_end(&mut bytes).map(drop)
    } else {
        std::fs::read(&args.file).map(|b| bytes = b)
    };
    read.map_err(|e| error(format!("reading {from}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        error(format!(
            "{from} is not UTF-8 text: not a d1kit tenant export"
        ))
    })?;
    let file = d1_runtime::tenant::read(&text).map_err(|e| error(format!("{from}: {e}")))?;
    if file.tenant.key != *key {
        return Err(error(format!(
            "{from} holds tenant `{}`, not `{shown}`",
            file.tenant.key.escape_debug()
        )));
    }
    let pool = crate::reshard::open_pool(&args.pool.place)?;
    let (shard, pin) = routed(&pool, key).map_err(error)?;
    if matches!(pin, Some(Pin::Moving(_))) {
        return Err(error(format!(
            "tenant `{shown}` is being moved: import it once the move has ended (`d1kit tenant locate {shown}`)"
        )));
    }
    let Some(db) = pool.dbs.get(shard as usize) else {
        return Err(error(format!(
            "tenant `{shown}` is routed to shard {shard}, which is not in the pool"
        )));
    };
    let binding = describe(&pool, shard).0;
    let held = block_on(reshard::locate(&pool.dbs, &pool.layout, key))
        .map_err(|e| error(format!("reading the pool: {e}")))?;
    let elsewhere: Vec<String> = held
        .iter()
        .filter(|(s, t, _)| *s != shard || t.value != file.tenant.value)
        .map(|(s, t, n)| {
            format!(
                "{} on {}{}",
                count(*n as usize, "row"),
                describe(&pool, *s).0,
                if t.value == file.tenant.value {
                    ""
                } else if matches!(t.value, d1_runtime::Value::Integer(_)) {
                    " (as an integer)"
                } else {
                    " (as text)"
                }
            )
        })
        .collect();
    if !elsewhere.is_empty() {
        return Err(Diagnostics(vec![Diagnostic::error(format!(
            "tenant `{shown}` has rows the import would not replace ({}), and is routed to {binding}: importing would split it",
            elsewhere.join(", ")
        ))
        .with_help(
            "delete them first (`d1kit tenant delete`), or bring them where it is routed (`d1kit reshard`)",
        )]));
    }
    let state = match pin {
        None => "routed by its hash",
        _ => "pinned in the directory",
    };
    let plan = block_on(d1_runtime::tenant::plan_import(
        db,
        &pool.db.name,
        &pool.layout,
        &file.tenant,
        &text,
        args.replace,
    ))
    .map_err(|e| error(format!("{binding}: {e}")))?;
    let existing: u64 = plan.existing.iter().map(|t| t.rows).sum();
    let json = args.pool.place.format == Format::Json;
    // The `--format json` report of a dry run and of an import: what is (or would be)
    // written and deleted, plus `more`.
    let report = |tables: &[TableRows], deleted: &[TableRows], more: Value| {
        let mut report = json!({
            "database": pool.db.name,
            "tenant": key,
            "shard": shard,
            "binding": binding,
            "dry_run": args.dry_run,
            "replace": args.replace,
            "rows": file.rows(),
            "tables": tables_json(tables),
            "deleted": deleted.iter().map(|t| t.rows).sum::<u64>(),
            "deleted_tables": tables_json(deleted),
        });
        if let (Some(report), Value::Object(more)) = (report.as_object_mut(), more) {
            report.extend(more);
        }
        report
    };
    let how = if plan.one_batch {
        "in one transaction"
    } else {
        "fenced, in chunks"
    };
    if args.dry_run {
        if json {
            println!(
                "{}",
                report(
                    &file.tables,
                    &plan.existing,
                    json!({"one_batch": plan.one_batch})
                )
            );
        } else {
            println!(
                "tenant `{shown}` of `{}`: {} to import into {binding} (shard {shard}, {state}) {how} (dry run: nothing written)",
                pool.db.name,
                count(file.rows() as usize, "row")
            );
            if !file.tables.is_empty() {
                println!("  from {from}: {}", table_list(&file.tables));
            }
            if existing > 0 {
                println!(
                    "  replacing {}: {}",
                    count(existing as usize, "row"),
                    table_list(&plan.existing)
                );
            }
        }
        return Ok(false);
    }
    if existing > 0 && !args.yes {
        let what = format!(
            "tenant import --replace would delete {} of tenant `{shown}`",
            count(existing as usize, "row")
        );
        if !ask(
            &what,
            &format!(
                "delete the {} tenant `{shown}` has on {binding} and import {} from {from}?",
                count(existing as usize, "row"),
                count(file.rows() as usize, "row")
            ),
        )? {
            return Err(error("nothing imported: not confirmed"));
        }
    }
    let start = Instant::now();
    let done = block_on(d1_runtime::tenant::import(
        db,
        &pool.db.name,
        &pool.layout,
        &file.tenant,
        &text,
        args.replace,
    ))
    .map_err(|e| error(format!("{binding}: {e}")))?;
    let deleted: u64 = done.deleted.iter().map(|t| t.rows).sum();
    if json {
        println!(
            "{}",
            report(
                &done.inserted,
                &done.deleted,
                json!({
                    "batches": done.batches,
                    "chunked": done.chunked,
                    "elapsed_ms": start.elapsed().as_secs_f64() * 1000.0,
                })
            )
        );
    } else {
        println!(
            "imported tenant `{shown}` of `{}` into {binding}: {} in {}{} in {:.2} s",
            pool.db.name,
            count(file.rows() as usize, "row"),
            count(done.batches, "transaction"),
            if deleted > 0 {
                format!(", replacing {}", count(deleted as usize, "row"))
            } else {
                String::new()
            },
            start.elapsed().as_secs_f64()
        );
        if !done.inserted.is_empty() {
            println!("  {}", table_list(&done.inserted));
        }
    }
    Ok(false)
}

fn print_move(
    args: &TenantMoveArgs,
    pool: &Pool,
    from: Option<u32>,
    to: u32,
    outcome: Result<Outcome, String>,
    elapsed: Duration,
) -> Result<(), Diagnostics> {
    let tenant = &args.pool.tenant;
    let from_binding = from.map(|f| describe(pool, f).0);
    let to_binding = describe(pool, to).0;
    match args.pool.place.format {
        Format::Json => {
            let (status, detail) = match &outcome {
                Ok(Outcome::Moved { rows, renumbered }) => (
                    "moved",
                    json!({ "rows": rows, "renumbered": renumbered_json(renumbered) }),
                ),
                Ok(Outcome::Refused(r)) => ("refused", json!({ "reason": r.to_string() })),
                Err(e) if args.dry_run => ("planned", json!({ "note": e })),
                Err(e) => ("failed", json!({ "error": e })),
            };
            println!(
                "{}",
                json!({
                    "database": pool.db.name,
                    "tenant": tenant,
                    "from": from,
                    "from_binding": from_binding,
                    "to": to,
                    "to_binding": to_binding,
                    "status": status,
                    "detail": detail,
                    "seconds": elapsed.as_secs_f64(),
                })
            );
        }
        Format::Text => {
            let t = tenant.escape_debug();
            match (&outcome, from_binding) {
                (Ok(_), None) => println!("`{t}` has no rows yet: pinned to {to_binding}"),
                (Ok(Outcome::Moved { rows: 0, .. }), Some(_)) if from == Some(to) => {
                    println!("`{t}` is already on {to_binding}: pinned there")
                }
                (Ok(Outcome::Moved { rows, renumbered }), Some(f)) => {
                    println!(
                        "moved `{t}`: {f} -> {to_binding}, {} in {:.2} s; pinned to {to_binding}",
                        count(*rows as usize, "row"),
                        elapsed.as_secs_f64()
                    );
                    for line in renumbered_lines(renumbered) {
                        println!("  {line}");
                    }
                }
                (Ok(Outcome::Refused(r)), Some(f)) => {
                    println!(
                        "`{t}` not moved, it stays whole on {f} (pinned there): {}",
                        report::escape(&r.to_string())
                    )
                }
                (Err(e), Some(f)) if args.dry_run => {
                    println!("would move `{t}`: {f} -> {to_binding} ({e})")
                }
                (Err(e), _) => println!(
                    "`{t}` not moved: {}; it is whole on one shard, and refused until `d1kit tenant move` is run again",
                    report::escape(e)
                ),
            }
        }
    }
    Ok(())
}

/// Each old -> new id, for people.
pub(crate) fn renumbered_lines(ids: &[Renumbered]) -> Vec<String> {
    ids.iter()
        .map(|r| {
            format!(
                "renumbered {}.{}: {} -> {}",
                report::escape(&r.table),
                report::escape(&r.column),
                r.old,
                r.new
            )
        })
        .collect()
}

/// Each old -> new id, for programs.
pub(crate) fn renumbered_json(ids: &[Renumbered]) -> Value {
    ids.iter()
        .map(|r| json!({ "table": r.table, "column": r.column, "old": r.old, "new": r.new }))
        .collect()
}
