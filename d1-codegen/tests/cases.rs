//! Table-driven analysis cases: every `tests/cases/<suite>/*.toml` (and the shared practice corpus
//! when it sits beside the repository) is checked against the signature d1kit infers. Expected
//! answers were written by hand from DESIGN.md §3.1; each query is also prepared in SQLite by
//! the analyzer, and a disagreement between the two fails the case.

use d1_codegen::{migrations, Analyzer, Signature};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct CaseFile {
    #[serde(default)]
    query: Vec<QueryCase>,
    #[serde(default)]
    invalid: Vec<InvalidCase>,
}

#[derive(Deserialize)]
struct QueryCase {
    name: String,
    sql: String,
    #[serde(default)]
    columns: Vec<Expected>,
    #[serde(default)]
    params: Vec<ExpectedParam>,
    #[serde(default)]
    confidence: Option<String>,
}

#[derive(Deserialize)]
struct Expected {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    nullable: bool,
}

#[derive(Deserialize)]
struct ExpectedParam {
    index: u32,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    nullable: Option<bool>,
}

#[derive(Deserialize)]
struct InvalidCase {
    name: String,
    sql: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    suggestion: Option<String>,
    #[serde(default)]
    line: Option<u32>,
    #[serde(default)]
    column: Option<u32>,
}

fn norm(t: &str) -> String {
    t.replace(' ', "")
        .replace("std::string::", "")
        .replace("alloc::string::", "")
}

fn compare(case: &QueryCase, sig: &Signature) -> Vec<String> {
    let mut problems = Vec::new();
    if sig.columns.len() != case.columns.len() {
        problems.push(format!(
            "{} columns, want {}: got [{}]",
            sig.columns.len(),
            case.columns.len(),
            sig.columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.ty))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (want, got) in case.columns.iter().zip(&sig.columns) {
        if want.name != got.name
            || norm(&want.ty) != norm(got.ty.ty.rust_name())
            || want.nullable != got.ty.nullable
        {
            problems.push(format!(
                "column `{}`: want {}{}, got `{}` {}{}",
                want.name,
                want.ty,
                if want.nullable { "?" } else { "" },
                got.name,
                got.ty.ty,
                if got.ty.nullable { "?" } else { "" }
            ));
        }
    }
    for want in &case.params {
        match sig.params.iter().find(|p| p.index == want.index) {
            None => problems.push(format!("param {} missing", want.index)),
            Some(got) => {
                let nullable_ok = want.nullable.is_none_or(|n| n == got.ty.nullable);
                let name_ok = want.name.is_none() || want.name == got.name;
                if norm(&want.ty) != norm(got.ty.ty.rust_name()) || !nullable_ok || !name_ok {
                    problems.push(format!(
                        "param {}: want {:?} {}{}, got {:?} {}{}",
                        want.index,
                        want.name,
                        want.ty,
                        if want.nullable == Some(true) { "?" } else { "" },
                        got.name,
                        got.ty.ty,
                        if got.ty.nullable { "?" } else { "" }
                    ));
                }
            }
        }
    }
    if case.params.len() != sig.params.len() && !case.params.is_empty() {
        problems.push(format!(
            "{} params, want {}",
            sig.params.len(),
            case.params.len()
        ));
    }
    for w in &sig.warnings {
        problems.push(format!("warning: {}", w.message));
    }
    problems
}

struct Tally {
    queries: usize,
    invalid: usize,
    failures: Vec<String>,
}

fn run_suite(dir: &Path, tally: &mut Tally) {
    let set = migrations::load(&dir.join("migrations"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let analyzer =
        Analyzer::from_migrations(&set).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let cases: CaseFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let label = format!(
            "{}/{}",
            dir.file_name().unwrap().to_string_lossy(),
            file.file_name().unwrap().to_string_lossy()
        );
        for case in &cases.query {
            if case.confidence.as_deref().is_some_and(|c| c != "high") {
                continue;
            }
            tally.queries += 1;
            match analyzer.analyze(&case.sql) {
                Ok(sig) => {
                    let problems = compare(case, &sig);
                    if !problems.is_empty() {
                        tally.failures.push(format!(
                            "{label} {}: {}",
                            case.name,
                            problems.join("; ")
                        ));
                    }
                }
                Err(e) => tally
                    .failures
                    .push(format!("{label} {}: rejected: {e}", case.name)),
            }
        }
        for case in &cases.invalid {
            tally.invalid += 1;
            let Err(errors) = analyzer.analyze(&case.sql) else {
                tally
                    .failures
                    .push(format!("{label} {}: accepted, want an error", case.name));
                continue;
            };
            let Some(msg) = &case.message else { continue };
            let Some(d) = errors.0.iter().find(|d| d.message.contains(msg.as_str())) else {
                tally.failures.push(format!(
                    "{label} {}: no error contains {msg:?}: {errors}",
                    case.name
                ));
                continue;
            };
            if let Some(s) = &case.suggestion {
                if !d.help.as_deref().is_some_and(|h| h.contains(s.as_str())) {
                    tally.failures.push(format!(
                        "{label} {}: help {:?} lacks {s:?}",
                        case.name, d.help
                    ));
                }
            }
            let at = d.span.location.map(|l| (l.line, l.column));
            if case.line.is_some() || case.column.is_some() {
                let want = (case.line.unwrap_or(0), case.column.unwrap_or(0));
                let ok = at.is_some_and(|(l, c)| {
                    case.line.is_none_or(|w| w == l) && case.column.is_none_or(|w| w == c)
                });
                if !ok {
                    tally.failures.push(format!(
                        "{label} {}: at {at:?}, want {want:?} ({})",
                        case.name, d.message
                    ));
                }
            }
        }
    }
}

#[test]
fn analysis_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut tally = Tally {
        queries: 0,
        invalid: 0,
        failures: Vec::new(),
    };
    let mut suites: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("migrations").is_dir())
        .collect();
    suites.sort();
    for s in &suites {
        run_suite(s, &mut tally);
    }
    println!(
        "{} query cases, {} rejection cases",
        tally.queries, tally.invalid
    );
    if !tally.failures.is_empty() {
        panic!(
            "{} of {} cases fail:\n{}",
            tally.failures.len(),
            tally.queries + tally.invalid,
            tally.failures.join("\n")
        );
    }
    assert!(tally.queries >= 200, "only {} query cases", tally.queries);
    assert!(
        tally.invalid >= 30,
        "only {} rejection cases",
        tally.invalid
    );
}

/// The practice corpus of ../shared (sqlx's SQLite suite with answers by §3.1), when present.
#[test]
fn shared_practice_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus-sample");
    if !corpus.is_dir() {
        eprintln!("no ../shared/corpus-sample beside the repository; skipped");
        return;
    }
    let mut tally = Tally {
        queries: 0,
        invalid: 0,
        failures: Vec::new(),
    };
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("queries.toml").is_file() {
            run_suite(&dir, &mut tally);
        }
    }
    println!(
        "corpus: {} query cases, {} rejection cases",
        tally.queries, tally.invalid
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
}
