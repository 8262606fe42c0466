//! d1-codegen's top-level modules depend on each other in one direction only: the pipeline
//! config → migrations → schema → analyze → lint → driver → expand, over leaves (diagnostic,
//! types, overrides, sqlast, lex, rules). This reads every `crate::` path in the library's code
//! (comments and `#[cfg(test)]` modules left out) and fails on a cycle, naming it, so the graph
//! docs/ARCHITECTURE.md draws stays true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code: comments removed, and everything from the first `#[cfg(test)]` on (test
/// modules sit at the end of their file, or in a `tests.rs` of their own).
fn code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names right after each `crate::` (both `crate::a::..` and `crate::{a, b::c}`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            out.push(item);
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out.into_iter()
        .map(|p| {
            p.trim()
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|p| !p.is_empty() && p != "self")
        .collect()
}

/// What the crate root re-exports (`pub use analyze::{Analyzer, ..}`): name → module.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        for name in names.trim_matches(|c| "{};".contains(c)).split(',') {
            out.insert(name.trim().to_string(), module.to_string());
        }
    }
    out
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect();
    let exports = root_exports(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        assert!(
            modules.contains(&module),
            "{} is in no module",
            file.display()
        );
        let edges = graph.entry(module.clone()).or_default();
        for name in crate_paths(&code(&file)) {
            let target = if modules.contains(&name) {
                name
            } else if let Some(m) = exports.get(&name) {
                m.clone()
            } else {
                panic!(
                    "{}: `crate::{name}` is neither a module nor a re-export",
                    file.display()
                );
            };
            if target != module {
                edges.insert(target);
            }
        }
    }
    graph
}

/// A cycle of `graph`, if it has one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    for (module, edges) in &graph {
        eprintln!("{module} -> {edges:?}");
    }
    if let Some(c) = cycle(&graph) {
        panic!(
            "d1-codegen's modules import each other in a cycle: {}",
            c.join(" -> ")
        );
    }
}

#[test]
fn the_pipeline_runs_one_way() {
    let graph = graph();
    let pipeline = [
        "config",
        "migrations",
        "schema",
        "analyze",
        "lint",
        "driver",
        "expand",
    ];
    for (i, module) in pipeline.iter().enumerate() {
        for later in &pipeline[i + 1..] {
            assert!(
                !graph[*module].contains(*later),
                "`{module}` uses `{later}`, which comes after it in the pipeline"
            );
        }
    }
}

#[test]
fn the_reader_finds_every_form_of_path() {
    let found = crate_paths("use crate::{a::b, c, d::{e, f}};\nlet x = crate::g::h(crate::i);");
    assert_eq!(found, ["a", "c", "d", "g", "i"]);
    // A cycle is found and named.
    let mut g = Graph::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["a".to_string()].into());
    assert_eq!(cycle(&g).unwrap(), ["a", "b", "a"]);
}
