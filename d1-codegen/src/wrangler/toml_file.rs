//! `wrangler.toml`: the `[[d1_databases]]` blocks read with their lines, and a plan applied with
//! `toml_edit`, which keeps every comment, key and table it is not asked to change.

use super::{Anchor, Block, FileBlock, Found, FoundBlock, FoundScope, Plan, ScopePlan};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use std::path::Path;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

const ARRAY: &str = "d1_databases";

fn error(text: &str, path: &Path, offset: usize, message: String) -> Diagnostics {
    Diagnostics(vec![Diagnostic::error(message)
        .in_file(path)
        .at(Location::at(text, offset), 1)])
}

fn syntax_error(text: &str, path: &Path, e: &toml_edit::TomlError) -> Diagnostics {
    let offset = e.span().map_or(0, |s| s.start);
    error(
        text,
        path,
        offset,
        format!(
            "`{}` is not valid TOML: {}",
            super::file_name(path),
            e.message()
        ),
    )
}

/// A string value as it is, anything else as its source text (which never equals a string
/// d1kit writes); `None` when the key is absent.
fn value_of(t: &Table, key: &str) -> Option<String> {
    match t.get(key)? {
        Item::Value(Value::String(s)) => Some(s.value().clone()),
        Item::Value(v) => Some(v.to_string().trim().to_string()),
        other => Some(other.to_string().trim().to_string()),
    }
}

fn name_of(t: &Table) -> Option<String> {
    t.get("name").and_then(Item::as_str).map(str::to_string)
}

fn blocks(
    text: &str,
    path: &Path,
    scope: &Table,
    what: &str,
) -> Result<Vec<FoundBlock>, Diagnostics> {
    match scope.get(ARRAY) {
        None => Ok(Vec::new()),
        Some(Item::ArrayOfTables(a)) => Ok(a
            .iter()
            .map(|t| FoundBlock {
                offset: t.span().map_or(0, |s| s.start),
                binding: value_of(t, "binding"),
                database_name: value_of(t, "database_name"),
                database_id: value_of(t, "database_id"),
                migrations_dir: value_of(t, "migrations_dir"),
                migrations_pattern: value_of(t, "migrations_pattern"),
            })
            .collect()),
        Some(other) => Err(Diagnostics(vec![Diagnostic::error(format!(
            "`{what}` in `{}` is not written as [[{what}]] tables: d1kit edits only that form",
            super::file_name(path)
        ))
        .with_help(format!("write each database as a `[[{what}]]` block"))
        .in_file(path)
        .at(Location::at(text, other.span().map_or(0, |s| s.start)), 1)])),
    }
}

/// The blocks of the top level and of each environment in `envs`.
pub(super) fn read(text: &str, path: &Path, envs: &[String]) -> Result<Found, Diagnostics> {
    let doc = toml_edit::Document::parse(text).map_err(|e| syntax_error(text, path, &e))?;
    let root = doc.as_table();
    let mut found = Found {
        name: name_of(root),
        scopes: vec![FoundScope {
            env: None,
            name: None,
            blocks: blocks(text, path, root, ARRAY)?,
        }],
    };
    for env in envs {
        let Some(item) = root.get("env") else { break };
        let not_table = |item: &Item, what: &str| {
            error(
                text,
                path,
                item.span().map_or(0, |s| s.start),
                format!(
                    "`{what}` in `{}` is not a table: d1kit adds its [[{what}.{ARRAY}]] blocks only to an `[{what}]` table",
                    super::file_name(path)
                ),
            )
        };
        let Some(env_table) = item.as_table() else {
            return Err(not_table(item, "env"));
        };
        let Some(scope) = env_table.get(env) else {
            continue;
        };
        let what = format!("env.{env}");
        let Some(scope) = scope.as_table() else {
            return Err(not_table(scope, &what));
        };
        found.scopes.push(FoundScope {
            env: Some(env.clone()),
            name: name_of(scope),
            blocks: blocks(text, path, scope, &format!("{what}.{ARRAY}"))?,
        });
    }
    Ok(found)
}

/// Every table of the document, depth first.
fn for_each_table(t: &mut Table, f: &mut impl FnMut(&mut Table)) {
    f(t);
    for (_, item) in t.iter_mut() {
        match item {
            Item::Table(t) => for_each_table(t, f),
            Item::ArrayOfTables(a) => {
                for t in a.iter_mut() {
                    for_each_table(t, f);
                }
            }
            _ => {}
        }
    }
}

fn positions(t: &mut Table) -> Vec<isize> {
    let mut out = Vec::new();
    for_each_table(t, &mut |t| out.extend(t.position()));
    out
}

