//! `d1kit tenant delete|export|import TENANT --remote --tenants-in ID`: a tenant with its own
//! database (`rest::Tenants`), recorded in the directory kept in database ID. A delete goes
//! through `d1_runtime::rest::delete_database_of` (record marked, database deleted, record
//! removed: an order a crash cannot spoil); export and import through D1's export and import
//! APIs (`rest::Client::export`, `rest::Client::import`).

use crate::api;
use crate::config::Crate;
use crate::report::{self, count};
use crate::reshard::{ask, error};
use crate::tenant::{table_list, tables_json};
use crate::{Format, TenantDeleteArgs};
use d1_codegen::Diagnostics;
use d1_runtime::rest::{self, Client};
use d1_runtime::route::{unmarked, TableDirectory, DELETING};
use d1_runtime::tenant::TableRows;
use d1_runtime::{block_on, Executor, Sql, Value};
use serde_json::json;
use std::time::Instant;

/// The tenant's database as the directory (or, without a record, the account) knows it.
struct Found {
    /// Its id.
    id: String,
    /// Whether the directory records it, and whether that record is marked as being deleted.
    record: Option<bool>,
    /// Rows per table (`None`: the database is gone already).
    tables: Option<Vec<TableRows>>,
}

/// `d1kit tenant delete --tenants-in ID`: always `Ok(false)` once deleted (or nothing to do).
pub(crate) fn delete(args: &TenantDeleteArgs, directory_id: &str) -> Result<bool, Diagnostics> {
    let place = &args.pool.place;
    let tenant = &args.pool.tenant;
    let shown = tenant.escape_debug().to_string();
    let client = remote_only(place, "delete")?;
    let prefix = match &args.prefix {
        Some(prefix) => prefix.clone(),
        None => {
            let krate = Crate::load(place.manifest_path.clone())?;
            let db = krate
                .config
                .database(place.database.as_deref())
                .map_err(|d| Diagnostics(vec![d]))?;
            db.name.clone()
        }
    };
    let name = rest::database_name(&prefix, tenant);
    let home = client.database(directory_id.to_owned());
    let found =
        find(&client, &home, tenant, &name).map_err(|e| error(format!("tenant `{shown}`: {e}")))?;
    let rows: u64 = found
        .as_ref()
        .and_then(|f| f.tables.as_ref())
        .map_or(0, |t| t.iter().map(|t| t.rows).sum());
    let json = place.format == Format::Json;
    let report = |dry_run: bool, found: &Option<Found>, elapsed: Option<f64>| {
        json!({
            "tenant": tenant,
            "directory": directory_id,
            "database_name": name,
            "database_id": found.as_ref().map(|f| f.id.clone()),
            "recorded": found.as_ref().is_some_and(|f| f.record.is_some()),
            "marked_deleting": found.as_ref().is_some_and(|f| f.record == Some(true)),
            "database_exists": found.as_ref().is_some_and(|f| f.tables.is_some()),
            "dry_run": dry_run,
            "rows": rows,
            "tables": found.as_ref().and_then(|f| f.tables.as_deref()).map(tables_json),
            "elapsed_ms": elapsed,
        })
    };
    let describe = |found: &Found| {
        let what = match &found.tables {
            Some(tables) if tables.is_empty() => "no tables".to_owned(),
            Some(tables) => format!("{} ({})", count(rows as usize, "row"), table_list(tables)),
            None => "already deleted".to_owned(),
        };
        let record = match found.record {
            Some(true) => "recorded, marked as being deleted (an earlier delete stopped midway)",
            Some(false) => "recorded",
            None => "not recorded (a first use that stopped before recording it)",
        };
        format!(
            "database {} `{}`: {what}; {record}",
            found.id,
            report::escape(&name)
        )
    };
    let Some(target) = &found else {
        if json {
            println!("{}", report(args.dry_run, &found, None));
        } else {
            println!(
                "tenant `{shown}`: no database (no record in {directory_id}, no database named `{}`), nothing to delete",
                report::escape(&name)
            );
        }
        return Ok(false);
    };
    if args.dry_run {
        if json {
            println!("{}", report(true, &found, None));
        } else {
            println!(
                "tenant `{shown}`: {} to delete (dry run: nothing deleted)",
                describe(target)
            );
        }
        return Ok(false);
    }
    if !args.yes {
        let what = format!(
            "tenant delete would delete database {} of tenant `{shown}`",
            target.id
        );
        if !ask(
            &what,
            &format!(
                "delete tenant `{shown}`'s {}? This cannot be undone.",
                describe(target)
            ),
        )? {
            return Err(error("nothing deleted: not confirmed"));
        }
    }
    let start = Instant::now();
    let directory = TableDirectory::new(&home);
    let done =
        block_on(rest::delete_database_of(&client, &directory, tenant, &name)).map_err(|e| {
            error(format!(
                "tenant `{shown}`: {e} (run the same command again: it finishes the job)"
            ))
        })?;
    // Checked afterwards: neither the database nor the record is left.
    let left = done
        .database_id
        .as_deref()
        .map(|id| block_on(client.get_database(id)))
        .transpose()
        .map_err(|e| error(format!("checking afterwards: {e}")))?
        .flatten();
    let record = block_on(record_of(&home, tenant))
        .map_err(|e| error(format!("checking afterwards: {e}")))?;
    if left.is_some() || record.is_some() {
        return Err(error(format!(
            "tenant `{shown}`: after the delete, {} still there: run the command again",
            match (left.is_some(), record.is_some()) {
                (true, true) => "its database and its record are",
                (true, false) => "its database is",
                _ => "its record is",
            }
        )));
    }
    let elapsed = start.elapsed().as_secs_f64();
    if json {
        println!("{}", report(false, &found, Some(elapsed * 1000.0)));
    } else {
        println!(
            "deleted tenant `{shown}`: {} in {elapsed:.2} s; database and record gone",
            describe(target)
        );
    }
    Ok(false)
}

