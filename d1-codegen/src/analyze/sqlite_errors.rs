//! SQLite's rejection of a statement, reworded in d1kit's terms with a suggestion (`did you
//! mean`), and every other unknown name d1kit's own walk finds, so all are reported at once.

use super::{Analyzer, ResultNames, Walker, MAX_DEPTH};
use crate::diagnostic::{closest, plural, Diagnostic, Location};
use crate::lex::{self, Nesting, Params, Token};
use crate::schema;
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

impl Analyzer {
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
    /// `tokens` are those of `text`; `nesting` is how deep its expressions nest: the walk is
    /// left out beyond [`MAX_DEPTH`].
    pub(super) fn sqlite_errors(
        &self,
        sql: &str,
        text: &str,
        tokens: &[Token],
        params: &Params,
        e: &rusqlite::Error,
        nesting: Nesting,
    ) -> Vec<Diagnostic> {
        let (message, offset) = schema::sqlite_error_parts(e);
        if let Some(d) = too_deep(&message, sql, tokens, nesting) {
            return vec![d];
        }
        let mut walked = Vec::new();
        let parsed = (nesting.depth <= MAX_DEPTH)
            .then(|| Parser::parse_sql(&SQLiteDialect {}, &lex::for_sqlparser(text, tokens)));
        if let Some(Ok(mut v)) = parsed {
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
}

/// How deep SQLite's parser nests at most: its stack of 2,500 entries
/// (`SQLITE_MAX_PARSER_DEPTH`), which it reports as a bare `Recursion limit`.
const SQLITE_PARSER_DEPTH: usize = 2500;

/// The most terms SQLite takes in a compound SELECT (`SQLITE_MAX_COMPOUND_SELECT`).
const SQLITE_COMPOUND_TERMS: usize = 500;

/// SQLite's rejection of a statement that nests too deeply (or chains too many SELECTs), in
/// d1kit's words: the limit, and where the nesting starts (the first term over the limit).
/// `tokens` are those of `sql` up to the statement's end.
fn too_deep(message: &str, sql: &str, tokens: &[Token], nesting: Nesting) -> Option<Diagnostic> {
    if message == "too many terms in compound SELECT" {
        let compound = ["UNION", "INTERSECT", "EXCEPT"];
        let over = tokens
            .iter()
            .filter(|t| compound.iter().any(|w| t.is_word(sql, w)))
            .nth(SQLITE_COMPOUND_TERMS - 1)
            .map_or((nesting.start, nesting.start_end), |t| (t.start, t.end));
        return Some(
            Diagnostic::error(format!(
                "this compound SELECT has more than {SQLITE_COMPOUND_TERMS} terms (`UNION`, `INTERSECT`, `EXCEPT`), SQLite's limit"
            ))
            .with_help("split it into several statements, or read the values from one JSON parameter with `json_each(?)`")
            .at_offset(sql, over.0, over.1 - over.0),
        );
    }
    let d = if let Some(limit) = message
        .strip_prefix("Expression tree is too large (maximum depth ")
        .and_then(|m| m.strip_suffix(')'))
    {
        Diagnostic::error(format!(
            "this expression nests deeper than SQLite's limit of {limit} levels"
        ))
        .with_help("each operator of a chain (`a + b + ...`, `x = ? OR ...`), each parenthesis, NOT, CASE and subquery is one level deeper: split the expression, or pass a list as one JSON parameter read with `json_each(?)`")
    } else if message == "Recursion limit" || message == "parser stack overflow" {
        Diagnostic::error(format!(
            "this expression nests deeper than SQLite's parser reads: at most {SQLITE_PARSER_DEPTH} levels"
        ))
        .with_help("each parenthesis, prefix operator (`NOT`, `-`) and subquery opens a level: remove the ones not needed, or split the statement")
    } else {
        return None;
    };
    Some(d.at_offset(sql, nesting.start, nesting.start_end - nesting.start))
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
