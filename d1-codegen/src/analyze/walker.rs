//! The state of one walk over a parsed statement: parameters typed so far, CTEs in scope,
//! errors; and the locations of its nodes in the text. The walk itself is in `query`, `dml`,
//! `expr` and `functions`.

use super::{Param, Rowid, Source, SourceColumn, StatementKind};
use crate::diagnostic::{Diagnostic, Location};
use crate::lex::{self, Params};
use crate::schema::{self, Schema};
use crate::types::Ty;
use sqlparser::ast::{Spanned, Statement};

/// Whether a walk checks the names of the result columns it types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultNames {
    /// The statement's own result: names required, duplicates rejected.
    Checked,
    /// A subquery, CTE or view body: names are free.
    Free,
}

/// A result column while it is being computed.
#[derive(Debug, Clone)]
pub(crate) struct OutColumn {
    pub name: String,
    pub ty: Ty,
    pub origin: Option<(String, String)>,
}

/// The state of one analysis: parameters typed so far, CTEs in scope, errors.
pub(crate) struct Walker<'a> {
    pub schema: &'a Schema,
    pub sql: &'a str,
    pub params: &'a Params,
    pub param_types: Vec<Option<Ty>>,
    /// Unknown names and other faults SQLite also reports.
    pub errors: Vec<Diagnostic>,
    /// d1kit's own rules (unaliased expression, duplicate names): errors even where SQLite accepts.
    pub policy: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub ctes: Vec<(String, Vec<SourceColumn>)>,
    /// Whether the result being typed is the statement's own (names required, duplicates
    /// rejected) or a nested one.
    pub result_names: ResultNames,
    /// Byte offsets of window-frame EXCLUDE clauses that can leave out the current row.
    pub excludes: Vec<usize>,
    /// The statement's tokens, for locations sqlparser's spans do not give exactly.
    pub tokens: &'a [lex::Token],
    next_id: usize,
}

