//! `d1kit usage`: rows read and written, queries and storage per database, tenant and shard,
//! from Cloudflare's GraphQL analytics, with an estimated monthly cost.
//!
//! The fleet is the one `migrate` and `status` take (the wrangler file's d1kit blocks,
//! `--database-id`s, or a directory's tenant databases with `--tenants-in`), on Cloudflare
//! only: wrangler's local databases keep no analytics. The figures come from
//! `d1AnalyticsAdaptiveGroups` (one GraphQL request per 500 databases) and each database's
//! `file_size` (one `GET` per database, or the account's list when the fleet is large). The
//! cost arithmetic is [`cost`], a pure function over [`Monthly`] figures and [`Prices`].

use crate::config::Crate;
use crate::fleet::{self as cli_fleet, first_line, short_id, table, Backend, Fleet};
use crate::report::{count, escape};
use crate::{FleetArgs, Format};
use d1_codegen::{Diagnostic, Diagnostics};
use d1_runtime::block_on;
use d1_runtime::fleet::Target;
use d1_runtime::rest::{Client, DatabaseUsage};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// D1's published prices (2026): $0.001 per million rows read.
const ROWS_READ_PER_MILLION: f64 = 0.001;
/// $1.00 per million rows written.
const ROWS_WRITTEN_PER_MILLION: f64 = 1.0;
/// $0.75 per GB-month of storage.
const STORAGE_PER_GB_MONTH: f64 = 0.75;
/// Workers Paid includes 25 billion rows read a month,
const INCLUDED_ROWS_READ: u64 = 25_000_000_000;
/// 50 million rows written,
const INCLUDED_ROWS_WRITTEN: u64 = 50_000_000;
/// and 5 GB of storage, per account.
const INCLUDED_STORAGE_GB: f64 = 5.0;
/// The month costs are extrapolated to.
const MONTH_DAYS: u64 = 30;
/// Bytes in a GB, as storage is billed (decimal).
const GB: f64 = 1e9;
/// The most `--since` may reach back: Cloudflare keeps D1's analytics 31 days.
const RETENTION_HOURS: u64 = 31 * 24;
/// Above this many databases, their sizes come from the account's list (1,000 databases a
/// request) rather than one `GET` each.
const LIST_ABOVE: usize = 50;

/// `d1kit usage`'s arguments.
#[derive(clap::Args)]
pub(crate) struct UsageArgs {
    /// The databases on Cloudflare (account and token from CLOUDFLARE_ACCOUNT_ID and
    /// CLOUDFLARE_API_TOKEN; the token needs Account Analytics read and D1 read permission).
    #[arg(long, required_unless_present = "local")]
    remote: bool,
    /// Refused: wrangler's local databases keep no analytics.
    #[arg(long, hide = true)]
    local: bool,
    /// The period: the last N hours or days (`24h`, `7d`, `30d`; at most 31 days, as long as
    /// Cloudflare keeps analytics). Costs are extrapolated from it to a 30-day month.
    #[arg(long, value_name = "PERIOD", default_value = "30d", value_parser = parse_since)]
    since: Since,
    /// Only this configured database (all its shards); default: every configured database.
    #[arg(long, value_name = "NAME")]
    database: Option<String>,
    /// The blocks of wrangler's `[env.NAME]` instead of the top level's.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// These databases instead of the wrangler file's blocks (repeatable).
    #[arg(long = "database-id", value_name = "ID", num_args = 1.., conflicts_with = "env")]
    database_ids: Vec<String>,
    /// Every tenant database recorded in the directory kept in database ID (the
    /// `d1kit_tenant_databases` table that `rest::Tenants` fills): usage per tenant.
    #[arg(long = "tenants-in", value_name = "ID", conflicts_with_all = ["env", "database_ids"])]
    tenants_in: Option<String>,
    /// Also report the tenants of pools as `d1kit::meter` counted them: the `d1kit_usage`
    /// table (`Meter::flush`) of database ID, summed per tenant over the whole UTC days the
    /// period touches, with each tenant's marginal cost (rows only; a pool's storage is its
    /// shards').
    #[arg(long = "metered-in", value_name = "ID")]
    metered_in: Option<String>,
    /// Databases whose size is read at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// USD per million rows read beyond the included ones (D1's price: 0.001).
    #[arg(long, value_name = "USD", default_value = "0.001", value_parser = parse_amount)]
    price_rows_read: f64,
    /// USD per million rows written beyond the included ones (D1's price: 1.00).
    #[arg(long, value_name = "USD", default_value = "1.00", value_parser = parse_amount)]
    price_rows_written: f64,
    /// USD per GB-month of storage beyond the included GB (D1's price: 0.75; 1 GB = 10^9
    /// bytes).
    #[arg(long, value_name = "USD", default_value = "0.75", value_parser = parse_amount)]
    price_storage: f64,
    /// Rows read a month included in the plan, per account (Workers Paid: 25,000,000,000).
    #[arg(long, value_name = "ROWS", default_value = "25000000000", value_parser = parse_rows)]
    included_rows_read: u64,
    /// Rows written a month included in the plan, per account (Workers Paid: 50,000,000).
    #[arg(long, value_name = "ROWS", default_value = "50000000", value_parser = parse_rows)]
    included_rows_written: u64,
    /// GB of storage included in the plan, per account (Workers Paid: 5).
    #[arg(long, value_name = "GB", default_value = "5", value_parser = parse_amount)]
    included_storage: f64,
    /// Output format. `json`, on stdout (docs/FLEET.md, "Usage and cost"): `{"command":
    /// "usage", "mode", "since", "period", "period_hours", "month_days", "prices": {the six
    /// flags' values}, "databases": [{"database", "label", "id", "kind" (database, shard,
    /// tenant), "shard", "tenant", "read_queries", "write_queries", "queries", "rows_read",
    /// "rows_written", "storage_bytes", "monthly": {"rows_read", "rows_written",
    /// "storage_gb"}, "cost": {"rows_read", "rows_written", "storage", "total"}, "error"}],
    /// "by_database": [{"database", "shards", the sums}], "totals": {"databases", "failed",
    /// the sums, "cost"}}`; the sums are "databases", "read_queries", "write_queries",
    /// "queries", "rows_read", "rows_written", "storage_bytes", "monthly", "marginal_cost".
    /// Databases most costly first; costs in USD a month, marginal (no allowance) but the
    /// totals' "cost" (the allowances subtracted once).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The crate's Cargo.toml (default: ./Cargo.toml).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

impl UsageArgs {
    /// The price flags.
    fn prices(&self) -> Prices {
        Prices {
            rows_read_per_million: self.price_rows_read,
            rows_written_per_million: self.price_rows_written,
            storage_per_gb_month: self.price_storage,
            included_rows_read: self.included_rows_read,
            included_rows_written: self.included_rows_written,
            included_storage_gb: self.included_storage,
        }
    }
}

/// `--since`: how it was written, and the hours it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Since {
    text: String,
    hours: u64,
}

