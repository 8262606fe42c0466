//! `d1kit usage`: rows read and written, queries and storage per database, tenant and shard,
//! from Cloudflare's GraphQL analytics, with an estimated monthly cost.

use std::process::ExitCode;

/// `d1kit usage`'s arguments.
#[derive(clap::Args)]
pub(crate) struct UsageArgs {}

/// Runs `d1kit usage`.
pub(crate) fn run(_args: UsageArgs) -> ExitCode {
    eprintln!("error: d1kit usage is not built yet");
    ExitCode::from(2)
}