/// The tenant's database: its record in the directory (marked or not), else the database of
/// its name; with its rows per table when it still exists.
fn find(
    client: &Client,
    home: &rest::Database,
    tenant: &str,
    name: &str,
) -> d1_runtime::Result<Option<Found>> {
    let (id, record) = match block_on(record_of(home, tenant))? {
        Some(recorded) => (
            unmarked(&recorded).to_owned(),
            Some(recorded.starts_with(DELETING)),
        ),
        None => match block_on(client.find_database(name))? {
            Some(info) => (info.uuid, None),
            None => return Ok(None),
        },
    };
    let tables = match block_on(client.get_database(&id))? {
        Some(_) => Some(block_on(d1_runtime::tenant::database_rows(
            &client.database(id.clone()),
        ))?),
        None => None,
    };
    Ok(Some(Found { id, record, tables }))
}

/// The tenant's record in the directory, as stored (with the deleting mark, if any).
async fn record_of(home: &rest::Database, tenant: &str) -> d1_runtime::Result<Option<String>> {
    Ok(home
        .first(Sql::<(String,)>::new(
            "SELECT database_id FROM d1kit_tenant_databases WHERE tenant = ?1",
            vec![Value::from(tenant)],
        ))
        .await
        .map_err(|e| e.context("reading the directory (table d1kit_tenant_databases)"))?
        .map(|(id,)| id))
}

/// The configured database's name (the tenants' database name prefix) and migrations.
fn configured(
    place: &crate::PoolArgs,
) -> Result<(String, &'static [d1_runtime::Migration]), Diagnostics> {
    let krate = Crate::load(place.manifest_path.clone())?;
    let db = krate
        .config
        .database(place.database.as_deref())
        .map_err(|d| Diagnostics(vec![d]))?;
    Ok((db.name.clone(), crate::fleet::load_migrations(db)?))
}

