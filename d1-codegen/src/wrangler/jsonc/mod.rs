//! `wrangler.json` / `wrangler.jsonc`: the `d1_databases` blocks read from the file ([`parse`]
//! keeps every value's byte range) and a plan applied as splices of the text ([`edit`]), so
//! that comments, formatting and every value d1kit does not own stay byte for byte.

mod edit;
mod parse;

use edit::{base_text, json_str, remove, splice, update_and_add, Splice};
use parse::{parse, Kind, Node};

use super::durable::{FoundDurable, Tree, TreeKind};
use super::{FileBlock, Found, FoundBlock, FoundScope, Plan};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use std::path::Path;

const ARRAY: &str = "d1_databases";

fn string_of(node: Option<&Node>, text: &str) -> Option<String> {
    let node = node?;
    Some(match &node.kind {
        Kind::Str(s) => s.clone(),
        _ => text[node.start..node.end].to_string(),
    })
}

fn not_object(text: &str, path: &Path, node: &Node, what: &str) -> Diagnostics {
    Diagnostics(vec![Diagnostic::error(format!(
        "`{what}` in `{}` is not {}",
        super::file_name(path),
        if what.ends_with(ARRAY) {
            "an array"
        } else {
            "an object"
        }
    ))
    .in_file(path)
    .at(Location::at(text, node.start), 1)])
}

fn blocks(
    text: &str,
    path: &Path,
    scope: &Node,
    what: &str,
) -> Result<Vec<FoundBlock>, Diagnostics> {
    let Some(array) = scope.member(ARRAY) else {
        return Ok(Vec::new());
    };
    let Kind::Array(elements) = &array.value.kind else {
        return Err(not_object(text, path, &array.value, what));
    };
    Ok(elements
        .iter()
        .map(|e| {
            let get = |k: &str| string_of(e.value.member(k).map(|m| &m.value), text);
            FoundBlock {
                offset: e.value.start,
                binding: get("binding"),
                database_name: get("database_name"),
                database_id: get("database_id"),
                migrations_dir: get("migrations_dir"),
                migrations_pattern: get("migrations_pattern"),
            }
        })
        .collect())
}

/// The object of environment `env`: `Ok(None)` when it is not there.
fn env_object<'a>(
    text: &str,
    path: &Path,
    root: &'a Node,
    env: &str,
) -> Result<Option<&'a Node>, Diagnostics> {
    let Some(envs) = root.member("env") else {
        return Ok(None);
    };
    if !matches!(envs.value.kind, Kind::Object(_)) {
        return Err(not_object(text, path, &envs.value, "env"));
    }
    match envs.value.member(env) {
        None => Ok(None),
        Some(m) if matches!(m.value.kind, Kind::Object(_)) => Ok(Some(&m.value)),
        Some(m) => Err(not_object(text, path, &m.value, &format!("env.{env}"))),
    }
}

/// The blocks of the top level and of each environment in `envs`.
pub(super) fn read(text: &str, path: &Path, envs: &[String]) -> Result<Found, Diagnostics> {
    let text = base_text(text);
    let root = parse(&text, path)?;
    let mut found = Found {
        name: string_of(root.member("name").map(|m| &m.value), &text),
        scopes: vec![FoundScope {
            env: None,
            name: None,
            blocks: blocks(&text, path, &root, ARRAY)?,
            durable: durable_of(&root),
        }],
    };
    for env in envs {
        if let Some(scope) = env_object(&text, path, &root, env)? {
            found.scopes.push(FoundScope {
                env: Some(env.clone()),
                name: string_of(scope.member("name").map(|m| &m.value), &text),
                blocks: blocks(&text, path, scope, &format!("env.{env}.{ARRAY}"))?,
                durable: durable_of(scope),
            });
        }
    }
    Ok(found)
}

/// The scope's members about Durable Objects, as trees.
fn durable_of(scope: &Node) -> FoundDurable {
    let tree = |key: &str| scope.member(key).map(|m| tree_of(&m.value));
    FoundDurable {
        durable_objects: tree("durable_objects"),
        migrations: tree("migrations"),
        exports: tree("exports"),
    }
}

fn tree_of(node: &Node) -> Tree {
    let kind = match &node.kind {
        Kind::Str(s) => TreeKind::Str(s.clone()),
        Kind::Array(e) => TreeKind::Array(e.iter().map(|e| tree_of(&e.value)).collect()),
        Kind::Object(m) => TreeKind::Object(
            m.iter()
                .map(|m| (m.key.clone(), tree_of(&m.value)))
                .collect(),
        ),
        Kind::Other => TreeKind::Other,
    };
    Tree::new(node.start, kind)
}

/// `text` with `plan` applied.
pub(super) fn apply(text: &str, path: &Path, plan: &Plan) -> Result<String, Diagnostics> {
    let text = base_text(text);
    let root = parse(&text, path)?;
    let removed = splice(&text, remove(&text, &root, plan));
    let root = parse(&removed, path)?;
    let out = splice(&removed, update_and_add(&removed, &root, plan));
    // What d1kit wrote must read back; a failure here is d1kit's bug, reported as such.
    parse(&out, path).map_err(|mut d| {
        for e in &mut d.0 {
            e.message = format!(
                "d1kit's edit broke the file, please report this: {}",
                e.message
            );
        }
        d
    })?;
    Ok(out)
}

