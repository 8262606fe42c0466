//! `wrangler.json` / `wrangler.jsonc`: a small JSON-with-comments parser that keeps the byte
//! range of every value, and a plan applied as splices of the text, so that comments,
//! formatting and every value d1kit does not own stay byte for byte.

use super::{Anchor, Block, FileBlock, Found, FoundBlock, FoundScope, Plan, ScopePlan};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use std::path::Path;

const ARRAY: &str = "d1_databases";
/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

/// A value and its byte range (`start..end`; for a container, its brackets included).
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Object(Vec<Member>),
    Array(Vec<Element>),
    Str(String),
    /// A number, `true`, `false` or `null`.
    Other,
}

#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    value: Node,
    /// The comma after it, if any.
    comma: Option<usize>,
}

#[derive(Debug)]
struct Element {
    value: Node,
    comma: Option<usize>,
}

/// An item of a container, for insertions: where it starts and ends, and its comma.
#[derive(Clone, Copy)]
struct Item {
    start: usize,
    end: usize,
    comma: Option<usize>,
}

impl Node {
    fn member(&self, key: &str) -> Option<&Member> {
        match &self.kind {
            Kind::Object(m) => m.iter().find(|m| m.key == key),
            _ => None,
        }
    }

    fn items(&self) -> Vec<Item> {
        match &self.kind {
            Kind::Object(m) => m
                .iter()
                .map(|m| Item {
                    start: m.key_start,
                    end: m.value.end,
                    comma: m.comma,
                })
                .collect(),
            Kind::Array(e) => e
                .iter()
                .map(|e| Item {
                    start: e.value.start,
                    end: e.value.end,
                    comma: e.comma,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

type ParseError = (usize, String);

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips whitespace and comments.
    fn trivia(&mut self) -> Result<(), ParseError> {
        let b = self.text.as_bytes();
        loop {
            match (b.get(self.pos), b.get(self.pos + 1)) {
                (Some(b' ' | b'\t' | b'\n' | b'\r'), _) => self.pos += 1,
                (Some(b'/'), Some(b'/')) => {
                    self.pos = self.text[self.pos..]
                        .find('\n')
                        .map_or(self.text.len(), |i| self.pos + i);
                }
                (Some(b'/'), Some(b'*')) => {
                    let end = self.text[self.pos + 2..]
                        .find("*/")
                        .ok_or((self.pos, "unterminated `/*` comment".to_string()))?;
                    self.pos += 2 + end + 2;
                }
                _ => return Ok(()),
            }
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<usize, ParseError> {
        self.trivia()?;
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(self.pos - 1)
        } else {
            Err((self.pos, format!("expected {what}")))
        }
    }

    fn string(&mut self) -> Result<(String, usize, usize), ParseError> {
        let start = self.pos;
        let b = self.text.as_bytes();
        let mut i = start + 1;
        loop {
            match b.get(i) {
                None | Some(b'\n') => return Err((start, "unterminated string".into())),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let end = i + 1;
        let s = serde_json::from_str::<String>(&self.text[start..end])
            .map_err(|e| (start, format!("invalid string: {e}")))?;
        self.pos = end;
        Ok((s, start, end))
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        self.trivia()?;
        let start = self.pos;
        match self.peek() {
            Some(b'{') | Some(b'[') => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err((start, "nested too deeply".into()));
                }
                let node = if self.peek() == Some(b'{') {
                    self.object()
                } else {
                    self.array()
                };
                self.depth -= 1;
                node
            }
            Some(b'"') => {
                let (s, start, end) = self.string()?;
                Ok(Node {
                    start,
                    end,
                    kind: Kind::Str(s),
                })
            }
            Some(c) if c == b'-' || c.is_ascii_alphanumeric() => {
                let len = self.text[start..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                    .unwrap_or(self.text.len() - start);
                self.pos += len;
                Ok(Node {
                    start,
                    end: self.pos,
                    kind: Kind::Other,
                })
            }
            Some(_) => Err((start, "expected a value".into())),
            None => Err((start, "unexpected end of file".into())),
        }
    }

    fn object(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        loop {
            self.trivia()?;
            match self.peek() {
                Some(b'}') => break,
                Some(b'"') if members.last().is_none_or(|m| m.comma.is_some()) => {
                    let (key, key_start, _) = self.string()?;
                    self.expect(b':', "`:`")?;
                    let value = self.value()?;
                    self.trivia()?;
                    let comma = (self.peek() == Some(b',')).then(|| {
                        self.pos += 1;
                        self.pos - 1
                    });
                    members.push(Member {
                        key,
                        key_start,
                        value,
                        comma,
                    });
                }
                _ if members.last().is_some_and(|m| m.comma.is_none()) => {
                    return Err((self.pos, "expected `,` or `}`".into()))
                }
                _ => return Err((self.pos, "expected a key in quotes or `}`".into())),
            }
        }
        self.pos += 1;
        Ok(Node {
            start,
            end: self.pos,
            kind: Kind::Object(members),
        })
    }

    fn array(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut elements: Vec<Element> = Vec::new();
        loop {
            self.trivia()?;
            if self.peek() == Some(b']') {
                break;
            }
            if elements.last().is_some_and(|e| e.comma.is_none()) {
                return Err((self.pos, "expected `,` or `]`".into()));
            }
            let value = self.value()?;
            self.trivia()?;
            let comma = (self.peek() == Some(b',')).then(|| {
                self.pos += 1;
                self.pos - 1
            });
            elements.push(Element { value, comma });
        }
        self.pos += 1;
        Ok(Node {
            start,
            end: self.pos,
            kind: Kind::Array(elements),
        })
    }
}

/// Parses the whole text: one object, comments and trailing commas allowed (as wrangler does).
fn parse(text: &str, path: &Path) -> Result<Node, Diagnostics> {
    let mut p = Parser {
        text,
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
        depth: 0,
    };
    let result = p.value().and_then(|root| {
        p.trivia()?;
        match (&root.kind, p.peek()) {
            (Kind::Object(_), None) => Ok(root),
            (Kind::Object(_), Some(_)) => Err((p.pos, "unexpected text after the object".into())),
            _ => Err((root.start, "the file must hold one object".into())),
        }
    });
    result.map_err(|(offset, message)| {
        Diagnostics(vec![Diagnostic::error(format!(
            "`{}` is not valid JSON: {message}",
            super::file_name(path)
        ))
        .in_file(path)
        .at(Location::at(text, offset), 1)])
    })
}

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
        }],
    };
    for env in envs {
        if let Some(scope) = env_object(&text, path, &root, env)? {
            found.scopes.push(FoundScope {
                env: Some(env.clone()),
                name: string_of(scope.member("name").map(|m| &m.value), &text),
                blocks: blocks(&text, path, scope, &format!("env.{env}.{ARRAY}"))?,
            });
        }
    }
    Ok(found)
}

/// The text a missing or empty file starts from.
fn base_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.trim().is_empty() {
        "{\n}\n".into()
    } else {
        text.into()
    }
}

/// Replace `start..end` with `text` (an insertion when they are equal).
struct Splice {
    start: usize,
    end: usize,
    text: String,
}

fn splice(text: &str, mut splices: Vec<Splice>) -> String {
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

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// Whether only spaces and tabs stand between the start of `pos`'s line and `pos`.
fn starts_line(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos]
        .bytes()
        .all(|b| b == b' ' || b == b'\t')
}

/// The spaces and tabs that start `pos`'s line.
fn line_indent(text: &str, pos: usize) -> String {
    let start = line_start(text, pos);
    text[start..]
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .map(char::from)
        .collect()
}

/// From `pos`, past spaces and a `//` comment that end the line (but not the newline); `pos`
/// itself when other text follows on the line.
fn past_line_comment(text: &str, pos: usize) -> usize {
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
fn indent_unit(text: &str, root: &Node) -> String {
    root.items()
        .first()
        .filter(|i| starts_line(text, i.start))
        .map(|i| line_indent(text, i.start))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "\t".into())
}

/// The indentation of the items of `container`.
fn item_indent(text: &str, container: &Node, unit: &str) -> String {
    match container.items().first() {
        Some(i) if starts_line(text, i.start) => line_indent(text, i.start),
        _ => format!("{}{unit}", line_indent(text, container.start)),
    }
}

/// Splices that insert `new` (rendered items) into `container` at `place` (indices of this
/// text), one per line at the items' indentation, commas kept valid.
fn insert_items(
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

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn render_block(b: &Block, indent: &str, unit: &str) -> String {
    let inner = format!("{indent}{unit}");
    let fields = [
        ("binding", &b.binding),
        ("database_name", &b.database_name),
        ("database_id", &b.database_id),
        ("migrations_dir", &b.migrations_dir),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{inner}\"{k}\": {}", json_str(v)))
        .collect();
    format!("{{\n{}\n{indent}}}", body.join(",\n"))
}

fn render_array(blocks: &[&Block], indent: &str, unit: &str) -> String {
    let inner = format!("{indent}{unit}");
    let body: Vec<String> = blocks
        .iter()
        .map(|b| format!("{inner}{}", render_block(b, &inner, unit)))
        .collect();
    format!("[\n{}\n{indent}]", body.join(",\n"))
}

/// `"d1_databases": [...]` for a scope object written at `indent`.
fn render_member(blocks: &[&Block], indent: &str, unit: &str) -> String {
    format!("\"{ARRAY}\": {}", render_array(blocks, indent, unit))
}

fn adds(sp: &ScopePlan) -> Vec<&Block> {
    sp.add.iter().map(|(_, b)| b).collect()
}

/// Pass 1: the removals.
fn remove(text: &str, root: &Node, plan: &Plan) -> Vec<Splice> {
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

fn scope_object<'a>(root: &'a Node, env: &Option<String>) -> Option<&'a Node> {
    match env {
        None => Some(root),
        Some(e) => root
            .member("env")
            .and_then(|m| m.value.member(e))
            .map(|m| &m.value)
            .filter(|n| matches!(n.kind, Kind::Object(_))),
    }
}

