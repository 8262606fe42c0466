//! Table-driven analysis cases: every `tests/cases/<suite>/*.toml` (and an optional practice
//! corpus when one sits beside the repository) is checked against the signature d1kit infers.
//! Expected answers were written by hand from docs/TYPING.md; each query is also prepared in
//! SQLite by the analyzer, and a disagreement between the two fails the case.

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

/// A suite's case files (`*.toml`), in name order.
fn case_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn run_suite(dir: &Path, tally: &mut Tally) {
    let set = migrations::load(&dir.join("migrations"), None)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let analyzer =
        Analyzer::from_migrations(&set).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for file in case_files(dir) {
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
    // Exact, so a case deleted or a file no longer read is noticed: when you add (or remove)
    // cases on purpose, update these numbers (check_cases.py prints the same totals).
    assert_eq!(
        (tally.queries, tally.invalid),
        (426, 99),
        "(query cases, rejection cases) changed: update the counts here if that was meant"
    );
}

/// An optional practice corpus (sqlx's SQLite suite with answers by docs/TYPING.md), read from
/// beside the repository when it is there; it is not part of the repository.
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

// ---------------------------------------------------------------------------------------------
// The same cases through the macros: ../tests/analysis_cases.rs (in the d1kit package) is
// generated from them, one `sql!` per query with arguments of the expected parameter types and
// a `let _: Expected = row.field;` per column, so every expectation is also a Rust type check.
// Regenerate with `D1KIT_BLESS=1 cargo test -p d1-codegen --test cases`.

/// Types from other crates, which the d1kit package does not depend on: those cases are left out.
fn external_type(ty: &str) -> bool {
    ty.contains("::")
}

fn rust_value(ty: &str, nullable: bool) -> String {
    let (value, name) = match ty {
        "i64" => ("0_i64", "i64"),
        "f64" => ("0.0_f64", "f64"),
        "String" => ("String::new()", "String"),
        "Vec<u8>" => ("Vec::<u8>::new()", "Vec<u8>"),
        "bool" => ("false", "bool"),
        _ => ("d1kit::Value::Null", "d1kit::Value"),
    };
    if nullable {
        format!("None::<{name}>")
    } else {
        value.to_string()
    }
}

fn rust_field_type(ty: &str, nullable: bool) -> String {
    let base = match ty {
        "Value" => "d1kit::Value".to_string(),
        t => t.to_string(),
    };
    if nullable {
        format!("Option<{base}>")
    } else {
        base
    }
}

/// The row field of a column, by the rule the macros use (`type` → `r#type`).
fn field_name(name: &str) -> String {
    d1_codegen::expand::field_ident(name, proc_macro2::Span::call_site())
        .map_or_else(|_| name.to_string(), |i| i.to_string())
}

fn macro_test_source(root: &Path) -> (String, usize, Vec<String>) {
    let mut out = String::from(
        "//! GENERATED by d1-codegen/tests/cases.rs from d1-codegen/tests/cases/*/*.toml; do not edit.\n\
         //! Every analysis case compiled through `sql!`: arguments of the expected parameter\n\
         //! types, and each row field asserted to have exactly the expected Rust type.\n\
         #![allow(unused, non_snake_case, clippy::all)]\n\
         #![cfg_attr(rustfmt, rustfmt::skip)]\n\n\
         use d1kit::__private::row_of;\n\n",
    );
    let mut customs = std::collections::BTreeSet::new();
    let mut body = String::new();
    let mut count = 0;
    let mut skipped = Vec::new();
    for suite in ["notes", "tracker"] {
        let dir = root.join(suite);
        for file in case_files(&dir) {
            let cases: CaseFile = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let stem = file.file_stem().unwrap().to_string_lossy().to_string();
            for case in &cases.query {
                let types = case
                    .columns
                    .iter()
                    .map(|c| c.ty.as_str())
                    .chain(case.params.iter().map(|p| p.ty.as_str()));
                if types.clone().any(external_type) {
                    skipped.push(format!("{suite}/{stem} {}", case.name));
                    continue;
                }
                for t in types {
                    let known = ["i64", "f64", "String", "Vec<u8>", "bool", "Value", "u32"];
                    if !known.contains(&t) {
                        customs.insert(t.to_string());
                    }
                }
                let args: Vec<String> = case
                    .params
                    .iter()
                    .map(|p| rust_value(&p.ty, p.nullable.unwrap_or(false)))
                    .collect();
                let mut call = format!("d1kit::sql!({suite}, {:?}", case.sql);
                for a in &args {
                    call.push_str(", ");
                    call.push_str(a);
                }
                call.push(')');
                body.push_str(&format!(
                    "fn {suite}__{stem}__{}() {{\n    let q = {call};\n",
                    case.name
                ));
                if !case.columns.is_empty() {
                    body.push_str("    if false {\n        let row = row_of(&q);\n");
                    for c in &case.columns {
                        body.push_str(&format!(
                            "        let _: {} = row.{};\n",
                            rust_field_type(&c.ty, c.nullable),
                            field_name(&c.name)
                        ));
                    }
                    body.push_str("    }\n");
                }
                body.push_str("}\n\n");
                count += 1;
            }
        }
    }
    for c in &customs {
        out.push_str(&format!(
            "#[derive(Debug, Clone, PartialEq)]\npub struct {c}(pub d1kit::Value);\n\
             impl d1kit::Decode for {c} {{\n    fn decode(v: d1kit::Value) -> Result<Self, String> {{\n        Ok({c}(v))\n    }}\n}}\n\n"
        ));
    }
    out.push_str(&format!(
        "#[test]\nfn every_analysis_case_compiles_through_sql() {{\n    // Compiling this file is the test; {count} queries.\n}}\n\n"
    ));
    out.push_str(&body);
    (out, count, skipped)
}

#[test]
fn generated_macro_test_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/analysis_cases.rs");
    let (source, count, skipped) = macro_test_source(&root);
    println!(
        "{count} cases through sql!; left out for types of other crates: {}",
        skipped.join(", ")
    );
    if std::env::var_os("D1KIT_BLESS").is_some() {
        std::fs::write(&target, &source).unwrap();
    }
    let current = std::fs::read_to_string(&target).unwrap_or_default();
    assert!(
        current == source,
        "{} is stale: run `D1KIT_BLESS=1 cargo test -p d1-codegen --test cases`",
        target.display()
    );
}

