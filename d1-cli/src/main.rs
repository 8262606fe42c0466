//! The `d1kit` command: check queries against the schema the migrations build, keep the
//! wrangler file's D1 bindings in line with Cargo.toml, provision the databases they name, and
//! migrate, inspect and compare every database of the fleet.

#![forbid(unsafe_code)]

mod api;
mod check;
mod config;
mod drift;
mod export;
mod fleet;
mod migrate;
mod own;
mod provision;
mod report;
mod reshard;
mod restore;
mod tenant;
mod usage;

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Typed, checked SQL for one Cloudflare D1 database per user.
#[derive(Parser)]
#[command(name = "d1kit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check one SQL statement against the schema the migrations build, and print its signature.
    Check(CheckArgs),
    /// Bring the wrangler file's [[d1_databases]] blocks in line with Cargo.toml's
    /// [package.metadata.d1kit], as `cargo build` does. Exit status: 0 done (or up to date),
    /// 1 out of date (with --check), 2 error.
    Config(ConfigArgs),
    /// Create the databases the wrangler file's d1kit blocks name: on Cloudflare (--remote,
    /// writing each real database_id into the file) or as the SQLite files of
    /// `wrangler dev --local` (--local). Runs `d1kit config` first. Exit status: 0 done,
    /// 2 error (ids already obtained are written to the file first).
    Provision(ProvisionArgs),
    /// Apply the migrations every database of the fleet has not applied yet (the wrangler
    /// file's d1kit blocks, or --database-id), as `wrangler d1 migrations apply` does to one:
    /// bounded concurrency, retries, checksums; then a table of every database. Exit status:
    /// 0 all up to date, 1 a database failed (with --dry-run: something is pending or
    /// edited), 2 usage or configuration error.
    Migrate(MigrateArgs),
    /// Where every database of the fleet stands: applied and pending migrations, the last one
    /// applied, edited migrations and applied ones the migrations directory lacks. Changes
    /// nothing. Exit status: 0, 1 something is edited or unknown (or a database could not be
    /// read), 2 usage or configuration error.
    Status(StatusArgs),
    /// Compare every database's live schema with the schema the migrations build, object by
    /// object and column by column. Exit status: 0 none drifts, 1 some drift (or a database
    /// could not be read), 2 usage or configuration error.
    Drift(StatusArgs),
    /// Move every tenant of a pool (a database with `tenant_column` and `shards`) to the shard
    /// the configuration routes it to, after `shards` changed: rows copied with their keys,
    /// parents first, then deleted from the old shard; retired shards drained and their
    /// blocks removed. Online when the pool has a `directory` (a moving tenant is refused
    /// briefly, never served partially), else offline: the application must not write
    /// meanwhile. Resumable: run it again after a crash. Exit status: 0 done, 1 a tenant could not be moved, 2 usage or
    /// configuration error.
    Reshard(ReshardArgs),
    /// One tenant of a pool: where it is (`locate`), moved to another shard through the
    /// pool's directory (`move`), deleted (`delete`), or exported to a SQL file and imported
    /// back (`export`, `import`).
    Tenant(TenantArgs),
    /// Back up every database of the fleet (the wrangler file's blocks, --database-id, or
    /// each tenant's own database with --tenants-in) through D1's export API: one SQL file
    /// per database in DIR, and DIR/manifest.json with each file's size and SHA-256.
    /// Resumable: a rerun exports only what the manifest does not vouch for. `d1kit export
    /// verify DIR` checks a backup. Exit status: 0 done (or verified), 1 a database failed (or a file
    /// does not match), 2 usage or configuration error.
    Export(ExportArgs),
    /// Put databases back to earlier points with D1's Time Travel: each database of a
    /// bookmarks file (`d1kit migrate --remote --bookmarks FILE` writes one before it applies
    /// anything) to its bookmark, or the fleet to --timestamp. Each database's bookmark just
    /// before the restore is taken first and printed (and written to --undo FILE): restoring
    /// to it undoes the restore. Times outside the retention window are refused. Exit status:
    /// 0 restored, 1 a database failed, 2 usage or configuration error.
    Restore(RestoreArgs),
    /// Rows read and written, queries and storage of every database of the fleet over a
    /// period, per database, tenant and shard, from Cloudflare's analytics, with an estimated
    /// monthly cost. Changes nothing.
    Usage(usage::UsageArgs),
}