/// `<n>h` or `<n>d`, from 1 hour to 31 days.
fn parse_since(s: &str) -> Result<Since, String> {
    let text = s.trim();
    let unit = |u: char| text.strip_suffix([u, u.to_ascii_uppercase()]);
    let (number, per) = match (unit('h'), unit('d')) {
        (Some(number), _) => (number, 1),
        (_, Some(number)) => (number, 24),
        _ => {
            return Err(
                "expected hours or days, like `24h`, `7d` or `30d` (a number then `h` or `d`)"
                    .into(),
            )
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{number}` is not a whole number (expected e.g. `24h`, `7d`)"))?;
    let hours = n.saturating_mul(per);
    if hours == 0 {
        return Err("the period must be at least 1 hour".into());
    }
    if hours > RETENTION_HOURS {
        return Err(format!(
            "at most 31 days (`31d`, `744h`): Cloudflare keeps D1's analytics for 31 days, and `{text}` is {hours} hours"
        ));
    }
    Ok(Since {
        text: text.to_string(),
        hours,
    })
}

/// A price or a number of GB: finite and not negative.
fn parse_amount(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !x.is_finite() || x < 0.0 {
        return Err(format!("`{s}`: expected a number of 0 or more"));
    }
    Ok(x)
}

/// A number of rows: digits, `_` or `,` between them allowed (`25_000_000_000`).
fn parse_rows(s: &str) -> Result<u64, String> {
    let digits: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, '_' | ','))
        .collect();
    digits
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of rows"))
}

/// The prices and included allowances costs are estimated with (the flags).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Prices {
    /// USD per million rows read beyond the included ones.
    pub rows_read_per_million: f64,
    /// USD per million rows written beyond the included ones.
    pub rows_written_per_million: f64,
    /// USD per GB-month beyond the included GB.
    pub storage_per_gb_month: f64,
    /// Rows read included a month, per account.
    pub included_rows_read: u64,
    /// Rows written included a month, per account.
    pub included_rows_written: u64,
    /// GB of storage included, per account.
    pub included_storage_gb: f64,
}

impl Default for Prices {
    /// D1's published prices.
    fn default() -> Prices {
        Prices {
            rows_read_per_million: ROWS_READ_PER_MILLION,
            rows_written_per_million: ROWS_WRITTEN_PER_MILLION,
            storage_per_gb_month: STORAGE_PER_GB_MONTH,
            included_rows_read: INCLUDED_ROWS_READ,
            included_rows_written: INCLUDED_ROWS_WRITTEN,
            included_storage_gb: INCLUDED_STORAGE_GB,
        }
    }
}

/// Usage over a 30-day month: the period's rows scaled to 30 days, and the storage as it is
/// now, held all month.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Monthly {
    /// Rows read a month.
    pub rows_read: f64,
    /// Rows written a month.
    pub rows_written: f64,
    /// GB stored (GB-months).
    pub storage_gb: f64,
}

impl Monthly {
    /// `rows_read` and `rows_written` over `hours` hours, and `storage_bytes` stored, as a
    /// 30-day month.
    pub fn of(rows_read: u64, rows_written: u64, storage_bytes: u64, hours: u64) -> Monthly {
        let scale = (MONTH_DAYS * 24) as f64 / hours.max(1) as f64;
        Monthly {
            rows_read: rows_read as f64 * scale,
            rows_written: rows_written as f64 * scale,
            storage_gb: storage_bytes as f64 / GB,
        }
    }
}

/// An estimated monthly cost in USD, per billed item.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Cost {
    /// Rows read.
    pub rows_read: f64,
    /// Rows written.
    pub rows_written: f64,
    /// Storage.
    pub storage: f64,
}

impl Cost {
    /// The three together.
    pub fn total(&self) -> f64 {
        self.rows_read + self.rows_written + self.storage
    }
}

/// What `usage` a month costs at `prices`: with `included`, after the account's included
/// allowances (the account's total: they are subtracted once, never below zero); without,
/// every row and GB at the price (one database's or tenant's marginal cost: what it adds
/// once the allowances are used up).
pub(crate) fn cost(usage: &Monthly, prices: &Prices, included: bool) -> Cost {
    let billed = |used: f64, free: f64| {
        if included {
            (used - free).max(0.0)
        } else {
            used
        }
    };
    Cost {
        rows_read: billed(usage.rows_read, prices.included_rows_read as f64) / 1e6
            * prices.rows_read_per_million,
        rows_written: billed(usage.rows_written, prices.included_rows_written as f64) / 1e6
            * prices.rows_written_per_million,
        storage: billed(usage.storage_gb, prices.included_storage_gb) * prices.storage_per_gb_month,
    }
}

/// Which kind of database of the fleet a row is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A configured database's only database, or a `--database-id`.
    Database,
    /// Shard N of a pool.
    Shard(u32),
    /// A tenant's own database, from the directory.
    Tenant,
}

/// One database's figures.
struct Row {
    /// The configured database it belongs to (none for `--database-id`s and tenants when no
    /// `--database` was given).
    database: Option<String>,
    label: String,
    id: String,
    kind: Kind,
    usage: DatabaseUsage,
    /// `file_size`, when it could be read.
    storage_bytes: Option<u64>,
    /// Why the size could not be read.
    error: Option<String>,
    monthly: Monthly,
    /// Marginal: no allowance.
    cost: Cost,
}

/// Runs `d1kit usage`.
pub(crate) fn run(args: UsageArgs) -> ExitCode {
    let format = args.format;
    if args.local {
        let d = Diagnostics(vec![Diagnostic::error(
            "--local: wrangler's local databases keep no analytics: `d1kit usage` reads Cloudflare's (rows read and written, queries) and each database's size",
        )
        .with_help("run `d1kit usage --remote` with CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN set")]);
        return cli_fleet::exit(format, Err(d));
    }
    // Fleet::load wants --database when ids are listed and several databases are configured
    // (for their migrations, which usage does not need): any configured one will do.
    let named = args.database.is_some();
    let mut database = args.database.clone();
    let listed = !args.database_ids.is_empty() || args.tenants_in.is_some();
    let krate = Crate::load(args.manifest_path.clone()).ok();
    if database.is_none() && listed {
        database = krate
            .as_ref()
            .and_then(|k| k.config.databases.first())
            .map(|d| d.name.clone());
    }
    let fleet_args = FleetArgs {
        remote: true,
        local: false,
        database,
        env: args.env.clone(),
        database_ids: args.database_ids.clone(),
        create: false,
        tenants_in: args.tenants_in.clone(),
        persist_to: None,
        concurrency: args.concurrency,
        format,
        manifest_path: args.manifest_path.clone(),
    };
    let prices = args.prices();
    cli_fleet::command(&fleet_args, "measure", |fleet| {
        let Backend::Remote(client) = &fleet.backend else {
            return Err(error(
                "d1kit usage reads Cloudflare's analytics: --remote only",
            ));
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let since = rfc3339(now.saturating_sub(args.since.hours * 3600));
        let shards = |database: &str, label: &str| -> Option<u32> {
            let db = krate
                .as_ref()?
                .config
                .databases
                .iter()
                .find(|d| d.name == database)?;
            if db.shards <= 1 {
                return None;
            }
            db.bindings()
                .iter()
                .position(|b| b == label)
                .map(|n| n as u32)
        };
        let targets: Vec<(Option<String>, Target, Kind)> = fleet
            .groups
            .iter()
            .flat_map(|g| {
                g.targets.iter().map(|t| {
                    let kind = if args.tenants_in.is_some() {
                        Kind::Tenant
                    } else if !args.database_ids.is_empty() {
                        Kind::Database
                    } else {
                        shards(&g.database, &t.label).map_or(Kind::Database, Kind::Shard)
                    };
                    let database = (!listed || named).then(|| g.database.clone());
                    (database, t.clone(), kind)
                })
            })
            .collect();
        let rows = measure(fleet, client, &since, args.since.hours, &targets, &prices)?;
        let metered = match &args.metered_in {
            Some(id) => read_metered(client, id, &since, args.since.hours, &prices)?,
            None => Vec::new(),
        };
        let failed = rows.iter().any(|r| r.error.is_some());
        let report = Report {
            since: &since,
            period: &args.since,
            prices: &prices,
            rows,
            metered_in: args.metered_in.as_deref(),
            metered,
        };
        match format {
            Format::Json => println!("{}", report.json()),
            Format::Text => print!("{}", report.text()),
        }
        Ok(failed)
    })
}

/// One tenant's figures as `d1kit::meter` flushed them.
struct MeteredRow {
    tenant: String,
    queries: u64,
    rows_read: u64,
    rows_written: u64,
    monthly: Monthly,
    /// Marginal: no allowance; rows only.
    cost: Cost,
}

/// The per-tenant totals of `d1kit_usage` in database `id` from the day `since` falls on,
/// most costly first.
fn read_metered(
    client: &Client,
    id: &str,
    since: &str,
    hours: u64,
    prices: &Prices,
) -> Result<Vec<MeteredRow>, Diagnostics> {
    let day = since.get(..10).unwrap_or(since);
    use d1_runtime::Executor;
    let rows = d1_runtime::block_on(client.database(id.to_owned()).all(
        d1_runtime::Sql::<(String, i64, i64, i64)>::new(
            "SELECT tenant, sum(queries), sum(rows_read), sum(rows_written) FROM d1kit_usage \
             WHERE day >= ?1 GROUP BY tenant",
            vec![d1_runtime::Value::from(day)],
        ),
    ))
    .map_err(|e| {
        error(format!(
            "--metered-in {id}: reading its d1kit_usage table (written by d1kit::meter's flush): {e}"
        ))
    })?;
    let count = |n: i64| n.max(0) as u64;
    let mut out: Vec<MeteredRow> = rows
        .into_iter()
        .map(|(tenant, queries, read, written)| {
            let monthly = Monthly::of(count(read), count(written), 0, hours);
            MeteredRow {
                tenant,
                queries: count(queries),
                rows_read: count(read),
                rows_written: count(written),
                monthly,
                cost: cost(&monthly, prices, false),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.cost
            .total()
            .total_cmp(&a.cost.total())
            .then(b.rows_read.cmp(&a.rows_read))
            .then(a.tenant.cmp(&b.tenant))
    });
    Ok(out)
}

fn error(message: impl Into<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic::error(message)])
}

/// Every target's analytics and size, most costly first.
fn measure(
    fleet: &Fleet,
    client: &Client,
    since: &str,
    hours: u64,
    targets: &[(Option<String>, Target, Kind)],
    prices: &Prices,
) -> Result<Vec<Row>, Diagnostics> {
    let bar = fleet.progress("measuring");
    bar.set_message("(analytics)");
    let ids: Vec<String> = targets.iter().map(|(_, t, _)| t.id.clone()).collect();
    let usage = block_on(client.analytics(since, &ids)).map_err(|e| {
        bar.finish_and_clear();
        Diagnostics(vec![Diagnostic::error(format!(
            "reading D1's analytics (Cloudflare's GraphQL API) since {since}: {e}"
        ))
        .with_help("the API token needs the Account Analytics read permission besides D1's; try again later if the API was unreachable or rate limited")])
    })?;
    bar.set_message("(sizes)");
    // A large fleet: the account's list gives every size, 1,000 databases a request.
    let mut sizes: HashMap<String, u64> = HashMap::new();
    if targets.len() > LIST_ABOVE {
        match block_on(client.list_databases(None)) {
            Ok(list) => {
                for info in list {
                    if let Some(size) = info.file_size {
                        sizes.insert(info.uuid.to_ascii_lowercase(), size);
                    }
                }
            }
            Err(e) => eprintln!(
                "warning: listing the account's databases failed ({}); reading each one's size instead",
                escape(&e.to_string())
            ),
        }
    }
    let listed = |t: &Target| sizes.get(&t.id.to_ascii_lowercase()).copied();
    let size_of = |t: &Target| -> Result<u64, String> {
        if let Some(size) = listed(t) {
            return Ok(size);
        }
        match block_on(client.get_database(&t.id)) {
            Ok(Some(info)) => info
                .file_size
                .ok_or_else(|| "the API gave no file_size for it".to_string()),
            Ok(None) => Err(format!("the account has no database with id `{}`", t.id)),
            Err(e) => Err(format!("reading its size: {e}")),
        }
    };
    let sized = cli_fleet::each(
        targets,
        fleet.concurrency,
        |(_, t, _)| size_of(t),
        |_| bar.inc(1),
    );
    bar.finish_and_clear();
    let mut rows: Vec<Row> = targets
        .iter()
        .zip(usage)
        .zip(sized)
        .map(|(((database, t, kind), usage), size)| {
            let (storage_bytes, error) = match size {
                Ok(n) => (Some(n), None),
                Err(e) => (None, Some(e)),
            };
            let monthly = Monthly::of(
                usage.rows_read,
                usage.rows_written,
                storage_bytes.unwrap_or(0),
                hours,
            );
            Row {
                database: database.clone(),
                label: t.label.clone(),
                id: t.id.clone(),
                kind: *kind,
                cost: cost(&monthly, prices, false),
                monthly,
                usage,
                storage_bytes,
                error,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.cost
            .total()
            .total_cmp(&a.cost.total())
            .then(b.usage.rows_read.cmp(&a.usage.rows_read))
            .then(b.usage.rows_written.cmp(&a.usage.rows_written))
            .then_with(|| a.label.cmp(&b.label))
    });
    Ok(rows)
}

/// Sums over rows.
#[derive(Default)]
struct Sums {
    databases: usize,
    read_queries: u64,
    write_queries: u64,
    rows_read: u64,
    rows_written: u64,
    storage_bytes: u64,
    marginal: f64,
}

impl Sums {
    fn of<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Sums {
        let mut s = Sums::default();
        for r in rows {
            s.databases += 1;
            s.read_queries = s.read_queries.saturating_add(r.usage.read_queries);
            s.write_queries = s.write_queries.saturating_add(r.usage.write_queries);
            s.rows_read = s.rows_read.saturating_add(r.usage.rows_read);
            s.rows_written = s.rows_written.saturating_add(r.usage.rows_written);
            s.storage_bytes = s.storage_bytes.saturating_add(r.storage_bytes.unwrap_or(0));
            s.marginal += r.cost.total();
        }
        s
    }

    fn queries(&self) -> u64 {
        self.read_queries.saturating_add(self.write_queries)
    }

    fn monthly(&self, hours: u64) -> Monthly {
        Monthly::of(self.rows_read, self.rows_written, self.storage_bytes, hours)
    }
}

/// What is printed.
struct Report<'a> {
    since: &'a str,
    period: &'a Since,
    prices: &'a Prices,
    /// Most costly first.
    rows: Vec<Row>,
    /// `--metered-in`.
    metered_in: Option<&'a str>,
    /// The metered tenants, most costly first.
    metered: Vec<MeteredRow>,
}

impl Report<'_> {
    /// Per configured database with more than one database (a pool's shards, several
    /// tenants), in first-seen order: its name and sums.
    fn by_database(&self) -> Vec<(&str, Sums)> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.rows {
            if let Some(d) = r.database.as_deref() {
                if !names.contains(&d) {
                    names.push(d);
                }
            }
        }
        names
            .into_iter()
            .map(|name| {
                let rows = self
                    .rows
                    .iter()
                    .filter(|r| r.database.as_deref() == Some(name));
                (name, Sums::of(rows))
            })
            .collect()
    }

    /// The shards of configured database `name` among the rows.
    fn shards(&self, name: &str) -> usize {
        self.rows
            .iter()
            .filter(|r| r.database.as_deref() == Some(name) && matches!(r.kind, Kind::Shard(_)))
            .count()
    }

    fn json(&self) -> Value {
        let hours = self.period.hours;
        let databases: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "database": r.database,
                    "label": r.label,
                    "id": r.id,
                    "kind": match r.kind {
                        Kind::Database => "database",
                        Kind::Shard(_) => "shard",
                        Kind::Tenant => "tenant",
                    },
                    "shard": match r.kind {
                        Kind::Shard(n) => Some(n),
                        _ => None,
                    },
                    "tenant": (r.kind == Kind::Tenant).then_some(&r.label),
                    "read_queries": r.usage.read_queries,
                    "write_queries": r.usage.write_queries,
                    "queries": r.usage.queries(),
                    "rows_read": r.usage.rows_read,
                    "rows_written": r.usage.rows_written,
                    "storage_bytes": r.storage_bytes,
                    "monthly": monthly_json(&r.monthly),
                    "cost": cost_json(&r.cost),
                    "error": r.error,
                })
            })
            .collect();
        let by_database: Vec<Value> = self
            .by_database()
            .into_iter()
            .map(|(name, s)| {
                let mut o = sums_json(&s, hours);
                o["database"] = json!(name);
                o["shards"] = json!(self.shards(name));
                o
            })
            .collect();
        let all = Sums::of(&self.rows);
        let mut totals = sums_json(&all, hours);
        totals["cost"] = cost_json(&cost(&all.monthly(hours), self.prices, true));
        totals["failed"] = json!(self.rows.iter().filter(|r| r.error.is_some()).count());
        let p = self.prices;
        json!({
            "command": "usage",
            "mode": "remote",
            "since": self.since,
            "period": self.period.text,
            "period_hours": hours,
            "month_days": MONTH_DAYS,
            "prices": {
                "rows_read_per_million": p.rows_read_per_million,
                "rows_written_per_million": p.rows_written_per_million,
                "storage_per_gb_month": p.storage_per_gb_month,
                "included_rows_read": p.included_rows_read,
                "included_rows_written": p.included_rows_written,
                "included_storage_gb": p.included_storage_gb,
            },
            "databases": databases,
            "by_database": by_database,
            "totals": totals,
            "metered_in": self.metered_in,
            "metered_tenants": self.metered.iter().map(|m| json!({
                "tenant": m.tenant,
                "queries": m.queries,
                "rows_read": m.rows_read,
                "rows_written": m.rows_written,
                "monthly": monthly_json(&m.monthly),
                "cost": cost_json(&m.cost),
            })).collect::<Vec<Value>>(),
        })
    }

    fn text(&self) -> String {
        let hours = self.period.hours;
        // Every row a tenant's database (--tenants-in): the rows are tenants.
        let tenants = !self.rows.is_empty() && self.rows.iter().all(|r| r.kind == Kind::Tenant);
        let p = self.prices;
        let mut out = format!(
            "D1 usage since {} (the last {}), extrapolated to a {MONTH_DAYS}-day month; most costly first.\n",
            self.since.replace('T', " ").replace('Z', " UTC"),
            period_words(hours),
        );
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.label.clone(),
                    short_id(&r.id),
                    match r.kind {
                        Kind::Database => "database".to_string(),
                        Kind::Shard(n) => format!("shard {n}"),
                        Kind::Tenant => "tenant".to_string(),
                    },
                    thousands(r.usage.rows_read),
                    thousands(r.usage.rows_written),
                    thousands(r.usage.queries()),
                    r.storage_bytes.map_or("?".to_string(), bytes),
                    dollars(r.cost.total()),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                if tenants { "TENANT" } else { "DATABASE" },
                "ID",
                "KIND",
                "ROWS READ",
                "ROWS WRITTEN",
                "QUERIES",
                "STORAGE",
                "EST. $/MONTH",
            ],
            &rows,
        ));
        for r in &self.rows {
            if let Some(e) = &r.error {
                out.push_str(&format!(
                    "{}: {}\n",
                    escape(&r.label),
                    escape(&first_line(e, 200))
                ));
            }
        }
        for (name, s) in self.by_database() {
            if s.databases < 2 {
                continue;
            }
            out.push_str(&format!(
                "`{}` ({}): {}, {}/month marginal\n",
                escape(name),
                count(
                    s.databases,
                    if self.shards(name) == s.databases {
                        "shard"
                    } else {
                        "database"
                    }
                ),
                sums_words(&s),
                dollars(s.marginal),
            ));
        }
        let all = Sums::of(&self.rows);
        let monthly = all.monthly(hours);
        let account = cost(&monthly, p, true);
        out.push_str(&format!(
            "Total ({}): {}.\n",
            count(all.databases, "database"),
            sums_words(&all)
        ));
        out.push_str(&format!(
            "A month: {} rows read, {} rows written, {} stored: est. {}/month ({} rows read, {} rows written, {} storage) after the plan's included {} rows read, {} rows written and {} GB, subtracted once (they are the account's).\n",
            thousands(monthly.rows_read.round() as u64),
            thousands(monthly.rows_written.round() as u64),
            bytes((monthly.storage_gb * GB).round() as u64),
            dollars(account.total()),
            dollars(account.rows_read),
            dollars(account.rows_written),
            dollars(account.storage),
            thousands(p.included_rows_read),
            thousands(p.included_rows_written),
            p.included_storage_gb,
        ));
        out.push_str(&format!(
            "Each {}'s cost is marginal: its own usage at {} per million rows read, {} per million rows written and {} per GB-month, as if the included allowances were used up; storage is its size now, held all month.\n",
            if tenants { "tenant" } else { "database" },
            price(p.rows_read_per_million),
            price(p.rows_written_per_million),
            price(p.storage_per_gb_month),
        ));
        if let Some(id) = self.metered_in {
            out.push_str(&format!(
                "\nTenants of pools as d1kit::meter counted them (d1kit_usage in {}, whole UTC days from {}), most costly first; rows only, marginal:\n",
                short_id(id),
                self.since.get(..10).unwrap_or(self.since),
            ));
            let rows: Vec<Vec<String>> = self
                .metered
                .iter()
                .map(|m| {
                    vec![
                        m.tenant.clone(),
                        thousands(m.rows_read),
                        thousands(m.rows_written),
                        thousands(m.queries),
                        dollars(m.cost.total()),
                    ]
                })
                .collect();
            out.push_str(&table(
                &[
                    "TENANT",
                    "ROWS READ",
                    "ROWS WRITTEN",
                    "QUERIES",
                    "EST. $/MONTH",
                ],
                &rows,
            ));
        }
        out
    }
}

/// `rows read R, rows written W, queries Q, storage S`.
fn sums_words(s: &Sums) -> String {
    format!(
        "rows read {}, rows written {}, queries {}, storage {}",
        thousands(s.rows_read),
        thousands(s.rows_written),
        thousands(s.queries()),
        bytes(s.storage_bytes)
    )
}

fn sums_json(s: &Sums, hours: u64) -> Value {
    json!({
        "databases": s.databases,
        "read_queries": s.read_queries,
        "write_queries": s.write_queries,
        "queries": s.queries(),
        "rows_read": s.rows_read,
        "rows_written": s.rows_written,
        "storage_bytes": s.storage_bytes,
        "monthly": monthly_json(&s.monthly(hours)),
        "marginal_cost": usd(s.marginal),
    })
}

fn monthly_json(m: &Monthly) -> Value {
    json!({
        "rows_read": m.rows_read.round() as u64,
        "rows_written": m.rows_written.round() as u64,
        "storage_gb": m.storage_gb,
    })
}

fn cost_json(c: &Cost) -> Value {
    json!({
        "rows_read": usd(c.rows_read),
        "rows_written": usd(c.rows_written),
        "storage": usd(c.storage),
        "total": usd(c.total()),
    })
}

/// Dollars for programs, to the millionth.
fn usd(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Dollars for people: `$1,234.56`, `<$0.01` for less than a cent but not nothing.
fn dollars(x: f64) -> String {
    if x > 0.0 && x < 0.005 {
        return "<$0.01".to_string();
    }
    let cents = (x * 100.0).round() as u64;
    format!("${}.{:02}", thousands(cents / 100), cents % 100)
}

/// A price for people: `$0.001`, `$1.00`, `$0.75` (cents at least, then as precise as given).
fn price(x: f64) -> String {
    let exact = x.to_string();
    match exact.split_once('.') {
        Some((_, decimals)) if decimals.len() >= 2 && !exact.contains('e') => format!("${exact}"),
        _ if x != 0.0 && x.abs() < 0.01 => format!("${x}"),
        _ => format!("${x:.2}"),
    }
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes for people, decimal units (as storage is billed).
fn bytes(n: u64) -> String {
    let x = n as f64;
    if n < 1000 {
        format!("{n} B")
    } else if x < 1e6 {
        format!("{:.1} kB", x / 1e3)
    } else if x < 1e9 {
        format!("{:.1} MB", x / 1e6)
    } else {
        format!("{:.2} GB", x / 1e9)
    }
}

/// `24 hours`, `7 days`.
fn period_words(hours: u64) -> String {
    if hours.is_multiple_of(24) {
        count(hours as usize / 24, "day")
    } else {
        count(hours as usize, "hour")
    }
}

/// Seconds since the Unix epoch as RFC 3339 in UTC (`2026-08-01T12:00:00Z`).
fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    /// The arithmetic, checked by hand.
    ///
    /// Over 7 days (168 hours) a fleet read 7,000,000,000 rows, wrote 14,000,000 and stores
    /// 8 GB (8,000,000,000 bytes). A 30-day month is 720 / 168 = 30/7 periods:
    ///   rows read    7e9  × 30/7 = 30,000,000,000 a month
    ///   rows written 14e6 × 30/7 =     60,000,000 a month
    ///   storage      8 GB-months
    /// At D1's prices, marginally (no allowance):
    ///   rows read    30,000 million × $0.001 = $30.00
    ///   rows written     60 million × $1.00  = $60.00
    ///   storage           8 GB      × $0.75  =  $6.00      total $96.00
    /// For the account (the allowances subtracted once):
    ///   rows read    (30,000 − 25,000) million × $0.001 = $5.00
    ///   rows written (60 − 50) million         × $1.00  = $10.00
    ///   storage      (8 − 5) GB                × $0.75  = $2.25   total $17.25
    #[test]
    fn cost_by_hand() {
        let m = Monthly::of(7_000_000_000, 14_000_000, 8_000_000_000, 168);
        close(m.rows_read, 30_000_000_000.0);
        close(m.rows_written, 60_000_000.0);
        close(m.storage_gb, 8.0);
        let prices = Prices::default();
        let marginal = cost(&m, &prices, false);
        close(marginal.rows_read, 30.00);
        close(marginal.rows_written, 60.00);
        close(marginal.storage, 6.00);
        close(marginal.total(), 96.00);
        let account = cost(&m, &prices, true);
        close(account.rows_read, 5.00);
        close(account.rows_written, 10.00);
        close(account.storage, 2.25);
        close(account.total(), 17.25);

        // Under every allowance: nothing to pay for the account, never a negative amount.
        // 24 hours of 100,000,000 rows read (× 30 = 3e9 < 25e9), 1,000,000 written
        // (× 30 = 30e6 < 50e6), 1 GB stored: $0.00; marginally 3,000 × $0.001 = $3.00,
        // 30 × $1.00 = $30.00, 1 × $0.75 = $0.75, total $33.75.
        let small = Monthly::of(100_000_000, 1_000_000, 1_000_000_000, 24);
        let account = cost(&small, &prices, true);
        assert_eq!(account, Cost::default());
        close(cost(&small, &prices, false).total(), 33.75);

        // Other prices (the flags): 30 days of 2,000,000 rows written at $2.50 a million
        // with 500,000 included: (2 − 0.5) million × $2.50 = $3.75; 10 GB at $0.20 with
        // 2 GB included: 8 × $0.20 = $1.60; rows read free: $0.
        let custom = Prices {
            rows_read_per_million: 0.0,
            rows_written_per_million: 2.5,
            storage_per_gb_month: 0.2,
            included_rows_read: 0,
            included_rows_written: 500_000,
            included_storage_gb: 2.0,
        };
        let m = Monthly::of(123_456_789, 2_000_000, 10_000_000_000, 720);
        let c = cost(&m, &custom, true);
        close(c.rows_read, 0.0);
        close(c.rows_written, 3.75);
        close(c.storage, 1.60);
        close(c.total(), 5.35);
    }

    #[test]
    fn since_takes_hours_or_days_up_to_31_days() {
        assert_eq!(parse_since("24h").unwrap().hours, 24);
        assert_eq!(parse_since("7d").unwrap().hours, 168);
        assert_eq!(parse_since("30d").unwrap().hours, 720);
        assert_eq!(parse_since("31d").unwrap().hours, 744);
        assert_eq!(parse_since("744h").unwrap().hours, 744);
        assert!(parse_since("32d").unwrap_err().contains("31 days"));
        assert!(parse_since("745h").unwrap_err().contains("31 days"));
        assert!(parse_since("0h").unwrap_err().contains("at least 1 hour"));
        for bad in [
            "",
            "d",
            "7",
            "7w",
            "-1d",
            "1.5d",
            "7 d",
            "é",
            "99999999999999999999d",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rows("25_000_000_000").unwrap(), 25_000_000_000);
        assert_eq!(parse_rows("50,000,000").unwrap(), 50_000_000);
        assert!(parse_rows("-1").is_err() && parse_rows("1e6").is_err());
        assert_eq!(parse_amount("$0.75").unwrap(), 0.75);
        for bad in ["-1", "NaN", "inf", "x"] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }

    /// The flags' defaults are D1's published prices.
    #[test]
    fn default_prices_are_d1s() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            usage: UsageArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(["d1kit", "--remote"]).unwrap();
        assert_eq!(cli.usage.prices(), Prices::default());
        assert_eq!(cli.usage.since, parse_since("30d").unwrap());
        assert!(<Cli as clap::Parser>::try_parse_from(["d1kit"]).is_err());
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(25_000_000_000), "25,000,000,000");
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(0.004), "<$0.01");
        assert_eq!(dollars(17.25), "$17.25");
        assert_eq!(dollars(1234.5), "$1,234.50");
        assert_eq!(price(0.001), "$0.001");
        assert_eq!(price(1.0), "$1.00");
        assert_eq!(price(0.75), "$0.75");
        assert_eq!(price(2.5), "$2.50");
        assert_eq!(price(0.0), "$0.00");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(12_288), "12.3 kB");
        assert_eq!(bytes(8_000_000_000), "8.00 GB");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(period_words(24), "1 day");
        assert_eq!(period_words(36), "36 hours");
    }
}