/// The tenant lint over every analysis case, with the suite's owner column as the tenant column
/// (`owner_id` for notes, `workspace_id` for tracker): it must look into every SELECT of every
/// statement (no "could not check" warning) and never panic. Its verdicts are not asserted here
/// (the cases were written for one database per user, so most do not constrain the column);
/// `D1KIT_TENANT_REPORT=1` prints them.
#[test]
fn tenant_lint_sees_every_select() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let report = std::env::var_os("D1KIT_TENANT_REPORT").is_some();
    let (mut checked, mut rejected) = (0, 0);
    let mut missed = Vec::new();
    for (suite, column) in [("notes", "owner_id"), ("tracker", "workspace_id")] {
        let dir = root.join(suite);
        let set = migrations::load(&dir.join("migrations"), None).unwrap();
        let analyzer = Analyzer::from_migrations(&set).unwrap();
        let checks = d1_codegen::Checks {
            tenant_column: Some(column),
            ..d1_codegen::Checks::default()
        };
        for file in case_files(&dir) {
            let cases: CaseFile = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            for case in &cases.query {
                checked += 1;
                match d1_codegen::lint::check(&analyzer, &case.sql, checks) {
                    Ok(sig) => {
                        for w in sig.warnings.iter().filter(|w| w.message.contains("tenant")) {
                            missed.push(format!("{suite} {}: {}", case.name, w.message));
                        }
                    }
                    Err(e) => {
                        rejected += 1;
                        if report {
                            println!("{suite} {}: {}\n    {e}", case.name, case.sql);
                        }
                    }
                }
            }
        }
    }
    println!("tenant lint: {checked} statements, {rejected} rejected");
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}