fn remote_only(place: &crate::PoolArgs, command: &str) -> Result<Client, Diagnostics> {
    if !place.remote {
        return Err(error(
            "--tenants-in: a tenant's own database lives on Cloudflare (`rest::Tenants` creates it \
             through the API): pass --remote",
        ));
    }
    api::client(
        &format!("`d1kit tenant {command} --remote` goes through Cloudflare's API"),
        "they are wrangler's variables too",
    )
}

/// `d1kit tenant export --tenants-in ID`: the tenant's own database through D1's export API
/// (a SQL dump, as `wrangler d1 export` writes it), to FILE or stdout.
pub(crate) fn export(
    args: &crate::TenantExportArgs,
    directory_id: &str,
) -> Result<bool, Diagnostics> {
    let place = &args.pool.place;
    let tenant = &args.pool.tenant;
    let shown = tenant.escape_debug().to_string();
    let client = remote_only(place, "export")?;
    let home = client.database(directory_id.to_owned());
    let id = match block_on(record_of(&home, tenant)).map_err(|e| error(e.to_string()))? {
        Some(recorded) if recorded.starts_with(DELETING) => {
            return Err(error(format!(
                "tenant `{shown}`'s database is being deleted: nothing to export"
            )))
        }
        Some(id) => id,
        None => {
            return Err(error(format!(
                "tenant `{shown}` has no database recorded in {directory_id}: nothing to export"
            )))
        }
    };
    let start = Instant::now();
    let dump = block_on(client.export(&id, &rest::ExportOptions::default()))
        .map_err(|e| error(format!("tenant `{shown}`: {e}")))?;
    match &args.output {
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&dump.sql)
                .and_then(|()| out.flush())
                .map_err(|e| error(format!("writing the export to stdout: {e}")))?;
        }
        Some(path) => crate::tenant::write_privately(path, &dump.sql)
            .map_err(|e| error(format!("writing {}: {e}", path.display())))?,
    }
    let elapsed = start.elapsed().as_secs_f64();
    if place.format == Format::Json {
        println!(
            "{}",
            json!({"tenant": tenant, "database_id": id, "file": args.output, "bytes": dump.sql.len(), "bookmark": dump.bookmark, "elapsed_ms": elapsed * 1000.0})
        );
    } else if let Some(path) = &args.output {
        eprintln!(
            "exported tenant `{shown}`'s database {id} (at bookmark {}) to {}: {} bytes in {elapsed:.2} s",
            dump.bookmark,
            path.display(),
            dump.sql.len()
        );
    }
    Ok(false)
}

