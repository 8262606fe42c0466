//! The configurable lints (`[package.metadata.d1kit.lints]` and the tenant column), run on what
//! the analysis read: [`tenant`] (tenant scoping, on the parsed statement), [`scan`] (full
//! scans, on the query plan) and [`cascade`] (dropping a table that children reference with an
//! `ON DELETE` action, on the migrations). D1's hard rules are in [`crate::rules`]: no
//! configuration turns those off.

pub mod cascade;
pub mod scan;
pub mod tenant;

pub use crate::config::Level;

use crate::analyze::{Analysis, Analyzer, Engine, Signature, TypedBy};
use crate::config::Lints;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::migrations::MigrationSet;

/// The lints of [`check`] that depend on the database's configuration and on the query's
/// options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks<'a> {
    /// The configured `tenant_column`: queries on tables that have it must constrain it to a
    /// parameter ([`tenant`]). `None` (no tenant column, or a query that opts out with
    /// `#[cross_tenant]`): not checked.
    pub tenant_column: Option<&'a str>,
    /// The full-scan lint ([`scan`]): off by default here; `d1kit check` warns, and the
    /// macros ask for it only when the configuration denies scans (they cannot warn).
    pub full_scan: Level,
}

/// The options a query is checked with, written before it (`sql!(#[cross_tenant]
/// #[allow(full_scan)] "...")`) or in `#[d1(cross_tenant, allow(full_scan), ..)]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct QueryOptions {
    /// `cross_tenant`: the query may cross tenants, so the tenant column is not checked.
    pub cross_tenant: bool,
    /// `allow(full_scan)`: a plan that reads every row of a table is no error for this query,
    /// whatever `lints.full_scan` says (an admin export, a nightly job).
    pub allow_full_scan: bool,
}

impl QueryOptions {
    /// One bit per option (how the memo keeps them).
    pub(crate) fn bits(self) -> u8 {
        u8::from(self.cross_tenant) | (u8::from(self.allow_full_scan) << 1)
    }

    /// The options of [`QueryOptions::bits`].
    pub(crate) fn from_bits(bits: u8) -> Option<QueryOptions> {
        (bits < 4).then_some(QueryOptions {
            cross_tenant: bits & 1 != 0,
            allow_full_scan: bits & 2 != 0,
        })
    }
}

/// The analyzer of a database's migrations, with the migration lints (`cascade_drop`) at the
/// levels of `lints`: a denied finding is an error, a warned one is among the analyzer's
/// warnings, an allowed one is dropped.
pub fn load(set: &MigrationSet, lints: &Lints) -> Result<Analyzer, Diagnostics> {
    load_on(set, lints, Engine::D1)
}

/// [`load`] for a database that `engine` runs (a Durable Object's storage, or D1).
pub fn load_on(set: &MigrationSet, lints: &Lints, engine: Engine) -> Result<Analyzer, Diagnostics> {
    let mut analyzer = Analyzer::from_migrations_on(set, engine)?;
    cascade::apply(&mut analyzer, lints.cascade_drop)?;
    Ok(analyzer)
}

/// Analyses `sql` and runs the lints `checks` asks for on the analysis. Every error found is
/// returned together: the tenant lint's with d1kit's own rules'.
pub fn check(analyzer: &Analyzer, sql: &str, checks: Checks<'_>) -> Result<Signature, Diagnostics> {
    let analysis = analyzer.analysis(sql)?;
    lint(analyzer, analysis, checks)
}

/// The lints `checks` asks for, on a statement `analyzer` has read.
pub fn lint(
    analyzer: &Analyzer,
    mut analysis: Analysis<'_>,
    checks: Checks<'_>,
) -> Result<Signature, Diagnostics> {
    if let Some(column) = checks.tenant_column {
        match &analysis.statement {
            Some(statement) => {
                let found = tenant::check(
                    statement,
                    analysis.text,
                    analysis.statement_tokens(),
                    analyzer.schema(),
                    column,
                );
                for d in found {
                    if d.is_error() {
                        analysis.policy.push(d);
                    } else {
                        analysis.signature.warnings.push(d);
                    }
                }
            }
            None => analysis.signature.warnings.push(tenant::unchecked(column)),
        }
    }
    if !analysis.policy.is_empty() {
        return Err(Diagnostics(analysis.policy));
    }
    if checks.full_scan != Level::Allow && analysis.typed_by == TypedBy::D1kit {
        let scans = scan::full_scans(
            analyzer.connection(),
            analyzer.schema(),
            analysis.text,
            analysis.statement_tokens(),
        );
        if checks.full_scan == Level::Deny && !scans.is_empty() {
            return Err(Diagnostics(
                scans.into_iter().map(Diagnostic::into_error).collect(),
            ));
        }
        analysis.signature.warnings.extend(scans);
    }
    Ok(analysis.signature)
}
