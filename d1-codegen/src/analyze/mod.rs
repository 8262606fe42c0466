//! One SQL statement + the schema → its [`Signature`]: kind, typed parameters, typed result
//! columns (docs/TYPING.md). The statement is tokenized once here; what the lints and the
//! macros need of it downstream travels in the [`Analysis`].

mod dml;
mod expr;
pub(crate) mod functions;
mod query;
mod scope;

use crate::diagnostic::{closest, plural, Diagnostic, Diagnostics, Location};
use crate::lex::{self, Params, StatementText, Token};
use crate::migrations::MigrationSet;
use crate::overrides::strip_override;
use crate::rules::{self, Context};
use crate::schema::{self, CascadeDrop, Schema, TableKind};
use crate::types::{SqlType, Ty};
use rusqlite::Connection;
use sqlparser::ast::{Spanned, Statement};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

pub(crate) use scope::{Rowid, Scope, Source, SourceColumn, Unresolved};

/// What a statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// `SELECT`, `VALUES`, `WITH ... SELECT`.
    Select,
    /// `INSERT` / `REPLACE`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// Anything else (`PRAGMA table_info(..)`, DDL...).
    Other,
}

impl StatementKind {
    /// Lower-case name, as `d1kit check --format json` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Select => "select",
            StatementKind::Insert => "insert",
            StatementKind::Update => "update",
            StatementKind::Delete => "delete",
            StatementKind::Other => "other",
        }
    }
}

/// One bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// SQLite's number for it (1-based).
    pub index: u32,
    /// Its name without the sigil (`:owner` → `owner`); `None` for `?` and `?NNN`.
    pub name: Option<String>,
    /// Type, and whether `None` (NULL) may be bound.
    pub ty: Ty,
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumn {
    /// Its name (the alias with any override suffix removed, or the column's name).
    pub name: String,
    /// Type and nullability.
    pub ty: Ty,
    /// The `(table, column)` it reads, when it is a plain column reference.
    pub origin: Option<(String, String)>,
}

/// What d1kit knows of a statement: enough to generate its Rust types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// SELECT, INSERT...
    pub kind: StatementKind,
    /// Parameters by number, 1..=N.
    pub params: Vec<Param>,
    /// Result columns in order.
    pub columns: Vec<ResultColumn>,
    /// Things worth knowing that do not reject the statement.
    pub warnings: Vec<Diagnostic>,
}

/// Where a [`Signature`]'s types come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedBy {
    /// d1kit's own typing (docs/TYPING.md), which agrees with SQLite on the result's names.
    D1kit,
    /// SQLite's column metadata, every column `Option` (d1kit's parser could not read the
    /// statement, or its reading disagrees with SQLite's; a warning says which).
    SqliteMetadata,
}

/// One statement as the analysis read it: what the lints and the macros need of it, so that
/// nothing downstream reads the text again.
#[derive(Debug)]
pub struct Analysis<'q> {
    /// The query as written.
    pub sql: &'q str,
    /// The query up to the end of its one statement (what SQLite prepares).
    pub text: &'q str,
    /// The statement as sqlparser read it; `None` when it could not.
    pub statement: Option<Statement>,
    /// The signature, and where its types come from.
    pub signature: Signature,
    /// Where [`Analysis::signature`]'s types come from.
    pub typed_by: TypedBy,
    /// d1kit's own rules the statement breaks (an unaliased expression, duplicate names):
    /// errors even where SQLite accepts it.
    pub policy: Vec<Diagnostic>,
    /// The statement's place in `sql`.
    range: StatementText,
    /// Its parameters, as SQLite numbers them.
    params: Params,
    /// Every token of `sql`.
    tokens: Vec<Token>,
}

impl Analysis<'_> {
    /// The tokens of the statement.
    pub fn statement_tokens(&self) -> &[Token] {
        lex::tokens_within(&self.tokens, &self.range)
    }

    /// The SQL as D1 receives it: parameters numbered, override aliases plain
    /// ([`lex::for_d1`]).
    pub fn d1_sql(&self) -> String {
        lex::for_d1(self.sql, &self.tokens, &self.params)
    }

    /// The signature, or the policy errors when there are any.
    pub fn into_signature(self) -> Result<Signature, Diagnostics> {
        if self.policy.is_empty() {
            Ok(self.signature)
        } else {
            Err(Diagnostics(self.policy))
        }
    }
}