impl<'a> Walker<'a> {
    /// `tokens` are those of `sql`.
    pub fn new(
        schema: &'a Schema,
        sql: &'a str,
        params: &'a Params,
        tokens: &'a [lex::Token],
        result_names: ResultNames,
    ) -> Walker<'a> {
        Walker {
            schema,
            sql,
            params,
            param_types: vec![None; params.names.len()],
            errors: Vec::new(),
            policy: Vec::new(),
            warnings: Vec::new(),
            ctes: Vec::new(),
            result_names,
            excludes: lex::window_excludes(sql, tokens)
                .into_iter()
                .filter(|e| e.drops_current_row)
                .map(|e| e.start)
                .collect(),
            tokens,
            next_id: 0,
        }
    }

    pub fn next_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// The statement's kind and result columns.
    pub fn statement(&mut self, statement: &Statement) -> (StatementKind, Vec<OutColumn>) {
        match statement {
            Statement::Query(q) => (StatementKind::Select, self.query(q, None)),
            Statement::Insert(i) => (StatementKind::Insert, self.insert(i)),
            Statement::Update(u) => (StatementKind::Update, self.update(u)),
            Statement::Delete(d) => (StatementKind::Delete, self.delete(d)),
            _ => (StatementKind::Other, Vec::new()),
        }
    }

    /// The location of a sqlparser span in the SQL text.
    pub fn location(&self, span: sqlparser::tokenizer::Span) -> Option<Location> {
        Location::from_line_column(self.sql, span.start.line, span.start.column)
    }

    /// The byte length a span covers (at least 1).
    pub fn span_len(&self, span: sqlparser::tokenizer::Span) -> usize {
        match (
            self.location(span),
            Location::from_line_column(self.sql, span.end.line, span.end.column),
        ) {
            (Some(a), Some(b)) if b.offset > a.offset => b.offset - a.offset,
            _ => 1,
        }
    }

    /// The source text of a node, as SQLite names an unaliased expression column.
    pub fn source_text(&self, node: &impl Spanned) -> Option<&'a str> {
        let span = node.span();
        let a = self.location(span)?;
        let b = Location::from_line_column(self.sql, span.end.line, span.end.column)?;
        self.sql.get(a.offset..b.offset)
    }

    /// The byte range of the result-column item around `offset` (sqlparser's spans of some
    /// expressions, such as CAST or a parenthesized subquery, start inside them): from just after
    /// the preceding `,` / `SELECT` / `DISTINCT` / `RETURNING` to just before the next `,`, `AS`
    /// or clause keyword at the same depth.
    pub fn item_range(&self, offset: usize) -> (usize, usize) {
        const BEFORE: &[&str] = &["SELECT", "DISTINCT", "ALL", "RETURNING"];
        const AFTER: &[&str] = &[
            "AS",
            "FROM",
            "WHERE",
            "GROUP",
            "HAVING",
            "WINDOW",
            "ORDER",
            "LIMIT",
            "UNION",
            "EXCEPT",
            "INTERSECT",
            "RETURNING",
            "ON",
        ];
        let toks = &self.tokens;
        let k = toks
            .iter()
            .position(|t| t.start >= offset)
            .unwrap_or(toks.len());
        let (mut i, mut depth) = (k, 0i32);
        while i > 0 {
            let t = &toks[i - 1];
            let text = t.text(self.sql);
            match text {
                ")" => depth += 1,
                "(" if depth > 0 => depth -= 1,
                "," if depth == 0 => break,
                _ if depth == 0 && BEFORE.iter().any(|w| t.is_word(self.sql, w)) => break,
                _ => {}
            }
            i -= 1;
        }
        let start = toks.get(i).map_or(offset, |t| t.start);
        let (mut j, mut depth) = (i, 0i32);
        let mut end = start;
        while j < toks.len() {
            let t = &toks[j];
            match t.text(self.sql) {
                "(" => depth += 1,
                ")" if depth == 0 => break,
                ")" => depth -= 1,
                "," | ";" if depth == 0 => break,
                _ if depth == 0 && j > i && AFTER.iter().any(|w| t.is_word(self.sql, w)) => break,
                _ => {}
            }
            end = t.end;
            j += 1;
        }
        (start, end.max(start))
    }

    /// The byte range of a window call's `OVER (...)`, from the call's first byte.
    pub fn over_range(&self, offset: usize) -> Option<(usize, usize)> {
        let toks = &self.tokens;
        let k = toks.iter().position(|t| t.start >= offset)?;
        let mut depth = 0i32;
        let mut seen_over = false;
        for t in &toks[k..] {
            match t.text(self.sql) {
                "(" => depth += 1,
                ")" => {
                    depth -= 1;
                    if depth == 0 && seen_over {
                        return Some((offset, t.end));
                    }
                    if depth < 0 {
                        return None;
                    }
                }
                _ if depth == 0 && t.is_word(self.sql, "OVER") => seen_over = true,
                _ => {}
            }
        }
        None
    }

    /// An error located at a node.
    pub fn error_at(&mut self, d: Diagnostic, span: sqlparser::tokenizer::Span) {
        let d = match self.location(span) {
            Some(l) => d.at(l, self.span_len(span)),
            None => d,
        };
        self.errors.push(d);
    }

    /// The parameters with their final types: a parameter no context typed is `Option<Value>`.
    pub fn finish_params(&self) -> Vec<Param> {
        (0..self.params.names.len())
            .map(|i| Param {
                index: i as u32 + 1,
                name: self.params.names[i].clone(),
                ty: self.param_types[i].clone().unwrap_or_else(Ty::unknown),
            })
            .collect()
    }

    /// Whether `name` is the result of the statement (not a subquery): checks names and duplicates.
    pub fn check_result_names(&mut self, cols: &[OutColumn], spans: &[sqlparser::tokenizer::Span]) {
        for (i, c) in cols.iter().enumerate() {
            if cols[..i]
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&c.name))
            {
                let span = spans
                    .get(i)
                    .copied()
                    .unwrap_or(sqlparser::tokenizer::Span::empty());
                let at = self.location(span).map_or(0, |l| l.offset);
                let (start, end) = self.item_range(at);
                self.policy.push(
                    Diagnostic::error(format!("duplicate result column `{}`", c.name))
                        .with_help(
                            "D1 returns each row as a JavaScript object, so one value would overwrite the other: give one of them another name with `AS`",
                        )
                        .at_offset(self.sql, start, end - start),
                );
            }
        }
    }

    /// A real table or view of the schema, or a CTE in scope, as a relation.
    pub fn table_source(&mut self, name: &str, alias: Option<&str>) -> Option<Source> {
        let id = self.next_id();
        let shown = alias.unwrap_or(name).to_string();
        if let Some((_, cols)) = self
            .ctes
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Some(Source {
                id,
                name: shown,
                columns: cols.clone(),
                outer_nullable: false,
                rowid: None,
                merged: Default::default(),
            });
        }
        let name = name.strip_prefix("main.").unwrap_or(name);
        let t = self.schema.table(name)?;
        let columns = t
            .columns
            .iter()
            .map(|c| SourceColumn {
                name: c.name.clone(),
                ty: c.ty.clone(),
                hidden: c.hidden == schema::Hidden::Hidden,
                origin: Some((t.name.clone(), c.name.clone())),
            })
            .collect();
        let rowid = if t.has_rowid() {
            Some(match t.columns.iter().position(|c| c.rowid_alias) {
                Some(i) => Rowid::Alias(i),
                None => Rowid::Plain,
            })
        } else {
            None
        };
        Some(Source {
            id,
            name: shown,
            columns,
            outer_nullable: false,
            rowid,
            merged: Default::default(),
        })
    }
}