/// `d1kit tenant import --tenants-in ID`: a dump (`tenant export --tenants-in`, or
/// `wrangler d1 export`) becomes the tenant's database again: a new database of the tenant's
/// name, the dump imported through D1's import API, its migrations checked against the
/// configuration, then recorded. A tenant that has a database is refused unless --replace
/// (which deletes it first, as `tenant delete` does). A dump at another migration version
/// is refused and the new database deleted: nothing is recorded.
pub(crate) fn import(
    args: &crate::TenantImportArgs,
    directory_id: &str,
) -> Result<bool, Diagnostics> {
    let place = &args.pool.place;
    let tenant = &args.pool.tenant;
    let shown = tenant.escape_debug().to_string();
    let (prefix, migrations) = configured(place)?;
    let sql = if args.file == std::path::Path::new("-") {
        use std::io::Read;
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| error(format!("reading stdin: {e}")))?;
        buf
    } else {
        std::fs::read(&args.file).map_err(|e| error(format!("{}: {e}", args.file.display())))?
    };
    let client = remote_only(place, "import")?;
    let home = client.database(directory_id.to_owned());
    let name = rest::database_name(&prefix, tenant);
    let existing = find(&client, &home, tenant, &name).map_err(|e| error(e.to_string()))?;
    if let Some(found) = &existing {
        if !args.replace {
            return Err(Diagnostics(vec![d1_codegen::Diagnostic::error(format!(
                "tenant `{shown}` has a database already: {}",
                found.id
            ))
            .with_help(
                "pass --replace to delete it first (or `d1kit tenant delete` it)",
            )]));
        }
    }
    if args.dry_run {
        println!(
            "tenant `{shown}`: {} bytes of SQL would be imported into a new database `{}`{} (dry run: nothing done)",
            sql.len(),
            report::escape(&name),
            if existing.is_some() { ", after its database is deleted" } else { "" }
        );
        return Ok(false);
    }
    if existing.is_some()
        && !args.yes
        && !ask(
            &format!("tenant import --replace would delete tenant `{shown}`'s database"),
            &format!(
                "delete tenant `{shown}`'s database and import {} in its place?",
                args.file.display()
            ),
        )?
    {
        return Err(error("nothing imported: not confirmed"));
    }
    let start = Instant::now();
    let directory = TableDirectory::new(&home);
    if existing.is_some() {
        block_on(rest::delete_database_of(&client, &directory, tenant, &name))
            .map_err(|e| error(format!("deleting tenant `{shown}`'s database first: {e}")))?;
    }
    let fail = |what: &str, e: d1_runtime::Error| error(format!("tenant `{shown}`: {what}: {e}"));
    let (info, _) = block_on(client.create_or_adopt(&name, &rest::CreateOptions::default()))
        .map_err(|e| fail("creating its database", e))?;
    let db = client.database(info.uuid.clone());
    // Not recorded until it holds the dump at the configured migrations: a failure leaves a
    // database nobody uses, deleted here (or by the next `tenant delete`).
    let checked = (|| -> Result<rest::Imported, Diagnostics> {
        let tables = block_on(d1_runtime::tenant::database_rows(&db))
            .map_err(|e| fail("reading its new database", e))?;
        if !tables.is_empty() {
            return Err(error(format!(
                "tenant `{shown}`: database `{}` ({}) exists already and has tables, without a record: delete it first (`d1kit tenant delete`)",
                report::escape(&name),
                info.uuid
            )));
        }
        let imported =
            block_on(client.import(&info.uuid, &sql)).map_err(|e| fail("importing", e))?;
        let applied = block_on(d1_runtime::migrate::read_applied(&db))
            .map_err(|e| fail("reading its migrations", e))?;
        let expected: Vec<&str> = migrations.iter().map(|m| m.name).collect();
        if applied.names != expected {
            return Err(Diagnostics(vec![d1_codegen::Diagnostic::error(format!(
                "tenant `{shown}`: the dump is at another migration version: it has applied {} ({}), the configuration has {} ({}); nothing was recorded",
                count(applied.names.len(), "migration"),
                applied.names.last().map_or("none", String::as_str),
                count(expected.len(), "migration"),
                expected.last().copied().unwrap_or("none"),
            ))
            .with_help("import it into a build at its version, then migrate; or export the tenant again")]));
        }
        Ok(imported)
    })();
    let imported = match checked {
        Ok(imported) => imported,
        Err(d) => {
            let _ = block_on(client.delete_database(&info.uuid));
            return Err(d);
        }
    };
    let recorded = block_on(d1_runtime::route::DatabaseDirectory::record(
        &directory, tenant, &info.uuid,
    ))
    .map_err(|e| fail("recording its database", e))?;
    let rows = block_on(d1_runtime::tenant::database_rows(&db))
        .map_err(|e| fail("counting its rows", e))?;
    let total: u64 = rows.iter().map(|t| t.rows).sum();
    let elapsed = start.elapsed().as_secs_f64();
    if place.format == Format::Json {
        println!(
            "{}",
            json!({"tenant": tenant, "database_id": recorded, "replaced": existing.map(|f| f.id), "rows": total, "tables": tables_json(&rows), "final_bookmark": imported.final_bookmark, "num_queries": imported.num_queries, "elapsed_ms": elapsed * 1000.0})
        );
    } else {
        println!(
            "imported tenant `{shown}` into database {recorded} `{}`: {} ({}) in {elapsed:.2} s",
            report::escape(&name),
            count(total as usize, "row"),
            table_list(&rows)
        );
    }
    Ok(false)
}