/// Whether a walk checks the names of the result columns it types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultNames {
    /// The statement's own result: names required, duplicates rejected.
    Checked,
    /// A subquery, CTE or view body: names are free.
    Free,
}

/// A migrated schema ready to check queries: the catalog model plus the SQLite database it was
/// read from (the oracle every query is also prepared against).
pub struct Analyzer {
    schema: Schema,
    conn: Connection,
    warnings: Vec<Diagnostic>,
    /// What each `DROP TABLE` of the migrations did to the tables that reference it: the facts
    /// the cascade-drop lint ([`crate::lint::cascade`]) reports.
    cascade_drops: Vec<CascadeDrop>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    /// Applies `set` to an in-memory SQLite and types the resulting schema (views included).
    /// The migration lints are not applied here: [`crate::lint::load`] builds an analyzer with
    /// them at the configured levels.
    pub fn from_migrations(set: &MigrationSet) -> Result<Analyzer, Diagnostics> {
        let applied = schema::apply_migrations(set)?;
        let schema = schema::read_catalog(&applied.conn)?;
        let mut analyzer = Analyzer {
            schema,
            conn: applied.conn,
            warnings: applied.warnings,
            cascade_drops: applied.cascade_drops,
        };
        analyzer.type_views();
        Ok(analyzer)
    }

    /// The SQLite database the migrations were applied to (query plans are read from it).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// What the migrations' `DROP TABLE`s did to the tables referencing the dropped ones.
    pub(crate) fn cascade_drops(&self) -> &[CascadeDrop] {
        &self.cascade_drops
    }