#[derive(clap::Args)]
struct TenantArgs {
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Print the tenant's shard, binding and database id, whether it is pinned or moving, and
    /// the shards holding its rows. Exit status: 0, 1 its rows are not all where it is
    /// routed, 2 usage or configuration error.
    Locate(TenantPoolArgs),
    /// Move one tenant to shard K while the application serves it (a pool with a
    /// `directory`): checked, copied with its keys, pinned there, deleted from its old shard;
    /// refused only while it moves. Exit status: 0 moved, 1 refused (it stays whole where
    /// it is, pinned there), 2 usage or configuration error.
    Move(TenantMoveArgs),
    /// Delete every row of one tenant from the pool (an account deletion, a legal erasure
    /// request): in every table with the tenant column, children first, with the rows of
    /// tables without it that reference them; one transaction per shard up to 50,000 rows,
    /// else fenced (its writes refused, retryably) and deleted in chunks that a rerun
    /// resumes. Its directory pin goes too. Checked afterwards: no row of it is left. With
    /// --tenants-in: the tenant's own database and its directory record.
    /// Exit status: 0 deleted (or nothing to delete), 2 usage or configuration error.
    Delete(TenantDeleteArgs),
    /// Write every row of one tenant of the pool as SQL (one INSERT per row and per line,
    /// parents first, exact literals), with a header recording the database, the tenant, the
    /// migrations applied and a SHA-256 of the file: to FILE (written through a temporary
    /// file and a rename) or stdout. Read from the shard holding its rows; a tenant of up to
    /// 500 rows a table is one consistent snapshot. Exit status: 0 written, 2 usage or
    /// configuration error (no rows, rows on several shards, a row too large for one
    /// statement).
    Export(TenantExportArgs),
    /// Write an export's rows back into the shard the pool routes the tenant to (its pin
    /// included), after checking the file's checksum, its database and tenant, and that the
    /// shard has applied the same migrations. Refused when the tenant has rows there unless
    /// --replace (then deleted first, in the same transaction when it fits one batch) or on
    /// another shard. One transaction up to 50,000 rows and 5 MB of SQL, else fenced and in
    /// chunks (a rerun with --replace finishes). Exit status: 0 imported (or would be, with
    /// --dry-run), 2 refused, usage or configuration error.
    Import(TenantImportArgs),
}

#[derive(clap::Args)]
struct TenantPoolArgs {
    /// The tenant key (the value of the pool's tenant column).
    tenant: String,
    #[command(flatten)]
    place: PoolArgs,
}

