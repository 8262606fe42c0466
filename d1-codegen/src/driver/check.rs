//! One query checked as the macros check it: the database loaded, the memo consulted, the
//! analysis and the lints run as the configuration and the query's options say.

use super::memo;
use super::project::{self, Loaded};
use crate::analyze::Signature;
use crate::config::{DatabaseConfig, Level};
use crate::diagnostic::Diagnostics;
use crate::lint::{self, Checks, QueryOptions};
use std::path::PathBuf;

/// A query analysed and ready to emit.
#[derive(Debug)]
pub struct Checked {
    /// Its signature (no warnings: the macros cannot show them).
    pub sig: Signature,
    /// The SQL as D1 receives it.
    pub d1_sql: String,
    /// Files rustc must track (only on the first expansion of the process).
    pub track: Vec<PathBuf>,
    /// The database's routing when it scopes tenants by a column and the query does not opt
    /// out: what `#[derive(Query)]` needs to route by the tenant field.
    pub routing: Option<Routing>,
}

/// How a tenant-scoped query finds its database: the tenant column, and the pool's binding
/// and size.
#[derive(Debug)]
pub struct Routing {
    /// The configured `tenant_column`.
    pub tenant_column: String,
    /// The binding, or the prefix of the pool's bindings.
    pub binding: String,
    /// The pool's size.
    pub shards: u32,
}

/// Why a query could not be checked.
#[derive(Debug)]
pub enum Failure {
    /// The configuration or the migrations are wrong (errors point at the database's name).
    Config(Diagnostics),
    /// The SQL is wrong (errors point into the query).
    Sql(Diagnostics),
}

/// Loads the database `database` names (or the only one) and runs `f` on it.
pub(crate) fn with_database<R>(
    database: Option<&str>,
    f: impl FnOnce(&mut Loaded) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let shared = project::database(database).map_err(|mut d| {
        // `sql!(cross_tenant, ..)` names a database; the opt-out is an attribute.
        if let Some(name @ ("cross_tenant" | "unscoped")) = database {
            for diag in &mut d.0 {
                diag.help = Some(format!(
                    "to skip the tenant-column check, write `sql!(#[cross_tenant] \"...\")` (`{name}` here names a database)"
                ));
            }
        }
        Failure::Config(d)
    })?;
    let mut loaded = shared.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut loaded)
}

/// Analyses `sql` against the named database. The database's tenant column is checked unless
/// `options.cross_tenant`, full scans are denied as `lints.full_scan` says unless
/// `options.allow_full_scan`.
pub fn check(database: Option<&str>, sql: &str, options: QueryOptions) -> Result<Checked, Failure> {
    // Configuration errors are left to `with_database`, which reports them.
    let fingerprint = project::fingerprint(database).ok();
    let track = || {
        fingerprint
            .as_ref()
            .map_or_else(Vec::new, |f| f.untracked_files())
    };
    let routing = |db: &DatabaseConfig| {
        db.tenant_column
            .as_ref()
            .filter(|_| !options.cross_tenant)
            .map(|column| Routing {
                tenant_column: column.clone(),
                binding: db.binding.clone(),
                shards: db.shards,
            })
    };
    if let Some(f) = &fingerprint {
        if let Some(kept) = memo::get(f, sql, options) {
            return Ok(Checked {
                sig: kept.sig,
                d1_sql: kept.d1_sql,
                routing: routing(&f.database),
                track: track(),
            });
        }
    }
    with_database(database, |loaded| {
        let checks = Checks {
            tenant_column: loaded
                .database
                .tenant_column
                .as_deref()
                .filter(|_| !options.cross_tenant),
            // A proc macro cannot warn on stable: only a denied lint is worth the plan.
            full_scan: match loaded.database.lints.full_scan {
                Level::Deny if !options.allow_full_scan => Level::Deny,
                _ => Level::Allow,
            },
        };
        let analysis = loaded.analyzer.analysis(sql).map_err(Failure::Sql)?;
        let d1_sql = analysis.d1_sql();
        let mut sig = lint::lint(&loaded.analyzer, analysis, checks).map_err(Failure::Sql)?;
        // The macros cannot show warnings; the memo does not keep them.
        sig.warnings.clear();
        let kept = memo::Kept { sig, d1_sql };
        if let Some(f) = &fingerprint {
            memo::put(f, sql, options, &kept);
        }
        Ok(Checked {
            sig: kept.sig,
            d1_sql: kept.d1_sql,
            routing: routing(&loaded.database),
            track: track(),
        })
    })
}
