//! `wrangler.toml`: the `[[d1_databases]]` blocks read with their lines, and a plan applied with
//! `toml_edit`, which keeps every comment, key and table it is not asked to change.

use super::durable::{DurableBinding, DurablePlan, FoundDurable, SqliteMigration, Tree, TreeKind};
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
            durable: durable_of(root),
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
            durable: durable_of(scope),
        });
    }
    Ok(found)
}

/// The scope's keys about Durable Objects, as trees.
fn durable_of(scope: &Table) -> FoundDurable {
    FoundDurable {
        durable_objects: scope.get("durable_objects").map(tree_of_item),
        migrations: scope.get("migrations").map(tree_of_item),
        exports: scope.get("exports").map(tree_of_item),
    }
}

fn tree_of_table(t: &dyn TableLike, offset: usize) -> Tree {
    Tree::new(
        offset,
        TreeKind::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), tree_of_item(v)))
                .collect(),
        ),
    )
}

fn tree_of_item(item: &Item) -> Tree {
    let offset = |span: Option<std::ops::Range<usize>>| span.map_or(0, |s| s.start);
    match item {
        Item::Value(v) => tree_of_value(v),
        Item::Table(t) => tree_of_table(t, offset(t.span())),
        Item::ArrayOfTables(a) => {
            let tables: Vec<Tree> = a
                .iter()
                .map(|t| tree_of_table(t, offset(t.span())))
                .collect();
            let start = tables.first().map_or(0, |t| t.offset);
            Tree::new(start, TreeKind::Array(tables))
        }
        Item::None => Tree::new(0, TreeKind::Other),
    }
}