/// Sets `key` to the string `value`, keeping the spacing and comment around an old value, and
/// indenting a new key like the table's first one.
fn set_str(table: &mut Table, key: &str, value: &str) {
    if let Some(Item::Value(old)) = table.get_mut(key) {
        let decor = old.decor().clone();
        let mut new = Value::from(value);
        *new.decor_mut() = decor;
        *old = new;
        return;
    }
    let indent = table
        .iter()
        .next()
        .map(|(k, _)| k.to_string())
        .and_then(|k| table.key(&k).and_then(|k| k.leaf_decor().prefix().cloned()));
    table.insert(key, toml_edit::value(value));
    if let (Some(indent), Some(mut k)) = (indent, table.key_mut(key)) {
        k.leaf_decor_mut().set_prefix(indent);
    }
}

fn new_table(block: &Block) -> Table {
    let mut t = Table::new();
    t.insert("binding", toml_edit::value(&block.binding));
    t.insert("database_name", toml_edit::value(&block.database_name));
    t.insert("database_id", toml_edit::value(&block.database_id));
    t.insert("migrations_dir", toml_edit::value(&block.migrations_dir));
    if let Some(p) = &block.migrations_pattern {
        t.insert("migrations_pattern", toml_edit::value(p));
    }
    t
}

/// The position where a new array of `sp`'s scope goes: before the first `[env.*]` table for
/// the top level, after the environment's last table for an environment, else at the end.
fn new_array_position(doc: &mut DocumentMut, env: &Option<String>) -> isize {
    let all = positions(doc.as_table_mut());
    let end = all.iter().max().map_or(0, |p| p + 1);
    let env_table = doc
        .as_table_mut()
        .get_mut("env")
        .and_then(Item::as_table_mut);
    match (env, env_table) {
        (None, Some(t)) => positions(t).into_iter().min().unwrap_or(end),
        (Some(e), Some(t)) => match t.get_mut(e).and_then(Item::as_table_mut) {
            Some(t) => positions(t).into_iter().max().map_or(end, |p| p + 1),
            None => end,
        },
        (_, None) => end,
    }
}

fn scope_table<'a>(doc: &'a mut DocumentMut, env: &Option<String>) -> &'a mut Table {
    let root = doc.as_table_mut();
    let Some(env) = env else { return root };
    let implicit = || {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    };
    let envs = root.entry("env").or_insert_with(implicit);
    let envs = envs.as_table_mut().expect("checked by read");
    envs.entry(env)
        .or_insert_with(implicit)
        .as_table_mut()
        .expect("checked by read")
}

fn apply_scope(doc: &mut DocumentMut, sp: &ScopePlan) {
    let new_at = {
        let exists = scope_table(doc, &sp.env)
            .get(ARRAY)
            .and_then(Item::as_array_of_tables)
            .is_some_and(|a| !a.is_empty());
        if exists {
            None
        } else {
            let p = new_array_position(doc, &sp.env);
            let k = sp.add.len() as isize;
            for_each_table(doc.as_table_mut(), &mut |t| {
                if let Some(q) = t.position().filter(|q| *q >= p) {
                    t.set_position(Some(q + k));
                }
            });
            Some(p)
        }
    };
    let scope = scope_table(doc, &sp.env);
    // Replaced in place, so the key keeps its place among the scope's keys.
    let slot = scope
        .entry(ARRAY)
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    let old: Vec<Table> = match std::mem::replace(slot, Item::None) {
        Item::ArrayOfTables(a) => a.into_iter().collect(),
        _ => Vec::new(),
    };
    let first_position = old.first().and_then(Table::position);
    let mut rebuilt = ArrayOfTables::new();
    let mut kept_any = false;
    let mut fresh = 0isize;
    let mut push_new = |rebuilt: &mut ArrayOfTables, block: &Block, kept_any: bool| {
        let mut t = new_table(block);
        // After a kept block a new one takes its position from it (toml_edit orders tables
        // without a position after the table before them); otherwise it needs one.
        if !kept_any {
            t.set_position(first_position.or(new_at.map(|p| p + fresh)));
            fresh += 1;
        }
        rebuilt.push(t);
    };
    for (_, block) in sp.add.iter().filter(|(a, _)| *a == Anchor::Start) {
        push_new(&mut rebuilt, block, kept_any);
    }
    for (i, mut t) in old.into_iter().enumerate() {
        if !sp.remove.contains(&i) {
            if let Some((_, set)) = sp.update.iter().find(|(j, _)| *j == i) {
                for (k, v) in set {
                    set_str(&mut t, k, v);
                }
            }
            rebuilt.push(t);
            kept_any = true;
        }
        for (_, block) in sp.add.iter().filter(|(a, _)| *a == Anchor::After(i)) {
            push_new(&mut rebuilt, block, kept_any);
        }
    }
    for (_, block) in sp.add.iter().filter(|(a, _)| *a == Anchor::End) {
        push_new(&mut rebuilt, block, kept_any);
    }
    if rebuilt.is_empty() {
        scope.remove(ARRAY);
    } else {
        *slot = Item::ArrayOfTables(rebuilt);
    }
}

