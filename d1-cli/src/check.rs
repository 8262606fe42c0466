//! `d1kit check`: one statement → its signature (text or JSON), or its errors.

use crate::report;
use crate::{CheckArgs, Format};
use d1_codegen::{config, lint, migrations, Checks, Diagnostics, Signature};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the SQL came from, for error reports.
struct Input {
    name: String,
    sql: String,
}

pub fn run(args: CheckArgs) -> ExitCode {
    let input = match (&args.sql, &args.file) {
        (Some(sql), _) => Input {
            name: "<sql>".into(),
            sql: sql.clone(),
        },
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(sql) => Input {
                name: path.display().to_string(),
                sql,
            },
            Err(e) => {
                return fail(
                    args.format,
                    &format!("cannot read `{}`: {e}", path.display()),
                );
            }
        },
        (None, None) => return fail(args.format, "give the statement with --sql or --file"),
    };
    let (dir, configured_tenant, lints) = match database(&args) {
        Ok(d) => d,
        Err(d) => return rejected(args.format, &d, None),
    };
    let tenant = args.tenant_column.clone().or(configured_tenant);
    let checks = Checks {
        tenant_column: tenant.as_deref().filter(|_| !args.cross_tenant),
        full_scan: lints.full_scan,
    };
    let analyzer = match migrations::load(&dir).and_then(|set| lint::load(&set, &lints)) {
        Ok(a) => a,
        Err(d) => return rejected(args.format, &d, None),
    };
    // What loading the migrations found (a `PRAGMA foreign_keys` D1 ignores, duplicate
    // numbers, statements d1kit's parser cannot read): each points into its migration file.
    for w in analyzer.warnings() {
        report::eprint(w, None);
    }
    match lint::check(&analyzer, &input.sql, checks) {
        Ok(sig) => {
            for w in &sig.warnings {
                report::eprint(w, Some((&input.name, &input.sql)));
            }
            match args.format {
                Format::Json => println!("{}", signature_json(&sig)),
                Format::Text => print!("{}", signature_text(&sig)),
            }
            ExitCode::SUCCESS
        }
        Err(d) => rejected(args.format, &d, Some(&input)),
    }
}

/// The migrations directory, the tenant column the configuration names (none with
/// `--migrations`) and its lint levels (the defaults with `--migrations`).
fn database(args: &CheckArgs) -> Result<(PathBuf, Option<String>, config::Lints), Diagnostics> {
    if let Some(dir) = &args.migrations {
        return Ok((dir.clone(), None, config::Lints::default()));
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Diagnostics(vec![d1_codegen::Diagnostic::error(format!(
            "no current directory: {e}"
        ))])
    })?;
    let config = if cwd.join("Cargo.toml").is_file() {
        config::load(&cwd)?
    } else {
        config::Config::default_for(&cwd)
    };
    let db = config
        .database(args.database.as_deref())
        .map_err(|d| Diagnostics(vec![d]))?;
    Ok((db.migrations.clone(), db.tenant_column.clone(), db.lints))
}

fn fail(format: Format, message: &str) -> ExitCode {
    rejected(
        format,
        &Diagnostics(vec![d1_codegen::Diagnostic::error(message)]),
        None,
    )
}

fn rejected(format: Format, errors: &Diagnostics, input: Option<&Input>) -> ExitCode {
    match format {
        Format::Json => {
            println!("{}", report::json_errors(errors));
        }
        Format::Text => {
            for d in &errors.0 {
                report::eprint(d, input.map(|i| (i.name.as_str(), i.sql.as_str())));
            }
        }
    }
    ExitCode::FAILURE
}

/// The JSON shape of `--format json` (see the README, `d1kit check`): kind, params, columns.
pub fn signature_json(sig: &Signature) -> Value {
    json!({
        "kind": sig.kind.as_str(),
        "params": sig.params.iter().map(|p| json!({
            "index": p.index,
            "name": p.name,
            "type": p.ty.ty.rust_name(),
            "nullable": p.ty.nullable,
        })).collect::<Vec<_>>(),
        "columns": sig.columns.iter().map(|c| json!({
            "name": c.name,
            "type": c.ty.ty.rust_name(),
            "nullable": c.ty.nullable,
        })).collect::<Vec<_>>(),
    })
}

fn signature_text(sig: &Signature) -> String {
    let mut out = format!("{} statement\n", sig.kind.as_str().to_uppercase());
    if sig.params.is_empty() {
        out.push_str("parameters: none\n");
    } else {
        out.push_str("parameters:\n");
        for p in &sig.params {
            let name = p
                .name
                .as_deref()
                .map(|n| format!(" :{n}"))
                .unwrap_or_default();
            out.push_str(&format!("  ?{}{name}: {}\n", p.index, p.ty));
        }
    }
    if sig.columns.is_empty() {
        out.push_str("columns: none\n");
    } else {
        out.push_str("columns:\n");
        let width = sig.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &sig.columns {
            out.push_str(&format!("  {:width$}  {}\n", c.name, c.ty));
        }
    }
    out
}