/// Which pool, where: what `reshard` and `tenant` share.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("target").required(true).args(["remote", "local"])))]
struct PoolArgs {
    /// The databases on Cloudflare, through the REST API (CLOUDFLARE_API_TOKEN,
    /// CLOUDFLARE_ACCOUNT_ID).
    #[arg(long)]
    remote: bool,
    /// The SQLite files of `wrangler dev --local`.
    #[arg(long)]
    local: bool,
    /// The configured database whose pool it is (needed when several are configured).
    #[arg(long, value_name = "NAME")]
    database: Option<String>,
    /// The pool of [env.NAME] instead of the top level.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// wrangler's local state directory (default: .wrangler/state beside the wrangler file).
    #[arg(long, value_name = "DIR", requires = "local")]
    persist_to: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The crate's Cargo.toml (default: the one in the current directory).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

#[derive(clap::Args)]
struct TenantMoveArgs {
    #[command(flatten)]
    pool: TenantPoolArgs,
    /// The shard to move it to (0 to shards - 1).
    #[arg(long, value_name = "K")]
    to_shard: u32,
    /// Say what would be moved; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Move without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Milliseconds to wait between marking the tenant moving and copying it, longer than
    /// the routers' cache (2,000 ms in d1kit's runtime).
    #[arg(long, value_name = "MS", default_value_t = d1_runtime::route::router::SETTLE_MS)]
    settle: u64,
    /// Give the tenant new ids for integer keys the target already holds instead of refusing
    /// the move (the foreign keys among its rows follow; each old -> new id is printed).
    #[arg(long)]
    renumber: bool,
}

#[derive(clap::Args)]
struct TenantDeleteArgs {
    #[command(flatten)]
    pool: TenantPoolArgs,
    /// Count the tenant's rows per shard and table; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// The tenant has its own database (`rest::Tenants`), recorded in the directory kept in
    /// database ID (table `d1kit_tenant_databases`): delete that database and its record
    /// instead of rows of a pool (--remote). The record is marked first (the tenant is then
    /// refused everywhere), the database deleted, the record removed: a rerun after a crash
    /// finishes the job.
    #[arg(long = "tenants-in", value_name = "ID")]
    tenants_in: Option<String>,
    /// With --tenants-in: the prefix of the tenants' database names (`<prefix>-<tenant>`),
    /// to find a database created but never recorded (default: the configured database's
    /// name, as `rest::Tenants` has it).
    #[arg(long, value_name = "PREFIX", requires = "tenants_in")]
    prefix: Option<String>,
}

#[derive(clap::Args)]
struct TenantExportArgs {
    #[command(flatten)]
    pool: TenantPoolArgs,
    /// Write the export to FILE (through a temporary file beside it and a rename, readable by
    /// its owner only on Unix) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// The tenant has its own database, recorded in the directory kept in database ID:
    /// export that database through D1's export API (a SQL dump, as `wrangler d1 export`
    /// writes it; --remote).
    #[arg(long = "tenants-in", value_name = "ID")]
    tenants_in: Option<String>,
}

#[derive(clap::Args)]
struct TenantImportArgs {
    #[command(flatten)]
    pool: TenantPoolArgs,
    /// The export to import (`-`: stdin).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Delete the tenant's rows in the shard first (they would be refused otherwise); also
    /// finishes an import that stopped midway.
    #[arg(long)]
    replace: bool,
    /// Check everything and say what would be written and deleted; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace without asking (required when stdin is not a terminal and rows would be
    /// deleted).
    #[arg(long, short = 'y')]
    yes: bool,
    /// The tenant has its own database, recorded in the directory kept in database ID: FILE
    /// is a dump (`tenant export --tenants-in`, `wrangler d1 export`) imported through D1's
    /// import API into a new database of the tenant's name, checked to be at the configured
    /// migrations, then recorded (--remote; --replace deletes the tenant's database first).
    #[arg(long = "tenants-in", value_name = "ID")]
    tenants_in: Option<String>,
}

/// Output format.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// For people: `check`'s signature, or errors with the SQL and a caret; the fleet
    /// commands' tables.
    Text,
    /// For programs, on stdout: `check`'s `{"kind", "params", "columns"}`, the fleet commands'
    /// reports, or `{"errors"}`.
    Json,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Migrations directory (default: the crate's configuration in ./Cargo.toml, else ./migrations).
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// With --migrations: which files of DIR are migrations, a glob relative to DIR as
    /// wrangler's `migrations_pattern` is after its `migrations_dir/` (e.g. `*/migration.sql`
    /// for drizzle-kit 1.0 and Prisma). Default: the `.sql` files directly in DIR.
    #[arg(long, value_name = "GLOB", requires = "migrations")]
    migrations_pattern: Option<String>,
    /// Which configured database, when the crate has several.
    #[arg(long, value_name = "NAME", conflicts_with = "migrations")]
    database: Option<String>,
    /// The statement to check.
    #[arg(
        long,
        value_name = "SQL",
        conflicts_with = "file",
        required_unless_present = "file"
    )]
    sql: Option<String>,
    /// A file holding the statement to check.
    #[arg(long, value_name = "FILE.sql")]
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The column that scopes shared tables to a tenant: queries on tables with it must
    /// constrain it to a parameter (default: the database's `tenant_column` in ./Cargo.toml).
    #[arg(long, value_name = "COLUMN")]
    tenant_column: Option<String>,
    /// Do not check the tenant column, as `sql!(#[cross_tenant] ..)` does for a query meant to
    /// cross tenants.
    #[arg(long)]
    cross_tenant: bool,
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// Change nothing; list the blocks to add, update or remove and exit 1 when the wrangler
    /// file is out of date (for CI).
    #[arg(long)]
    check: bool,
    /// The crate's Cargo.toml (default: ./Cargo.toml).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

