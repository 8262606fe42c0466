//! A [`Plan`] applied to a JSON-with-comments file as splices of its text: blocks removed,
//! updated and inserted with the file's own indentation, commas kept valid.

use super::parse::{Kind, Node};
use super::ARRAY;
use crate::wrangler::durable::{DurableBinding, DurablePlan, SqliteMigration};
use crate::wrangler::{Anchor, Block, Plan, ScopePlan};

/// The text a missing or empty file starts from.
pub(super) fn base_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.trim().is_empty() {
        "{\n}\n".into()
    } else {
        text.into()
    }
}

/// Replace `start..end` with `text` (an insertion when they are equal).
pub(super) struct Splice {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) text: String,
}

pub(super) fn splice(text: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by_key(|s| s.start); // stable: insertions at one point keep their order
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in splices {
        let start = s.start.max(at);
        out.push_str(&text[at..start]);
        out.push_str(&s.text);
        at = s.end.max(start);
    }
    out.push_str(&text[at..]);
    out
}

pub(super) fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// Whether only spaces and tabs stand between the start of `pos`'s line and `pos`.
pub(super) fn starts_line(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos]
        .bytes()
        .all(|b| b == b' ' || b == b'\t')
}

/// The spaces and tabs that start `pos`'s line.
pub(super) fn line_indent(text: &str, pos: usize) -> String {
    let start = line_start(text, pos);
    text[start..]
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .map(char::from)
        .collect()
}

/// From `pos`, past spaces and a `//` comment that end the line (but not the newline); `pos`
/// itself when other text follows on the line.
pub(super) fn past_line_comment(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    let ws = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let after = &rest[ws..];
    if after.starts_with("//") {
        pos + ws + after.find('\n').unwrap_or(after.len())
    } else if after.starts_with('\n') || after.starts_with("\r\n") || after.is_empty() {
        pos + ws
    } else {
        pos
    }
}

/// The indentation one level adds, as the file writes it (tabs when it does not show).
pub(super) fn indent_unit(text: &str, root: &Node) -> String {
    root.items()
        .first()
        .filter(|i| starts_line(text, i.start))
        .map(|i| line_indent(text, i.start))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "\t".into())
}

/// The indentation of the items of `container`.
pub(super) fn item_indent(text: &str, container: &Node, unit: &str) -> String {
    match container.items().first() {
        Some(i) if starts_line(text, i.start) => line_indent(text, i.start),
        _ => format!("{}{unit}", line_indent(text, container.start)),
    }
}

/// Splices that insert `new` (rendered items) into `container` at `place` (indices of this
/// text), one per line at the items' indentation, commas kept valid.
pub(super) fn insert_items(
    text: &str,
    container: &Node,
    place: Anchor,
    new: &[String],
    unit: &str,
) -> Vec<Splice> {
    let items = container.items();
    let indent = item_indent(text, container, unit);
    let close = container.end - 1;
    if place == Anchor::Start && !items.is_empty() {
        let at = container.start + 1;
        let body: String = new.iter().map(|n| format!("\n{indent}{n},")).collect();
        return vec![Splice {
            start: at,
            end: at,
            text: body,
        }];
    }
    let after = match place {
        Anchor::After(i) => Some(i),
        Anchor::Start | Anchor::End => items.len().checked_sub(1),
    };
    let Some(anchor) = after.and_then(|i| items.get(i)) else {
        let body: Vec<String> = new.iter().map(|n| format!("{indent}{n}")).collect();
        let inner = &text[container.start + 1..close];
        let closing = line_indent(text, container.start);
        let text = format!("\n{}\n{closing}", body.join(",\n"));
        return vec![if inner.trim().is_empty() {
            Splice {
                start: container.start + 1,
                end: close,
                text,
            }
        } else {
            // Comments only: the items go before them.
            Splice {
                start: container.start + 1,
                end: container.start + 1,
                text: format!("\n{}", body.join(",\n")),
            }
        }];
    };
    // A container written on one line gets its new items on that line too.
    let (sep, indent) = if starts_line(text, items[0].start) {
        ("\n", indent)
    } else {
        (" ", String::new())
    };
    match anchor.comma {
        Some(c) => {
            let at = if sep == " " {
                c + 1
            } else {
                past_line_comment(text, c + 1)
            };
            let body: String = new.iter().map(|n| format!("{sep}{indent}{n},")).collect();
            vec![Splice {
                start: at,
                end: at,
                text: body,
            }]
        }
        None => {
            let at = if sep == " " {
                anchor.end
            } else {
                past_line_comment(text, anchor.end)
            };
            let body: Vec<String> = new.iter().map(|n| format!("{sep}{indent}{n}")).collect();
            vec![
                Splice {
                    start: anchor.end,
                    end: anchor.end,
                    text: ",".into(),
                },
                Splice {
                    start: at,
                    end: at,
                    text: body.join(","),
                },
            ]
        }
    }
}