    /// Adds a warning found about the migrations (by the lints).
    pub(crate) fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }

    /// The schema the migrations built.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Warnings found while loading the migrations.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Types each view's columns from its SELECT, in creation order (a view can read earlier ones).
    fn type_views(&mut self) {
        for i in 0..self.schema.tables.len() {
            if self.schema.tables[i].kind != TableKind::View {
                continue;
            }
            let Some(sql) = self.schema.tables[i].sql.clone() else {
                continue;
            };
            let tokens = lex::tokenize(&sql);
            let Ok(mut stmts) =
                Parser::parse_sql(&SQLiteDialect {}, &lex::for_sqlparser(&sql, &tokens))
            else {
                self.view_from_oracle(i);
                continue;
            };
            let Some(Statement::CreateView(view)) = stmts.pop() else {
                continue;
            };
            let params = Params::default();
            let mut w = Walker::new(&self.schema, &sql, &params, &tokens, ResultNames::Free);
            let cols = w.query(&view.query, None);
            let clean = w.errors.is_empty();
            let table = &mut self.schema.tables[i];
            if clean && cols.len() == table.columns.len() {
                for (c, out) in table.columns.iter_mut().zip(cols) {
                    c.ty = out.ty;
                }
            } else {
                self.view_from_oracle(i);
            }
        }
    }

    /// Conservative view typing: the declared type of the column each view column reads, nullable.
    fn view_from_oracle(&mut self, i: usize) {
        let name = self.schema.tables[i].name.replace('"', "\"\"");
        if let Some(cols) = oracle_columns(
            &self.conn,
            &self.schema,
            &format!("SELECT * FROM \"{name}\""),
        ) {
            for (c, o) in self.schema.tables[i].columns.iter_mut().zip(cols) {
                c.ty = o.ty;
            }
        }
    }

    /// Checks one statement and infers its signature. Every error found is returned together.
    /// No lint runs here ([`crate::lint::check`] runs them on the [`Analysis`]).
    pub fn analyze(&self, sql: &str) -> Result<Signature, Diagnostics> {
        self.analysis(sql)?.into_signature()
    }

    /// Reads one statement: D1's rules, SQLite's verdict, then d1kit's typing. An error here
    /// rejects the statement; what the walk found against d1kit's own rules is kept in
    /// [`Analysis::policy`], so that the lints can report their errors with them.
    pub fn analysis<'q>(&self, sql: &'q str) -> Result<Analysis<'q>, Diagnostics> {
        let tokens = lex::tokenize(sql);
        let statements = lex::split_tokens(sql, &tokens);
        let params = Params::of(sql, &tokens);
        let mut errors = rules::query_rules(sql, &statements, &params);
        if let Some(first) = statements.first() {
            let st_tokens = lex::tokens_within(&tokens, first);
            let verdict = rules::statement_rules(sql, st_tokens, Context::Query);
            errors.extend(verdict.diagnostics.into_iter().filter(Diagnostic::is_error));
        }
        if !errors.is_empty() {
            return Err(Diagnostics(errors));
        }
        let first = statements[0];
        let text = &sql[..first.end];
        // The tokens of `text`: those of `sql` up to the statement's end.
        let text_tokens = &tokens[..tokens.partition_point(|t| t.end <= first.end)];
        let mut analysis = Analysis {
            sql,
            text,
            statement: None,
            typed_by: TypedBy::SqliteMetadata,
            signature: Signature {
                kind: StatementKind::Other,
                params: Vec::new(),
                columns: Vec::new(),
                warnings: Vec::new(),
            },
            policy: Vec::new(),
            range: first,
            params,
            tokens: Vec::new(),
        };

        // SQLite decides validity.
        let stmt = match self.conn.prepare(text) {
            Ok(s) => s,
            Err(e) => {
                return Err(Diagnostics(self.sqlite_errors(
                    sql,
                    text,
                    text_tokens,
                    &analysis.params,
                    &e,
                )))
            }
        };
        let oracle_names: Vec<String> = stmt.column_names().map(|n| n.to_string()).collect();
        drop(stmt);

        let st_tokens = lex::tokens_within(&tokens, &first);
        let readable = lex::for_sqlparser(text, st_tokens);
        let statement = match Parser::parse_sql(&SQLiteDialect {}, &readable) {
            Ok(mut v) if v.len() == 1 => v.pop(),
            Ok(_) => None,
            Err(e) => {
                analysis.signature = self.fallback(text, text_tokens, &analysis.params);
                analysis.signature.warnings.push(Diagnostic::warning(format!(
                    "d1kit's SQL parser cannot read this statement ({e}); SQLite accepts it, so its types come from SQLite's column metadata and every column is `Option`"
                )).with_help("add `AS \"name!\"` overrides for columns you know are not NULL"));
                analysis.tokens = tokens;
                return Ok(analysis);
            }
        };
        let Some(statement) = statement else {
            analysis.signature = self.fallback(text, text_tokens, &analysis.params);
            analysis.tokens = tokens;
            return Ok(analysis);
        };

        let mut w = Walker::new(
            &self.schema,
            text,
            &analysis.params,
            st_tokens,
            ResultNames::Checked,
        );
        let (kind, columns) = w.statement(&statement);
        let names_agree = columns.len() == oracle_names.len()
            && columns
                .iter()
                .zip(&oracle_names)
                .all(|(c, o)| c.name.eq_ignore_ascii_case(&strip_override(o)));
        if !w.errors.is_empty() || !names_agree {
            let mut sig = self.fallback(text, text_tokens, &analysis.params);
            sig.kind = kind;
            let why = if let Some(e) = w.errors.first() {
                e.message.clone()
            } else {
                format!(
                    "result columns [{}] vs SQLite's [{}]",
                    columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    oracle_names.join(", ")
                )
            };
            sig.warnings.push(Diagnostic::warning(format!(
                "d1kit and SQLite disagree about this statement ({why}); this is a d1kit bug, please report it. Types come from SQLite's column metadata, every column `Option`"
            )));
            let policy = w.policy;
            analysis.signature = sig;
            analysis.policy = policy;
        } else {
            let params = w.finish_params();
            analysis.signature = Signature {
                kind,
                params,
                columns: columns
                    .into_iter()
                    .map(|c| ResultColumn {
                        name: c.name,
                        ty: c.ty,
                        origin: c.origin,
                    })
                    .collect(),
                warnings: w.warnings,
            };
            analysis.policy = w.policy;
            analysis.typed_by = TypedBy::D1kit;
        }
        analysis.statement = Some(statement);
        analysis.tokens = tokens;
        Ok(analysis)
    }

    /// SQLite's functions and their argument counts (-1: any), for suggestions.
    fn functions(&self) -> Vec<(String, i64)> {
        let Ok(mut stmt) = self
            .conn
            .prepare("SELECT name, narg FROM pragma_function_list")
        else {
            return Vec::new();
        };
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// SQLite rejected the statement: its message, rephrased with a suggestion, plus every other
    /// unknown name d1kit's own walk finds (so all of them are reported at once).
    /// `tokens` are those of `text`.
    fn sqlite_errors(
        &self,
        sql: &str,
        text: &str,
        tokens: &[Token],
        params: &Params,
        e: &rusqlite::Error,
    ) -> Vec<Diagnostic> {
        let (message, offset) = schema::sqlite_error_parts(e);
        let mut walked = Vec::new();
        if let Ok(mut v) = Parser::parse_sql(&SQLiteDialect {}, &lex::for_sqlparser(text, tokens)) {
            if let Some(statement) = v.pop() {
                let mut w = Walker::new(&self.schema, text, params, tokens, ResultNames::Checked);
                let _ = w.statement(&statement);
                walked = w.errors;
            }
        }
        let names_error = message.starts_with("no such column")
            || message.starts_with("no such table")
            || message.starts_with("ambiguous column")
            || message.contains(" has no column named ");
        if names_error && !walked.is_empty() {
            return walked;
        }
        let mut d = if let Some(name) = schema::missing_table(&message) {
            let mut d = Diagnostic::error(format!("no table `{name}`"));
            if let Some(s) = closest(name, self.schema.user_tables().map(|t| t.name.as_str())) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            d
        } else if let Some(name) = message.strip_prefix("no such column: ") {
            let column = name.rsplit('.').next().unwrap_or(name);
            let mut d = Diagnostic::error(format!("no column `{name}`"));
            let mentioned: Vec<&str> = self
                .schema
                .tables
                .iter()
                .filter(|t| {
                    tokens
                        .iter()
                        .any(|tok| lex::unquote(tok.text(text)).eq_ignore_ascii_case(&t.name))
                })
                .flat_map(|t| t.columns.iter().map(|c| c.name.as_str()))
                .collect();
            if let Some(s) = closest(column, mentioned) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            d
        } else if let Some((table, column)) = message
            .strip_prefix("table ")
            .and_then(|m| m.split_once(" has no column named "))
        {
            let mut d = Diagnostic::error(format!("no column `{column}` in `{table}`"));
            let candidates = self.schema.table(table).map(|t| {
                t.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
            });
            if let Some(s) = candidates.and_then(|c| closest(column, c)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            d
        } else if let Some(name) = message.strip_prefix("no such function: ") {
            let known = self.functions();
            let mut d = Diagnostic::error(format!("no function `{name}`"));
            if let Some(s) = closest(name, known.iter().map(|(n, _)| n.as_str())) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            d
        } else if let Some(name) = message
            .strip_prefix("wrong number of arguments to function ")
            .and_then(|m| m.strip_suffix("()"))
        {
            let mut counts: Vec<i64> = self
                .functions()
                .into_iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, narg)| narg)
                .collect();
            counts.sort_unstable();
            counts.dedup();
            let takes = match counts.as_slice() {
                [] => String::new(),
                [-1, ..] => String::new(),
                [one] => format!(": `{name}` takes {one}"),
                [rest @ .., last] => format!(
                    ": `{name}` takes {} or {last}",
                    rest.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Diagnostic::error(format!(
                "wrong number of arguments to function `{name}`{takes}"
            ))
        } else if let Some((values, columns)) = values_for_columns(&message) {
            Diagnostic::error(format!(
                "this INSERT lists {columns} column{} but gives {values} value{}",
                plural(columns),
                plural(values)
            ))
            .with_help("give one value per listed column, in the same order")
        } else if let Some((table, columns, values)) = values_for_table(&message) {
            Diagnostic::error(format!(
                "`{table}` has {columns} column{} but this INSERT gives {values} value{}",
                plural(columns),
                plural(values)
            ))
            .with_help(format!(
                "name the columns the values are for: `INSERT INTO {table} (column, ..) VALUES (..)`"
            ))
        } else if let Some(name) = message.strip_prefix("ambiguous column name: ") {
            Diagnostic::error(format!("ambiguous column `{name}`"))
                .with_help("qualify it with its table's name or alias")
        } else {
            Diagnostic::error(message.clone())
        };
        // SQLite gives no offset for some errors: a values count points at VALUES, anything
        // else at the statement, so every error still has a line and column.
        let values_error =
            values_for_columns(&message).is_some() || values_for_table(&message).is_some();
        let offset = offset.filter(|o| *o < sql.len()).or_else(|| {
            let token = |t: &&lex::Token| !values_error || t.is_word(text, "VALUES");
            tokens.iter().find(token).map(|t| t.start)
        });
        if let Some(offset) = offset {
            // The token at the offset (`tokens` cover `text`, which ends at the statement).
            let len = tokens.iter().find(|t| t.end > offset).map_or_else(
                || lex::tokenize(&sql[offset..]).first().map_or(1, |t| t.end),
                |t| t.end - offset,
            );
            d = d.at(Location::at(sql, offset), len);
        }
        vec![d]
    }

    /// The signature SQLite's own metadata gives: names, declared types of origin columns, every
    /// column nullable, every parameter `Option<Value>`.
    fn fallback(&self, text: &str, tokens: &[Token], params: &Params) -> Signature {
        let columns = oracle_columns(&self.conn, &self.schema, text).unwrap_or_default();
        Signature {
            kind: kind_from_tokens(text, tokens),
            params: (1..=params.count())
                .map(|i| Param {
                    index: i,
                    name: params.names.get(i as usize - 1).cloned().flatten(),
                    ty: Ty::unknown(),
                })
                .collect(),
            columns,
            warnings: Vec::new(),
        }
    }
}

/// Result columns as SQLite describes them: name, and the declared type of the column it reads (nullable).
fn oracle_columns(conn: &Connection, schema: &Schema, sql: &str) -> Option<Vec<ResultColumn>> {
    let stmt = conn.prepare(sql).ok()?;
    let mut out = Vec::new();
    for i in 0..stmt.column_count() {
        let name = stmt.column_name(i).ok()?.to_string();
        let origin = stmt.column_metadata(i).ok().flatten().map(|m| {
            (
                m.1.to_string_lossy().into_owned(),
                m.2.to_string_lossy().into_owned(),
            )
        });
        let ty = origin
            .as_ref()
            .and_then(|(t, c)| schema.table(t).and_then(|t| t.column(c)))
            .map(|c| c.ty.ty.clone())
            .unwrap_or(SqlType::Value);
        out.push(ResultColumn {
            name: strip_override(&name),
            ty: Ty::nullable(ty),
            origin,
        });
    }
    Some(out)
}

/// `tokens` are those of `sql`.
fn kind_from_tokens(sql: &str, tokens: &[Token]) -> StatementKind {
    let mut depth = 0;
    for t in tokens {
        match t.text(sql) {
            "(" => depth += 1,
            ")" => depth -= 1,
            _ if depth > 0 || t.kind != lex::TokenKind::Word => {}
            w if w.eq_ignore_ascii_case("SELECT") || w.eq_ignore_ascii_case("VALUES") => {
                return StatementKind::Select
            }
            w if w.eq_ignore_ascii_case("INSERT") || w.eq_ignore_ascii_case("REPLACE") => {
                return StatementKind::Insert
            }
            w if w.eq_ignore_ascii_case("UPDATE") => return StatementKind::Update,
            w if w.eq_ignore_ascii_case("DELETE") => return StatementKind::Delete,
            w if w.eq_ignore_ascii_case("WITH") || w.eq_ignore_ascii_case("RECURSIVE") => {}
            _ if t.start == tokens[0].start => return StatementKind::Other,
            _ => {}
        }
    }
    StatementKind::Other
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

/// SQLite's `N values for M columns` (an INSERT with a column list): `(N, M)`.
fn values_for_columns(message: &str) -> Option<(usize, usize)> {
    let (values, rest) = message.split_once(" values for ")?;
    let columns = rest.strip_suffix(" columns")?;
    Some((values.parse().ok()?, columns.parse().ok()?))
}

/// SQLite's `table T has M columns but N values were supplied`: `(T, M, N)`.
fn values_for_table(message: &str) -> Option<(&str, usize, usize)> {
    let (table, rest) = message.strip_prefix("table ")?.split_once(" has ")?;
    let (columns, rest) = rest.split_once(" columns but ")?;
    let values = rest.strip_suffix(" values were supplied")?;
    Some((table, columns.parse().ok()?, values.parse().ok()?))
}