#[derive(clap::Args)]
#[command(group(ArgGroup::new("target").required(true).args(["remote", "local"])))]
struct ProvisionArgs {
    /// Create each database whose block still has d1kit's placeholder id through the D1 REST
    /// API (account and token from CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN), adopting
    /// one that already exists by that name, and write the real ids into the wrangler file.
    #[arg(long)]
    remote: bool,
    /// Create the SQLite file `wrangler dev --local` keeps each block's database in (ids are not
    /// changed; a placeholder id is a fine local id).
    #[arg(long)]
    local: bool,
    /// Print what would be created and which blocks would get which id; change nothing (and
    /// call no API).
    #[arg(long)]
    dry_run: bool,
    /// The crate's Cargo.toml (default: ./Cargo.toml).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Only this configured database (all its shards); default: every configured database.
    #[arg(long, value_name = "NAME")]
    database: Option<String>,
    /// Where D1 should place new databases (--remote; default: the database's `location_hint`
    /// in Cargo.toml, else D1's choice).
    #[arg(long, value_enum, requires = "remote")]
    location_hint: Option<LocationHint>,
    /// Keep new databases' data in this jurisdiction (--remote; default: the database's
    /// `jurisdiction` in Cargo.toml, else none).
    #[arg(long, value_enum, requires = "remote")]
    jurisdiction: Option<Jurisdiction>,
    /// wrangler's --persist-to: the directory holding `v3/d1` (--local; default:
    /// `.wrangler/state` beside the wrangler file).
    #[arg(long, value_name = "DIR", requires = "local")]
    persist_to: Option<PathBuf>,
}

/// Which databases a fleet command works on, and where they are.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("target").required(true).args(["remote", "local"])))]
struct FleetArgs {
    /// The databases on Cloudflare, through the D1 REST API (account and token from
    /// CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN); each block must have its real id
    /// (`d1kit provision --remote`).
    #[arg(long)]
    remote: bool,
    /// The SQLite files `wrangler dev --local` keeps each database in (preview_database_id,
    /// else database_id), as `wrangler d1 migrations apply --local` does.
    #[arg(long)]
    local: bool,
    /// Only this configured database (all its shards); default: every configured database.
    #[arg(long, value_name = "NAME")]
    database: Option<String>,
    /// The blocks of wrangler's `[env.NAME]` instead of the top level's.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// These databases instead of the wrangler file's blocks (repeatable; `--local`: the ids
    /// of their local files). Their migrations are --database's (needed when several
    /// databases are configured).
    #[arg(long = "database-id", value_name = "ID", num_args = 1.., conflicts_with = "env")]
    database_ids: Vec<String>,
    /// With --local and --database-id: create the local databases of ids that have none yet
    /// (without it, such an id is an error: a mistyped or shortened id would start a new,
    /// empty database).
    #[arg(long, requires = "database_ids")]
    create: bool,
    /// Every tenant database recorded in the directory kept in database ID (the
    /// `d1kit_tenant_databases` table that `rest::Tenants` fills), instead of the wrangler
    /// file's blocks. Their migrations are --database's.
    #[arg(long = "tenants-in", value_name = "ID", conflicts_with_all = ["env", "database_ids"])]
    tenants_in: Option<String>,
    /// wrangler's --persist-to: the directory holding `v3/d1` (--local; default:
    /// `.wrangler/state` beside the wrangler file).
    #[arg(long, value_name = "DIR", requires = "local")]
    persist_to: Option<PathBuf>,
    /// Databases worked on at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Output format (`json`: the report on stdout, and no progress bar).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The crate's Cargo.toml (default: ./Cargo.toml).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

#[derive(clap::Args)]
struct MigrateArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Read every database's state and report what would be applied; apply nothing.
    #[arg(long)]
    dry_run: bool,
    /// Migrate this many databases first, and stop if any of them fails.
    #[arg(long, value_name = "N", default_value_t = 0)]
    canary: usize,
    /// Start no further database after the first failure (those not started are reported
    /// as skipped).
    #[arg(long)]
    fail_fast: bool,
    /// With --remote: write each database's Time Travel bookmark, taken just before it is
    /// migrated, to FILE (after each one, so a crash keeps them; an existing file's
    /// bookmarks are kept). `d1kit restore --remote --bookmarks FILE` puts the databases
    /// back. The bookmarks are in the report either way.
    #[arg(long, value_name = "FILE", requires = "remote")]
    bookmarks: Option<PathBuf>,
}