fn add_member<'a>(list: &mut Vec<(&'a Node, Vec<String>)>, object: &'a Node, member: String) {
    match list.iter_mut().find(|(o, _)| o.start == object.start) {
        Some((_, m)) => m.push(member),
        None => list.push((object, vec![member])),
    }
}

/// Pass 2: updates and additions (indices already shifted past the removals).
fn update_and_add(text: &str, root: &Node, plan: &Plan) -> Vec<Splice> {
    let unit = indent_unit(text, root);
    let mut splices = Vec::new();
    let mut missing_envs: Vec<&ScopePlan> = Vec::new();
    // New members of one object go in one insertion (the top level may get both its array and
    // `env`), so that their commas come out right.
    let mut new_members: Vec<(&Node, Vec<String>)> = Vec::new();

    for sp in &plan.scopes {
        let shift = |i: usize| i - sp.remove.iter().filter(|&&r| r < i).count();
        let Some(scope) = scope_object(root, &sp.env) else {
            missing_envs.push(sp);
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
    if !missing_envs.is_empty() {
        let envs = root.member("env").map(|m| &m.value);
        let container = envs.unwrap_or(root);
        let indent = item_indent(text, container, &unit);
        let env_member = |sp: &ScopePlan, indent: &str| {
            let inner = format!("{indent}{unit}");
            format!(
                "{}: {{\n{inner}{}\n{indent}}}",
                json_str(sp.env.as_deref().unwrap_or_default()),
                render_member(&adds(sp), &inner, &unit)
            )
        };
        let members: Vec<String> = match envs {
            Some(_) => missing_envs
                .iter()
                .map(|sp| env_member(sp, &indent))
                .collect(),
            None => {
                let inner = format!("{indent}{unit}");
                let body: Vec<String> = missing_envs
                    .iter()
                    .map(|sp| format!("{inner}{}", env_member(sp, &inner)))
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
    use super::*;

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