pub(super) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

pub(super) fn render_block(b: &Block, indent: &str, unit: &str) -> String {
    let inner = format!("{indent}{unit}");
    let fields = [
        ("binding", Some(&b.binding)),
        ("database_name", Some(&b.database_name)),
        ("database_id", Some(&b.database_id)),
        ("migrations_dir", Some(&b.migrations_dir)),
        ("migrations_pattern", b.migrations_pattern.as_ref()),
    ];
    let body: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| Some(format!("{inner}\"{k}\": {}", json_str(v.as_ref()?))))
        .collect();
    format!("{{\n{}\n{indent}}}", body.join(",\n"))
}

pub(super) fn render_array(blocks: &[&Block], indent: &str, unit: &str) -> String {
    let inner = format!("{indent}{unit}");
    let body: Vec<String> = blocks
        .iter()
        .map(|b| format!("{inner}{}", render_block(b, &inner, unit)))
        .collect();
    format!("[\n{}\n{indent}]", body.join(",\n"))
}

/// `"d1_databases": [...]` for a scope object written at `indent`.
pub(super) fn render_member(blocks: &[&Block], indent: &str, unit: &str) -> String {
    format!("\"{ARRAY}\": {}", render_array(blocks, indent, unit))
}

/// `{ "k": v, .. }` over several lines, its members one level below `indent`; each value is
/// JSON text already.
pub(super) fn render_object(fields: &[(&str, String)], indent: &str, unit: &str) -> String {
    let inner = format!("{indent}{unit}");
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{inner}{}: {v}", json_str(k)))
        .collect();
    format!("{{\n{}\n{indent}}}", body.join(",\n"))
}

pub(super) fn binding_fields(b: &DurableBinding) -> Vec<(&'static str, String)> {
    vec![
        ("name", json_str(&b.name)),
        ("class_name", json_str(&b.class_name)),
    ]
}

pub(super) fn migration_fields(m: &SqliteMigration) -> Vec<(&'static str, String)> {
    vec![
        ("tag", json_str(&m.tag)),
        (
            "new_sqlite_classes",
            format!("[{}]", json_str(&m.class_name)),
        ),
    ]
}

/// `[ {..}, .. ]` over several lines.
fn render_objects(objects: &[Vec<(&str, String)>], indent: &str, unit: &str) -> String {
    let inner = format!("{indent}{unit}");
    let body: Vec<String> = objects
        .iter()
        .map(|o| format!("{inner}{}", render_object(o, &inner, unit)))
        .collect();
    format!("[\n{}\n{indent}]", body.join(",\n"))
}