#[derive(clap::Args)]
#[command(
    group(ArgGroup::new("which").required(true).args(["all", "database_ids", "tenants_in"])),
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true
)]
struct ExportArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Every database of the fleet: the wrangler file's d1kit blocks (or --database's).
    #[arg(long)]
    all: bool,
    /// The backup directory (created if needed; a manifest already there is resumed).
    #[arg(long, short = 'o', value_name = "DIR", required = true)]
    output: Option<PathBuf>,
    #[command(subcommand)]
    verify: Option<ExportCommand>,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Check the backup in DIR against its manifest: every file there, with its size and
    /// SHA-256. Exit status: 0 all match, 1 a file is missing or differs, 2 not a backup.
    Verify {
        /// The backup directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(clap::Args)]
#[command(group(ArgGroup::new("point").required(true).args(["bookmarks", "timestamp"])))]
struct RestoreArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Restore each database of this bookmarks file (written by `d1kit migrate --remote
    /// --bookmarks FILE`, or by --undo) to its bookmark; with --database-id, only those.
    #[arg(long, value_name = "FILE")]
    bookmarks: Option<PathBuf>,
    /// Restore every database of the fleet (the wrangler file's blocks, --database-id or
    /// --tenants-in) to this time, RFC 3339 (`2026-12-01T10:00:00Z`): D1 takes the nearest
    /// bookmark at or before it.
    #[arg(long, value_name = "RFC3339")]
    timestamp: Option<String>,
    /// Write each database's bookmark from just before its restore to FILE, as a bookmarks
    /// file: `d1kit restore --remote --bookmarks FILE` undoes the restore. An existing file's
    /// bookmarks are kept (a rerun does not replace them).
    #[arg(long, value_name = "FILE")]
    undo: Option<PathBuf>,
    /// Days of history D1 keeps (30 on paid plans, 7 on free): an older point is refused
    /// before anything is restored.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    retention_days: u32,
    /// Show what would be restored to which point; restore nothing.
    #[arg(long)]
    dry_run: bool,
    /// Restore without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(clap::Args)]
struct ReshardArgs {
    #[command(flatten)]
    place: PoolArgs,
    /// Print the plan (tenants per shard, moves); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Move without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Groups of tenants (one source, one target) moved at once; with a directory, the
    /// groups fenced and marked moving before one settle wait.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// With a directory: milliseconds to wait between marking tenants moving and copying
    /// them, longer than the routers' cache (2,000 ms in d1kit's runtime).
    #[arg(long, value_name = "MS", default_value_t = d1_runtime::route::router::SETTLE_MS)]
    settle: u64,
    /// Give a tenant whose integer keys (`INTEGER PRIMARY KEY 5`) the target already holds
    /// new ids instead of refusing it: the foreign keys among its rows follow, and the
    /// report prints each old -> new id. Ids its users have seen change.
    #[arg(long)]
    renumber: bool,
}

#[derive(clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    fleet: FleetArgs,
}

/// D1's location hints for a new database.
#[derive(Clone, Copy, ValueEnum, Debug)]
enum LocationHint {
    /// Western North America.
    Wnam,
    /// Eastern North America.
    Enam,
    /// Western Europe.
    Weur,
    /// Eastern Europe.
    Eeur,
    /// Asia-Pacific.
    Apac,
    /// Oceania.
    Oc,
}

/// D1's jurisdictions for a new database.
#[derive(Clone, Copy, ValueEnum, Debug)]
enum Jurisdiction {
    /// The European Union.
    Eu,
    /// FedRAMP.
    Fedramp,
    /// The United States.
    Us,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Config(args) => config::run(args),
        Command::Provision(args) => provision::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Status(args) => migrate::status(args),
        Command::Drift(args) => drift::run(args),
        Command::Reshard(args) => reshard::run(args),
        Command::Tenant(args) => tenant::run(args),
        Command::Export(args) => export::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Usage(args) => usage::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags offer exactly the values the configuration accepts (each with its own help
    /// line here, one list of names in `d1_codegen::config`).
    #[test]
    fn location_hints_and_jurisdictions_are_the_configurations() {
        fn names<T: ValueEnum>() -> Vec<String> {
            T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_string())
                .collect()
        }
        assert_eq!(names::<LocationHint>(), d1_codegen::config::LOCATION_HINTS);
        assert_eq!(names::<Jurisdiction>(), d1_codegen::config::JURISDICTIONS);
    }
}
