//! The `d1kit` command: check queries against the schema the migrations build.

mod check;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
    }
}
