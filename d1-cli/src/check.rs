//! `d1kit check`: one statement → its signature (text or JSON), or its errors.

use crate::report;
use crate::{CheckArgs, Format};
use d1_codegen::{config, lint, migrations, rules, Checks, Diagnostic, Diagnostics, Signature};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the SQL came from, for error reports.
struct Input {
    name: String,
    sql: String,
}

/// The most `check --file` reads: D1's limit on a statement, and room for the whitespace and
/// comments around it. A larger file is refused unread past this (`/dev/zero` included).
const MAX_FILE_BYTES: u64 = d1_codegen::rules::MAX_STATEMENT_BYTES as u64 + 64 * 1024;

/// The widest a result column's or parameter's name is shown in `check`'s table; a longer
/// one is cut with `…` (`--format json` gives it whole).
const NAME_WIDTH: usize = 64;

pub fn run(args: CheckArgs) -> ExitCode {
    let input = match (&args.sql, &args.file) {
        (Some(sql), _) => Input {
            name: "<sql>".into(),
            sql: sql.clone(),
        },
        (None, Some(path)) => match read_file(path) {
            (input, None) => input,
            (input, Some(d)) => return rejected(args.format, &Diagnostics(vec![d]), Some(&input)),
        },
        (None, None) => return fail(args.format, "give the statement with --sql or --file"),
    };
    let (dir, pattern, configured_tenant, lints, engine) = match database(&args) {
        Ok(d) => d,
        Err(d) => return rejected(args.format, &d, None),
    };
    let tenant = args.tenant_column.clone().or(configured_tenant);
    let checks = Checks {
        tenant_column: tenant.as_deref().filter(|_| !args.cross_tenant),
        full_scan: lints.full_scan,
    };
    let analyzer = match migrations::load(&dir, pattern.as_deref())
        .and_then(|set| lint::load_on(&set, &lints, engine))
    {
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

/// The query file `--file` names, read up to [`MAX_FILE_BYTES`], and why it cannot be
/// checked, if it cannot (the error may point into the text, decoded lossily).
fn read_file(path: &Path) -> (Input, Option<Diagnostic>) {
    let name = path.display().to_string();
    let shown = report::escape(&name).into_owned();
    let mut bytes = Vec::new();
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
    let error = if let Err(e) = read {
        Some(Diagnostic::error(format!("cannot read `{shown}`: {e}")))
    } else if bytes.len() as u64 > MAX_FILE_BYTES {
        Some(
            Diagnostic::error(format!(
                "`{shown}` is too large: d1kit reads at most {MAX_FILE_BYTES} bytes of a query file, and D1 rejects statements over {} bytes",
                d1_codegen::rules::MAX_STATEMENT_BYTES
            ))
            .with_help("give `d1kit check` a file holding one statement"),
        )
    } else {
        None
    };
    if error.is_some() {
        let sql = String::new();
        return (Input { name, sql }, error);
    }
    match String::from_utf8(bytes) {
        Ok(sql) => (Input { name, sql }, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let byte = e.as_bytes()[at];
            // The text up to the first invalid byte is the same in the lossy decoding.
            let sql = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = Diagnostic::error(format!(
                "`{shown}` is not valid UTF-8: invalid byte 0x{byte:02x}"
            ))
            .with_help("save the file as UTF-8 (it may be in another encoding, such as Latin-1)")
            .at_offset(&sql, at, 1);
            (Input { name, sql }, Some(d))
        }
    }
}

/// The migrations directory and pattern, the tenant column the configuration names (none
/// with `--migrations`) and its lint levels (the defaults with `--migrations`), and what runs
/// its SQL (D1 with `--migrations`; a configured `durable_object`: a Durable Object).
type Database = (
    PathBuf,
    Option<String>,
    Option<String>,
    config::Lints,
    rules::Engine,
);

fn database(args: &CheckArgs) -> Result<Database, Diagnostics> {
    if let Some(dir) = &args.migrations {
        let pattern = args.migrations_pattern.clone();
        return Ok((
            dir.clone(),
            pattern,
            None,
            config::Lints::default(),
            rules::Engine::D1,
        ));
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
    Ok((
        db.migrations.clone(),
        db.migrations_pattern.clone(),
        db.tenant_column.clone(),
        db.lints,
        if db.is_d1() {
            rules::Engine::D1
        } else {
            rules::Engine::DurableObject
        },
    ))
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
    // Names come from the query: escaped, and cut to a width a terminal shows.
    let shown = |name: &str| report::clip(&report::escape(name), NAME_WIDTH).into_owned();
    let mut out = format!("{} statement\n", sig.kind.as_str().to_uppercase());
    if sig.params.is_empty() {
        out.push_str("parameters: none\n");
    } else {
        out.push_str("parameters:\n");
        for p in &sig.params {
            let name = p
                .name
                .as_deref()
                .map(|n| format!(" :{}", shown(n)))
                .unwrap_or_default();
            out.push_str(&format!("  ?{}{name}: {}\n", p.index, p.ty));
        }
    }
    if sig.columns.is_empty() {
        out.push_str("columns: none\n");
    } else {
        out.push_str("columns:\n");
        let names: Vec<String> = sig.columns.iter().map(|c| shown(&c.name)).collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        for (c, name) in sig.columns.iter().zip(&names) {
            let pad = width - name.chars().count();
            out.push_str(&format!("  {name}{}  {}\n", " ".repeat(pad), c.ty));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_codegen::{ResultColumn, SqlType, StatementKind, Ty};

    fn column(name: &str) -> ResultColumn {
        ResultColumn {
            name: name.to_string(),
            ty: Ty {
                ty: SqlType::Integer,
                nullable: false,
            },
            origin: None,
        }
    }

    /// A name longer than a format width may be (65,535) is cut, the others aligned on the
    /// widest shown; control characters are escaped.
    #[test]
    fn long_and_odd_names_are_cut_and_escaped() {
        let long = "a".repeat(70_000);
        let sig = Signature {
            kind: StatementKind::Select,
            params: Vec::new(),
            columns: vec![column(&long), column("id"), column("x\ny\u{1b}[31m")],
            warnings: Vec::new(),
        };
        let text = signature_text(&sig);
        let lines: Vec<&str> = text.lines().collect();
        let cut = format!("{}…", "a".repeat(NAME_WIDTH - 1));
        assert_eq!(lines[3], format!("  {cut}  i64"));
        assert_eq!(lines[4], format!("  id{}  i64", " ".repeat(NAME_WIDTH - 2)));
        assert!(lines[5].starts_with("  x\\ny\\u{1b}[31m "), "{text}");
        assert_eq!(lines.len(), 6, "{text}");
    }
}
