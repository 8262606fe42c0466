//! A small JSON-with-comments parser that keeps the byte range of every value (and of every
//! member's key), so that an edit can splice the text and leave every other byte as it was.

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use std::path::Path;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

/// A value and its byte range (`start..end`; for a container, its brackets included).
#[derive(Debug)]
pub(super) struct Node {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    Object(Vec<Member>),
    Array(Vec<Element>),
    Str(String),
    /// A number, `true`, `false` or `null`.
    Other,
}

#[derive(Debug)]
pub(super) struct Member {
    pub(super) key: String,
    pub(super) key_start: usize,
    pub(super) value: Node,
    /// The comma after it, if any.
    pub(super) comma: Option<usize>,
}

#[derive(Debug)]
pub(super) struct Element {
    pub(super) value: Node,
    pub(super) comma: Option<usize>,
}

/// An item of a container, for insertions: where it starts and ends, and its comma.
#[derive(Clone, Copy)]
pub(super) struct Item {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) comma: Option<usize>,
}

impl Node {
    pub(super) fn member(&self, key: &str) -> Option<&Member> {
        match &self.kind {
            Kind::Object(m) => m.iter().find(|m| m.key == key),
            _ => None,
        }
    }

    pub(super) fn items(&self) -> Vec<Item> {
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

pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
    pub(super) depth: usize,
}

type ParseError = (usize, String);

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips whitespace and comments.
    pub(super) fn trivia(&mut self) -> Result<(), ParseError> {
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

    pub(super) fn expect(&mut self, c: u8, what: &str) -> Result<usize, ParseError> {
        self.trivia()?;
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(self.pos - 1)
        } else {
            Err((self.pos, format!("expected {what}")))
        }
    }

    pub(super) fn string(&mut self) -> Result<(String, usize, usize), ParseError> {
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

    pub(super) fn value(&mut self) -> Result<Node, ParseError> {
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

    pub(super) fn object(&mut self) -> Result<Node, ParseError> {
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

    pub(super) fn array(&mut self) -> Result<Node, ParseError> {
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
pub(super) fn parse(text: &str, path: &Path) -> Result<Node, Diagnostics> {
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
            crate::wrangler::file_name(path)
        ))
        .in_file(path)
        .at(Location::at(text, offset), 1)])
    })
}