/// A member d1kit adds to a scope object (or to its `durable_objects`), rendered at the
/// indentation of that object's members.
pub(super) enum Fresh<'p> {
    /// `"d1_databases": [..]`.
    D1(Vec<&'p Block>),
    /// `"durable_objects": { "bindings": [..] }`.
    DurableObjects(&'p [DurableBinding]),
    /// `"bindings": [..]`, in an existing `durable_objects`.
    Bindings(&'p [DurableBinding]),
    /// `"migrations": [..]`.
    Migrations(&'p [SqliteMigration]),
}

impl Fresh<'_> {
    pub(super) fn render(&self, indent: &str, unit: &str) -> String {
        match self {
            Fresh::D1(blocks) => render_member(blocks, indent, unit),
            Fresh::DurableObjects(b) => {
                let inner = format!("{indent}{unit}");
                format!(
                    "\"durable_objects\": {{\n{inner}{}\n{indent}}}",
                    Fresh::Bindings(b).render(&inner, unit)
                )
            }
            Fresh::Bindings(b) => {
                let objects: Vec<_> = b.iter().map(binding_fields).collect();
                format!("\"bindings\": {}", render_objects(&objects, indent, unit))
            }
            Fresh::Migrations(m) => {
                let objects: Vec<_> = m.iter().map(migration_fields).collect();
                format!("\"migrations\": {}", render_objects(&objects, indent, unit))
            }
        }
    }
}

/// Pass 2 for Durable Object entries: appended to their arrays, or new members (of existing
/// objects to `new_members`, of environments not in the file to `missing`).
fn add_durable<'a, 'p>(
    text: &str,
    root: &'a Node,
    dp: &'p DurablePlan,
    unit: &str,
    splices: &mut Vec<Splice>,
    new_members: &mut Vec<(&'a Node, Vec<String>)>,
    missing: &mut Vec<(String, Vec<Fresh<'p>>)>,
) {
    let Some(scope) = scope_object(root, &dp.env) else {
        if let (Some(env), false) = (&dp.env, dp.bindings.is_empty()) {
            fresh_env(missing, env, Fresh::DurableObjects(&dp.bindings));
        }
        return;
    };
    let append = |splices: &mut Vec<Splice>, array: &Node, objects: Vec<Vec<(&str, String)>>| {
        let indent = item_indent(text, array, unit);
        let rendered: Vec<String> = objects
            .iter()
            .map(|o| render_object(o, &indent, unit))
            .collect();
        splices.extend(insert_items(text, array, Anchor::End, &rendered, unit));
    };
    if !dp.bindings.is_empty() {
        match scope.member("durable_objects").map(|m| &m.value) {
            None => {
                let indent = item_indent(text, scope, unit);
                add_member(
                    new_members,
                    scope,
                    Fresh::DurableObjects(&dp.bindings).render(&indent, unit),
                );
            }
            Some(d) if matches!(d.kind, Kind::Object(_)) => {
                match d.member("bindings").map(|m| &m.value) {
                    None => {
                        let indent = item_indent(text, d, unit);
                        add_member(
                            new_members,
                            d,
                            Fresh::Bindings(&dp.bindings).render(&indent, unit),
                        );
                    }
                    Some(array) if matches!(array.kind, Kind::Array(_)) => {
                        append(
                            splices,
                            array,
                            dp.bindings.iter().map(binding_fields).collect(),
                        );
                    }
                    Some(_) => {}
                }
            }
            Some(_) => {}
        }
    }
    if !dp.migrations.is_empty() {
        match scope.member("migrations").map(|m| &m.value) {
            None => {
                let indent = item_indent(text, scope, unit);
                add_member(
                    new_members,
                    scope,
                    Fresh::Migrations(&dp.migrations).render(&indent, unit),
                );
            }
            Some(array) if matches!(array.kind, Kind::Array(_)) => {
                append(
                    splices,
                    array,
                    dp.migrations.iter().map(migration_fields).collect(),
                );
            }
            Some(_) => {}
        }
    }
}

/// `fresh` for environment `env`, which the file does not have yet.
fn fresh_env<'p>(missing: &mut Vec<(String, Vec<Fresh<'p>>)>, env: &str, fresh: Fresh<'p>) {
    match missing.iter_mut().find(|(e, _)| e == env) {
        Some((_, f)) => f.push(fresh),
        None => missing.push((env.to_string(), vec![fresh])),
    }
}

pub(super) fn adds(sp: &ScopePlan) -> Vec<&Block> {
    sp.add.iter().map(|(_, b)| b).collect()
}

/// Pass 1: the removals.
pub(super) fn remove(text: &str, root: &Node, plan: &Plan) -> Vec<Splice> {
    let mut splices = Vec::new();
    for sp in plan.scopes.iter().filter(|sp| !sp.remove.is_empty()) {
        let Some(array) = scope_object(root, &sp.env).and_then(|s| s.member(ARRAY)) else {
            continue;
        };
        let items = array.value.items();
        for &i in &sp.remove {
            let Some(item) = items.get(i) else { continue };
            let own_line = starts_line(text, item.start);
            // Comment lines right above a removed block are about it (as in TOML, where they
            // belong to its header): they go with it.
            let start = if own_line {
                let mut start = line_start(text, item.start);
                while start > 0 {
                    let above = line_start(text, start - 1);
                    if !text[above..start]
                        .trim_start_matches([' ', '\t'])
                        .starts_with("//")
                    {
                        break;
                    }
                    start = above;
                }
                start
            } else {
                item.start
            };
            let mut end = past_line_comment(text, item.comma.map_or(item.end, |c| c + 1));
            if own_line {
                if text[end..].starts_with("\r\n") {
                    end += 2;
                } else if text[end..].starts_with('\n') {
                    end += 1;
                }
            }
            splices.push(Splice {
                start,
                end,
                text: String::new(),
            });
        }
        // The last element gone without a trailing comma: the new last one loses its comma.
        let Some(last) = items.len().checked_sub(1) else {
            continue;
        };
        if items[last].comma.is_none() && sp.remove.contains(&last) {
            if let Some(kept) = (0..last).rev().find(|i| !sp.remove.contains(i)) {
                if let Some(c) = items[kept].comma {
                    splices.push(Splice {
                        start: c,
                        end: c + 1,
                        text: String::new(),
                    });
                }
            }
        }
    }
    splices
}

pub(super) fn scope_object<'a>(root: &'a Node, env: &Option<String>) -> Option<&'a Node> {
    match env {
        None => Some(root),
        Some(e) => root
            .member("env")
            .and_then(|m| m.value.member(e))
            .map(|m| &m.value)
            .filter(|n| matches!(n.kind, Kind::Object(_))),
    }
}

