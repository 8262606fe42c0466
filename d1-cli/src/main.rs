//! The `d1kit` command: check queries against the schema the migrations build, and keep the
//! wrangler file's D1 bindings in line with Cargo.toml.

mod check;
mod config;
mod report;

use clap::{Parser, Subcommand, ValueEnum};
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
}

/// Output format.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// For people: the signature, or errors with the SQL and a caret.
    Text,
    /// For programs: `{"kind", "params", "columns"}` or `{"errors"}`.
    Json,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Migrations directory (default: the crate's configuration in ./Cargo.toml, else ./migrations).
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Config(args) => config::run(args),
    }
}
