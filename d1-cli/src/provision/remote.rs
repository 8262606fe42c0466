//! `--remote`: each database whose blocks still hold d1kit's placeholder id is created (or,
//! when its name is taken, adopted) through the D1 REST API, and its id written into every
//! block with its name, the file saved after each one so that no created database's id is lost.

use super::{bindings_of, error, Target};
use crate::config::failed;
use crate::report::{count, escape};
use crate::ProvisionArgs;
use clap::ValueEnum;
use d1_codegen::wrangler::{self, FileBlock};
use d1_codegen::{Diagnostic, Diagnostics};
use d1_runtime::rest::{CreateOptions, Created, DATABASE_LIMIT};
use std::collections::BTreeMap;
use std::process::ExitCode;

pub(super) fn run(args: &ProvisionArgs, target: &Target) -> ExitCode {
    // One database per name, whichever blocks (environments) share it; in file order.
    let mut names: Vec<(&str, bool)> = Vec::new();
    for b in &target.selected {
        let Some(name) = b.database_name.as_deref() else {
            continue;
        };
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some((_, pending)) => *pending |= b.has_placeholder_id(),
            None => names.push((name, b.has_placeholder_id())),
        }
    }
    let pending: Vec<&str> = names.iter().filter(|(_, p)| *p).map(|(n, _)| *n).collect();
    let provisioned = names.len() - pending.len();
    let path = target.path();
    if pending.is_empty() {
        println!(
            "nothing to create: every d1kit block of {path} has its database's id (already provisioned {provisioned})"
        );
        return ExitCode::SUCCESS;
    }
    if args.dry_run {
        println!(
            "would create {} (adopting any that already exists by its name) and write each id into {path}{}:",
            count(pending.len(), "database"),
            if target.unwritten {
                " (lines as `d1kit config` would leave it)"
            } else {
                ""
            }
        );
        for name in &pending {
            let blocks: Vec<String> = waiting(target, name)
                .iter()
                .map(|b| escape(&b.describe()).into_owned())
                .collect();
            println!("  {} → {}", escape(name), blocks.join(", "));
        }
        println!("already provisioned {provisioned}");
        return ExitCode::SUCCESS;
    }
    let client = match crate::api::client(
        "`d1kit provision --remote` creates the databases through Cloudflare's API",
        "`--dry-run` shows the plan without them",
    ) {
        Ok(c) => c,
        Err(d) => return failed(&d),
    };
    let value = |v: Option<clap::builder::PossibleValue>| v.map(|v| v.get_name().to_string());
    let (location_hint, jurisdiction) = (
        value(args.location_hint.and_then(|h| h.to_possible_value())),
        value(args.jurisdiction.and_then(|j| j.to_possible_value())),
    );
    // The flags, else the configuration of the database the name's first block binds.
    let options = |name: &str| {
        let db = target
            .selected
            .iter()
            .find(|b| b.database_name.as_deref() == Some(name))
            .and_then(|b| target.database_of(b));
        CreateOptions {
            location_hint: location_hint
                .clone()
                .or_else(|| db.and_then(|d| d.location_hint.clone())),
            jurisdiction: jurisdiction
                .clone()
                .or_else(|| db.and_then(|d| d.jurisdiction.clone())),
        }
    };
    println!(
        "creating {} ({} already provisioned):",
        count(pending.len(), "database"),
        provisioned
    );
    let width = pending.len().to_string().len();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let (mut created, mut adopted) = (0, 0);
    let mut failure: Option<Diagnostic> = None;
    for (i, name) in pending.iter().enumerate() {
        let blocks = bindings_of(&waiting(target, name));
        match d1_runtime::block_on(client.create_or_adopt(name, &options(name))) {
            Ok((info, how)) => {
                ids.insert(name.to_string(), info.uuid.clone());
                if let Err(d) = write_ids(target, &ids) {
                    failure = Some(lost_ids(d, &ids));
                    break;
                }
                let verb = match how {
                    Created::New => {
                        created += 1;
                        "created"
                    }
                    Created::Adopted => {
                        adopted += 1;
                        "adopted"
                    }
                };
                println!(
                    "[{:>width$}/{}] {verb} {} = {} → {blocks}",
                    i + 1,
                    pending.len(),
                    escape(name),
                    escape(&info.uuid)
                );
            }
            Err(e) => {
                let left = &pending[i..];
                let before = match created + adopted {
                    0 => "none was provisioned before".to_string(),
                    n => format!("the ids of the {n} provisioned before are in {path}"),
                };
                failure = Some(if e.api_code() == Some(DATABASE_LIMIT) {
                    Diagnostic::error(format!(
                        "the Cloudflare account has reached its limit of D1 databases (error {DATABASE_LIMIT}) while creating `{}`: {} not created ({})",
                        escape(name),
                        count(left.len(), "database"),
                        listed(left)
                    ))
                    .with_help(format!(
                        "{before}. Delete databases the account no longer needs (`wrangler d1 list`), or ask Cloudflare to raise the limit, then run `d1kit provision --remote` again: it creates only what is still missing"
                    ))
                } else {
                    Diagnostic::error(format!(
                        "creating D1 database `{}` failed: {e}",
                        escape(name)
                    ))
                    .with_help(format!(
                        "{before}; run `d1kit provision --remote` again to create the {} left",
                        left.len()
                    ))
                });
                break;
            }
        }
    }
    println!("created {created}, adopted {adopted}, already provisioned {provisioned}");
    match failure {
        None => {
            println!(
                "{path}: ids written into {}",
                count(ids.keys().map(|n| waiting(target, n).len()).sum(), "block")
            );
            ExitCode::SUCCESS
        }
        Some(d) => failed(&Diagnostics(vec![d])),
    }
}

/// The blocks `name`'s id goes into: every block of the file (any scope) still holding the
/// placeholder of that name.
fn waiting<'a>(target: &'a Target, name: &str) -> Vec<&'a FileBlock> {
    target
        .blocks
        .iter()
        .filter(|b| b.database_name.as_deref() == Some(name) && b.has_placeholder_id())
        .collect()
}

/// Up to five names, then how many more.
fn listed(names: &[&str]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(5)
        .map(|n| format!("`{}`", escape(n)))
        .collect();
    match names.len().saturating_sub(5) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Writes every id obtained so far into the file as it is now on disk (a build may have
/// rewritten it meanwhile; it keeps placeholders and real ids alike).
fn write_ids(target: &Target, ids: &BTreeMap<String, String>) -> Result<(), Diagnostics> {
    let text = std::fs::read_to_string(&target.file.path).map_err(|e| {
        error(format!(
            "cannot read `{}`: {e}",
            target.krate.shown(&target.file.path)
        ))
    })?;
    let new = wrangler::set_database_ids(&text, &target.file, ids)?;
    if new != text {
        wrangler::write(&target.file, &new)?;
    }
    Ok(())
}

/// A failed write, with the ids it could not save, so that none is lost.
fn lost_ids(d: Diagnostics, ids: &BTreeMap<String, String>) -> Diagnostic {
    let list: Vec<String> = ids
        .iter()
        .map(|(n, id)| format!("{} = {}", escape(n), escape(id)))
        .collect();
    Diagnostic::error(format!(
        "{d}\nthe databases exist; their ids (database_name = database_id) are:\n  {}",
        list.join("\n  ")
    ))
    .with_help("fix the file, then run `d1kit provision --remote` again: it adopts these databases by name and writes their ids")
}