/// `text` with `plan` applied.
pub(super) fn apply(text: &str, path: &Path, plan: &Plan) -> Result<String, Diagnostics> {
    let mut doc: DocumentMut = text.parse().map_err(|e| syntax_error(text, path, &e))?;
    for sp in &plan.scopes {
        apply_scope(&mut doc, sp);
    }
    let out = doc.to_string();
    Ok(if text.trim().is_empty() {
        out.trim_start().to_string()
    } else {
        out
    })
}

/// The `d1_databases` array of a scope, in either form (`[[..]]` tables or an inline array of
/// inline tables), each block with its byte offset.
fn scope_blocks(scope: &dyn TableLike) -> Vec<(&dyn TableLike, usize)> {
    match scope.get(ARRAY) {
        Some(Item::ArrayOfTables(a)) => a
            .iter()
            .map(|t| (t as &dyn TableLike, t.span().map_or(0, |s| s.start)))
            .collect(),
        Some(Item::Value(Value::Array(a))) => a
            .iter()
            .filter_map(Value::as_inline_table)
            .map(|t| (t as &dyn TableLike, t.span().map_or(0, |s| s.start)))
            .collect(),
        _ => Vec::new(),
    }
}

fn scope_blocks_mut(scope: &mut dyn TableLike) -> Vec<&mut dyn TableLike> {
    match scope.get_mut(ARRAY) {
        Some(Item::ArrayOfTables(a)) => a.iter_mut().map(|t| t as &mut dyn TableLike).collect(),
        Some(Item::Value(Value::Array(a))) => a
            .iter_mut()
            .filter_map(Value::as_inline_table_mut)
            .map(|t| t as &mut dyn TableLike)
            .collect(),
        _ => Vec::new(),
    }
}

fn like_value_of(t: &dyn TableLike, key: &str) -> Option<String> {
    match t.get(key)? {
        Item::Value(Value::String(s)) => Some(s.value().clone()),
        other => Some(other.to_string().trim().to_string()),
    }
}

/// Every block of the top level and of each environment of the file, in file order.
pub(super) fn list(text: &str, path: &Path) -> Result<Vec<FileBlock>, Diagnostics> {
    let doc = toml_edit::Document::parse(text).map_err(|e| syntax_error(text, path, &e))?;
    let root = doc.as_table();
    let mut scopes: Vec<(Option<String>, &dyn TableLike)> = vec![(None, root)];
    if let Some(envs) = root.get("env").and_then(Item::as_table_like) {
        for (name, item) in envs.iter() {
            if let Some(scope) = item.as_table_like() {
                scopes.push((Some(name.to_string()), scope));
            }
        }
    }
    let mut out = Vec::new();
    for (env, scope) in scopes {
        for (t, offset) in scope_blocks(scope) {
            out.push(FileBlock {
                env: env.clone(),
                binding: like_value_of(t, "binding"),
                database_name: like_value_of(t, "database_name"),
                database_id: like_value_of(t, "database_id"),
                preview_database_id: like_value_of(t, "preview_database_id"),
                line: Location::at(text, offset).line,
            });
        }
    }
    Ok(out)
}

/// `text` with the `database_id` of each block for which `new_id(database_name, database_id)`
/// gives one replaced, keeping the spacing and comment around the value.
pub(super) fn set_ids(
    text: &str,
    path: &Path,
    new_id: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<String, Diagnostics> {
    let mut doc: DocumentMut = text.parse().map_err(|e| syntax_error(text, path, &e))?;
    let mut changed = false;
    let mut set = |scope: &mut dyn TableLike| {
        for block in scope_blocks_mut(scope) {
            let Some(Item::Value(Value::String(name))) = block.get("database_name") else {
                continue;
            };
            let name = name.value().clone();
            let Some(Item::Value(old @ Value::String(_))) = block.get_mut("database_id") else {
                continue;
            };
            let Some(id) = old.as_str().and_then(|id| new_id(&name, id)) else {
                continue;
            };
            let decor = old.decor().clone();
            let mut new = Value::from(id);
            *new.decor_mut() = decor;
            *old = new;
            changed = true;
        }
    };
    let root = doc.as_table_mut();
    set(root);
    if let Some(envs) = root.get_mut("env").and_then(Item::as_table_like_mut) {
        for (_, item) in envs.iter_mut() {
            if let Some(scope) = item.as_table_like_mut() {
                set(scope);
            }
        }
    }
    Ok(if changed {
        doc.to_string()
    } else {
        text.to_string()
    })
}