pub(super) fn add_member<'a>(
    list: &mut Vec<(&'a Node, Vec<String>)>,
    object: &'a Node,
    member: String,
) {
    match list.iter_mut().find(|(o, _)| o.start == object.start) {
        Some((_, m)) => m.push(member),
        None => list.push((object, vec![member])),
    }
}

/// Pass 2: updates and additions (indices already shifted past the removals).
pub(super) fn update_and_add(text: &str, root: &Node, plan: &Plan) -> Vec<Splice> {
    let unit = indent_unit(text, root);
    let mut splices = Vec::new();
    let mut missing_envs: Vec<(String, Vec<Fresh>)> = Vec::new();
    // New members of one object go in one insertion (the top level may get both its array and
    // `env`), so that their commas come out right.
    let mut new_members: Vec<(&Node, Vec<String>)> = Vec::new();

    for sp in &plan.scopes {
        let shift = |i: usize| i - sp.remove.iter().filter(|&&r| r < i).count();
        let Some(scope) = scope_object(root, &sp.env) else {
            if let Some(env) = &sp.env {
                fresh_env(&mut missing_envs, env, Fresh::D1(adds(sp)));
            }
            continue;
        };
        let Some(array) = scope.member(ARRAY).map(|m| &m.value) else {
            if !sp.add.is_empty() {
                let indent = item_indent(text, scope, &unit);
                let member = render_member(&adds(sp), &indent, &unit);
                add_member(&mut new_members, scope, member);
            }
            continue;
        };
        let Kind::Array(elements) = &array.kind else {
            continue;
        };
        for (i, set) in &sp.update {
            let Some(e) = elements.get(shift(*i)) else {
                continue;
            };
            let mut missing = Vec::new();
            for (k, v) in set {
                match e.value.member(k) {
                    Some(m) => splices.push(Splice {
                        start: m.value.start,
                        end: m.value.end,
                        text: json_str(v),
                    }),
                    None => missing.push(format!("\"{k}\": {}", json_str(v))),
                }
            }
            if !missing.is_empty() {
                splices.extend(insert_items(text, &e.value, Anchor::End, &missing, &unit));
            }
        }
        let indent = item_indent(text, array, &unit);
        // Blocks to add at the same place go in one insertion.
        let at = |a: &Anchor| match (a, elements.len().checked_sub(1)) {
            (Anchor::After(i), _) => Anchor::After(shift(*i)),
            (Anchor::End, Some(last)) => Anchor::After(last),
            (other, _) => *other,
        };
        let mut anchors: Vec<Anchor> = Vec::new();
        for (a, _) in &sp.add {
            if !anchors.contains(&at(a)) {
                anchors.push(at(a));
            }
        }
        for anchor in anchors {
            let rendered: Vec<String> = sp
                .add
                .iter()
                .filter(|(a, _)| at(a) == anchor)
                .map(|(_, b)| render_block(b, &indent, &unit))
                .collect();
            splices.extend(insert_items(text, array, anchor, &rendered, &unit));
        }
    }
    for dp in &plan.durable {
        add_durable(
            text,
            root,
            dp,
            &unit,
            &mut splices,
            &mut new_members,
            &mut missing_envs,
        );
    }
    if !missing_envs.is_empty() {
        let envs = root.member("env").map(|m| &m.value);
        let container = envs.unwrap_or(root);
        let indent = item_indent(text, container, &unit);
        let env_member = |(env, fresh): &(String, Vec<Fresh>), indent: &str| {
            let inner = format!("{indent}{unit}");
            let body: Vec<String> = fresh.iter().map(|f| f.render(&inner, &unit)).collect();
            format!(
                "{}: {{\n{inner}{}\n{indent}}}",
                json_str(env),
                body.join(&format!(",\n{inner}"))
            )
        };
        let members: Vec<String> = match envs {
            Some(_) => missing_envs
                .iter()
                .map(|m| env_member(m, &indent))
                .collect(),
            None => {
                let inner = format!("{indent}{unit}");
                let body: Vec<String> = missing_envs
                    .iter()
                    .map(|m| format!("{inner}{}", env_member(m, &inner)))
                    .collect();
                vec![format!("\"env\": {{\n{}\n{indent}}}", body.join(",\n"))]
            }
        };
        for m in members {
            add_member(&mut new_members, container, m);
        }
    }
    for (object, members) in new_members {
        splices.extend(insert_items(text, object, Anchor::End, &members, &unit));
    }
    splices
}