fn tree_of_value(v: &Value) -> Tree {
    let offset = v.span().map_or(0, |s| s.start);
    let kind = match v {
        Value::String(s) => TreeKind::Str(s.value().clone()),
        Value::Array(a) => TreeKind::Array(a.iter().map(tree_of_value).collect()),
        Value::InlineTable(t) => return tree_of_table(t, offset),
        _ => TreeKind::Other,
    };
    Tree::new(offset, kind)
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

/// `[[durable_objects.bindings]]` entries and `[[migrations]]` entries appended to their
/// scope: after the array's last element, in the form the array is written in (`[[..]]` tables
/// or an inline array); a new array of tables goes where a new `d1_databases` array would.
fn apply_durable(doc: &mut DocumentMut, dp: &DurablePlan) {
    if !dp.bindings.is_empty() {
        let entries: Vec<Vec<(&str, Value)>> = dp.bindings.iter().map(binding_entry).collect();
        append_bindings(doc, &dp.env, entries);
    }
    if !dp.migrations.is_empty() {
        let entries: Vec<Vec<(&str, Value)>> = dp.migrations.iter().map(migration_entry).collect();
        let at = new_array_position(doc, &dp.env);
        let scope = scope_table(doc, &dp.env);
        match scope.get_mut("migrations") {
            None => {
                let k = entries.len() as isize;
                shift_positions(doc, at, k);
                let scope = scope_table(doc, &dp.env);
                scope.insert("migrations", Item::ArrayOfTables(tables(entries, Some(at))));
            }
            Some(item) => append_to(item, entries),
        }
    }
}

fn binding_entry(b: &DurableBinding) -> Vec<(&'static str, Value)> {
    vec![
        ("name", Value::from(b.name.as_str())),
        ("class_name", Value::from(b.class_name.as_str())),
    ]
}

fn migration_entry(m: &SqliteMigration) -> Vec<(&'static str, Value)> {
    let mut classes = toml_edit::Array::new();
    classes.push(m.class_name.as_str());
    vec![
        ("tag", Value::from(m.tag.as_str())),
        ("new_sqlite_classes", Value::Array(classes)),
    ]
}

/// Entries as `[[..]]` tables; the first at `position` when given (the others follow it).
fn tables(entries: Vec<Vec<(&str, Value)>>, position: Option<isize>) -> ArrayOfTables {
    let mut a = ArrayOfTables::new();
    for (i, fields) in entries.into_iter().enumerate() {
        let mut t = Table::new();
        for (k, v) in fields {
            t.insert(k, Item::Value(v));
        }
        t.set_position(position.map(|p| p + i as isize));
        a.push(t);
    }
    a
}

fn inline(fields: Vec<(&str, Value)>) -> Value {
    let mut t = toml_edit::InlineTable::new();
    for (k, v) in fields {
        t.insert(k, v);
    }
    t.fmt();
    Value::InlineTable(t)
}

/// Entries appended to an existing array of either form (anything else was refused by the
/// plan and is left alone).
fn append_to(item: &mut Item, entries: Vec<Vec<(&str, Value)>>) {
    match item {
        // A table without a position is written after the one before it: the array's last.
        Item::ArrayOfTables(a) => {
            for t in tables(entries, None).into_iter() {
                a.push(t);
            }
        }
        Item::Value(Value::Array(a)) => {
            for fields in entries {
                // Each on its own line when the last one is (its indentation, not its comments).
                let prefix = a.iter().last().map_or(String::new(), |last| {
                    let p = last
                        .decor()
                        .prefix()
                        .and_then(|p| p.as_str())
                        .unwrap_or_default();
                    // `[a, b]`: after a space.
                    p.rfind('\n')
                        .map_or(" ".to_string(), |i| p[i..].to_string())
                });
                // A comment after the last element (`{..}, # note`) is the array's trailing
                // text: it stays on that element's line, before the new one.
                let trailing = a.trailing().as_str().unwrap_or_default().to_string();
                let moved = match trailing.find('\n') {
                    Some(nl) if prefix.starts_with('\n') && !trailing[..nl].trim().is_empty() => {
                        Some(nl)
                    }
                    _ => None,
                };
                let prefix = match moved {
                    Some(nl) => format!("{}{prefix}", &trailing[..nl]),
                    None => prefix,
                };
                let mut v = inline(fields);
                v.decor_mut().set_prefix(prefix);
                v.decor_mut().set_suffix("");
                a.push_formatted(v);
                if let Some(nl) = moved {
                    a.set_trailing(&trailing[nl..]);
                }
            }
        }
        _ => {}
    }
}

/// Every table at position `at` or after moves `k` places down.
fn shift_positions(doc: &mut DocumentMut, at: isize, k: isize) {
    for_each_table(doc.as_table_mut(), &mut |t| {
        if let Some(q) = t.position().filter(|q| *q >= at) {
            t.set_position(Some(q + k));
        }
    });
}

fn append_bindings(doc: &mut DocumentMut, env: &Option<String>, entries: Vec<Vec<(&str, Value)>>) {
    let k = entries.len() as isize;
    let at = new_array_position(doc, env);
    let scope = scope_table(doc, env);
    match scope.get_mut("durable_objects") {
        None => {
            shift_positions(doc, at, k);
            let mut d = Table::new();
            d.set_implicit(true);
            d.insert("bindings", Item::ArrayOfTables(tables(entries, Some(at))));
            scope_table(doc, env).insert("durable_objects", Item::Table(d));
        }
        Some(Item::Table(d)) => match d.contains_key("bindings") {
            true => {
                if let Some(item) = d.get_mut("bindings") {
                    append_to(item, entries);
                }
            }
            // Under `durable_objects.x = ..` dotted keys no header may follow: an inline array.
            false if d.is_dotted() => {
                let mut a = toml_edit::Array::new();
                for fields in entries {
                    a.push(inline(fields));
                }
                d.insert("bindings", toml_edit::value(a));
            }
            false => {
                // After `[durable_objects]` and its tables.
                let mut after = d.position();
                for_each_table(d, &mut |t| after = after.max(t.position()));
                let at = after.map_or(at, |p| p + 1);
                shift_positions(doc, at, k);
                let scope = scope_table(doc, env);
                if let Some(Item::Table(d)) = scope.get_mut("durable_objects") {
                    d.insert("bindings", Item::ArrayOfTables(tables(entries, Some(at))));
                }
            }
        },
        Some(Item::Value(Value::InlineTable(d))) => match d.get_mut("bindings") {
            Some(v) => {
                let mut item = Item::Value(std::mem::replace(v, Value::from(false)));
                append_to(&mut item, entries);
                if let Item::Value(new) = item {
                    *v = new;
                }
            }
            None => {
                let mut a = toml_edit::Array::new();
                for fields in entries {
                    a.push(inline(fields));
                }
                d.insert("bindings", Value::Array(a));
            }
        },
        Some(_) => {}
    }
}

/// `text` with `plan` applied.
pub(super) fn apply(text: &str, path: &Path, plan: &Plan) -> Result<String, Diagnostics> {
    let mut doc: DocumentMut = text.parse().map_err(|e| syntax_error(text, path, &e))?;
    for sp in &plan.scopes {
        apply_scope(&mut doc, sp);
    }
    for dp in &plan.durable {
        apply_durable(&mut doc, dp);
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