/// The top level and each environment object of the file, in file order.
fn all_scopes(root: &Node) -> Vec<(Option<String>, &Node)> {
    let mut scopes = vec![(None, root)];
    if let Some(Kind::Object(envs)) = root.member("env").map(|m| &m.value.kind) {
        for m in envs {
            if matches!(m.value.kind, Kind::Object(_)) {
                scopes.push((Some(m.key.clone()), &m.value));
            }
        }
    }
    scopes
}

/// The objects of a scope's `d1_databases` array.
fn block_objects(scope: &Node) -> impl Iterator<Item = &Node> {
    let elements = match scope.member(ARRAY).map(|m| &m.value.kind) {
        Some(Kind::Array(e)) => e.as_slice(),
        _ => &[],
    };
    elements
        .iter()
        .map(|e| &e.value)
        .filter(|v| matches!(v.kind, Kind::Object(_)))
}

/// Every block of the top level and of each environment of the file, in file order.
pub(super) fn list(text: &str, path: &Path) -> Result<Vec<FileBlock>, Diagnostics> {
    let root = parse(text, path)?;
    let mut out = Vec::new();
    for (env, scope) in all_scopes(&root) {
        for block in block_objects(scope) {
            let get = |k: &str| string_of(block.member(k).map(|m| &m.value), text);
            out.push(FileBlock {
                env: env.clone(),
                binding: get("binding"),
                database_name: get("database_name"),
                database_id: get("database_id"),
                preview_database_id: get("preview_database_id"),
                line: Location::at(text, block.start).line,
            });
        }
    }
    Ok(out)
}

/// `text` with the `database_id` of each block for which `new_id(database_name, database_id)`
/// gives one replaced: only that string's bytes change.
pub(super) fn set_ids(
    text: &str,
    path: &Path,
    new_id: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<String, Diagnostics> {
    let root = parse(text, path)?;
    let mut splices = Vec::new();
    for (_, scope) in all_scopes(&root) {
        for block in block_objects(scope) {
            let str_of = |k: &str| match block.member(k).map(|m| &m.value) {
                Some(Node {
                    kind: Kind::Str(s),
                    start,
                    end,
                }) => Some((s.as_str(), *start, *end)),
                _ => None,
            };
            let (Some((name, ..)), Some((id, start, end))) =
                (str_of("database_name"), str_of("database_id"))
            else {
                continue;
            };
            if let Some(new) = new_id(name, id) {
                splices.push(Splice {
                    start,
                    end,
                    text: json_str(&new),
                });
            }
        }
    }
    if splices.is_empty() {
        return Ok(text.to_string());
    }
    Ok(splice(text, splices))
}

#[cfg(test)]
mod tests {
    use super::edit::insert_items;
    use super::*;
    use crate::wrangler::Anchor;

    fn root(text: &str) -> Result<Node, String> {
        parse(text, Path::new("w.jsonc")).map_err(|d| d.to_string())
    }

    #[test]
    fn parses_comments_strings_and_trailing_commas() {
        let text = "// top\n{ /* a } */ \"name\": \"x // not a comment\", \"n\": [1, -2.5e3, true, null,], \"o\": {\"k\": \"\\\"}\"},\n}\n";
        let r = root(text).unwrap();
        assert!(
            matches!(&r.member("name").unwrap().value.kind, Kind::Str(s) if s == "x // not a comment")
        );
        assert!(
            matches!(&r.member("o").unwrap().value.member("k").unwrap().value.kind, Kind::Str(s) if s == "\"}")
        );
        let Kind::Array(e) = &r.member("n").unwrap().value.kind else {
            panic!()
        };
        assert_eq!(e.len(), 4);
        assert!(e[3].comma.is_some());
    }

    #[test]
    fn rejects_broken_json_with_a_line() {
        for (text, line) in [
            ("{\n\"a\": 1\n\"b\": 2}", 3),
            ("{\"a\": \"x}", 1),
            ("{\n/* open", 2),
            ("[1]", 1),
            ("{} x", 1),
            ("{\"a\" 1}", 1),
        ] {
            let err = parse(text, Path::new("w.json")).unwrap_err();
            assert_eq!(err.0[0].span.location.unwrap().line, line, "{text}: {err}");
        }
        let deep = "[".repeat(1000);
        assert!(parse(&format!("{{\"a\": {deep}}}"), Path::new("w.json")).is_err());
    }

    #[test]
    fn inserts_keep_commas_valid() {
        for text in [
            "{\"a\": [1, 2]}",
            "{\"a\": [1, 2,]}",
            "{\"a\": []}",
            "{\"a\": [\n  1 // one\n]}",
            "{\"a\": [\n  // nothing yet\n]}",
        ] {
            let r = root(text).unwrap();
            let a = &r.member("a").unwrap().value;
            let out = splice(
                text,
                insert_items(text, a, Anchor::End, &["9".into()], "  "),
            );
            let back = root(&out).unwrap_or_else(|e| panic!("{text} → {out}: {e}"));
            let Kind::Array(e) = &back.member("a").unwrap().value.kind else {
                panic!()
            };
            assert_eq!(e.len(), a.items().len() + 1, "{out}");
        }
    }
}
