//! `d1kit tenant delete TENANT --remote --tenants-in ID`: a tenant with its own database
//! (`rest::Tenants`), recorded in the directory kept in database ID. The database and its
//! record go through `d1_runtime::rest::delete_database_of`, in an order a crash cannot spoil.

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
    if !place.remote {
        return Err(error(
            "--tenants-in: a tenant's own database lives on Cloudflare (`rest::Tenants` creates it \
             through the API): pass --remote",
        ));
    }
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
    let client = api::client(
        "`d1kit tenant delete --remote` deletes the tenant's database through Cloudflare's API",
        "`--dry-run` needs them too: it reads the directory",
    )?;
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
