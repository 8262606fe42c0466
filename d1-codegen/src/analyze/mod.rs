//! One SQL statement + the schema → its [`Signature`]: kind, typed parameters, typed result
//! columns (docs/TYPING.md). The statement is tokenized once here; what the lints and the
//! macros need of it downstream travels in the [`Analysis`].

mod dml;
mod expr;
pub(crate) mod functions;
mod query;
mod scope;
mod sqlite_errors;
mod walker;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lex::{self, Params, StatementText, Token};
use crate::migrations::MigrationSet;
use crate::overrides::strip_override;
pub use crate::rules::Engine;
use crate::rules::{self, Context};
use crate::schema::{self, CascadeDrop, Schema, TableKind};
use crate::types::{SqlType, Ty};
use rusqlite::Connection;
use sqlparser::ast::Statement;
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

pub(crate) use scope::{Rowid, Scope, Source, SourceColumn, Unresolved};
pub(crate) use walker::{OutColumn, ResultNames, Walker};

/// The deepest nesting ([`lex::nesting`]) of a statement whose tree d1kit builds and walks:
/// SQLite's own limit on the depth of an expression (`SQLITE_MAX_EXPR_DEPTH`). Deeper
/// statements are not parsed by sqlparser (whose tree every walk would recurse as deep): SQLite
/// rejects them, or, where d1kit's count runs ahead of SQLite's, their types come from SQLite's
/// metadata. At this depth a walk needs 4 to 5 MB of stack in a debug build (rustc runs proc
/// macros on 8 MB), far less in release.
pub const MAX_DEPTH: usize = 1000;

/// What a statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Param {
    /// SQLite's number for it (1-based).
    pub index: u32,
    /// Its name without the sigil (`:owner` → `owner`); `None` for `?` and `?NNN`.
    pub name: Option<String>,
    /// Type, and whether `None` (NULL) may be bound.
    pub ty: Ty,
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A migrated schema ready to check queries: the catalog model plus the SQLite database it was
/// read from (the oracle every query is also prepared against).
pub struct Analyzer {
    schema: Schema,
    conn: Connection,
    warnings: Vec<Diagnostic>,
    /// What each `DROP TABLE` of the migrations did to the tables that reference it: the facts
    /// the cascade-drop lint ([`crate::lint::cascade`]) reports.
    cascade_drops: Vec<CascadeDrop>,
    /// What runs the database's SQL: D1's rules are worded for it.
    engine: Engine,
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
        Analyzer::from_migrations_on(set, Engine::D1)
    }

    /// [`Analyzer::from_migrations`] for a database that `engine` runs: the same rules, for
    /// its migrations and its queries, in messages that name it.
    pub fn from_migrations_on(set: &MigrationSet, engine: Engine) -> Result<Analyzer, Diagnostics> {
        let applied = schema::apply_migrations_on(set, schema::STATEMENT_BUDGET, engine)?;
        let schema = schema::read_catalog(&applied.conn)?;
        let mut analyzer = Analyzer {
            schema,
            conn: applied.conn,
            warnings: applied.warnings,
            cascade_drops: applied.cascade_drops,
            engine,
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
            if lex::nesting(&sql, &tokens).depth > MAX_DEPTH {
                self.view_from_oracle(i);
                continue;
            }
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
        let mut errors = rules::query_rules(sql, &statements, &params, self.engine);
        if let Some(first) = statements.first() {
            let st_tokens = lex::tokens_within(&tokens, first);
            let verdict = rules::statement_rules(sql, st_tokens, Context::Query, self.engine);
            errors.extend(verdict.diagnostics.into_iter().filter(Diagnostic::is_error));
        }
        if !errors.is_empty() {
            return Err(Diagnostics(errors));
        }
        let first = statements[0];
        let text = &sql[..first.end];
        // The tokens of `text`: those of `sql` up to the statement's end.
        let text_tokens = &tokens[..tokens.partition_point(|t| t.end <= first.end)];
        // How deep its expressions nest, before anything recurses over them.
        let nesting = lex::nesting(text, text_tokens);
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
                    nesting,
                )))
            }
        };
        let oracle_names: Vec<String> = stmt.column_names().map(|n| n.to_string()).collect();
        drop(stmt);

        if nesting.depth > MAX_DEPTH {
            analysis.signature = self.fallback(text, text_tokens, &analysis.params);
            analysis.signature.warnings.push(
                Diagnostic::warning(format!(
                    "d1kit's SQL parser does not read this statement: an expression starting here nests deeper than its limit of {MAX_DEPTH} levels (each operator of a chain, parenthesis, NOT, CASE and subquery is one); SQLite accepts it, so its types come from SQLite's column metadata and every column is `Option`"
                ))
                .with_help("split the expression, or add `AS \"name!\"` overrides for columns you know are not NULL")
                .at_offset(sql, nesting.start, nesting.start_end - nesting.start),
            );
            analysis.tokens = tokens;
            return Ok(analysis);
        }
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
