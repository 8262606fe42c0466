//! Tenant scoping: with a `tenant_column` configured (docs/CONFIG.md), every query on a table that
//! has that column must pin it to a parameter, so that a query written for one tenant cannot
//! read or change another tenant's rows of a shared database.
//!
//! The rule, checked on the parsed statement and the schema only:
//! - **Reads, UPDATE, DELETE.** Every relation of a FROM / JOIN list, UPDATE target or DELETE
//!   target that is a table (or a view, virtual table...) with the tenant column must have that
//!   column *bound*, separately in each SELECT scope (the statement, each CTE, each subquery,
//!   each arm of a UNION). A column is bound by a top-level AND-term of the scope's WHERE, or of
//!   the ON of an inner join, that is `column = parameter` (either side, `=` or `==`, the
//!   parameter `?`, `?N`, `:name`, `@name` or `$name`, parentheses allowed). Equalities
//!   between columns carry it on (`a.user_id = b.user_id`, `USING (user_id)`, NATURAL), over
//!   any number of steps and from enclosing queries into correlated subqueries. The ON of a
//!   LEFT (RIGHT) join binds only its optional right (left) side, and only from the other side;
//!   a FULL join's ON binds nothing. `IN`, `OR`, `IS`, literals and expressions bind nothing.
//! - **INSERT.** Into a table with the tenant column, the column must be in the column list
//!   (or, without a list, in the table's insertable columns) and each VALUES row must give it a
//!   parameter; `INSERT ... SELECT` gives it a parameter or a column of that name (the SELECT
//!   itself is checked as a read). UPSERT's DO UPDATE needs nothing more.
//! - Relations without the tenant column (CTEs, subqueries, table-valued functions, tables and
//!   views that lack the column) are free. A view counts as a table when its result has the
//!   column: a view that hides the column also hides its rows from this rule.
//!
//! Statements other than SELECT, INSERT, UPDATE and DELETE are not checked.

use crate::diagnostic::{Diagnostic, Location};
use crate::lex::Token;
use crate::overrides::strip_override;
use crate::schema::{Hidden, Schema};
use crate::sqlast::{and_terms, arg_expr, object_name, strip_nested};
use sqlparser::ast::{
    BinaryOperator, Delete, Expr, FromTable, Function, FunctionArgumentClause, FunctionArguments,
    GroupByExpr, InTarget, Insert, JoinConstraint, JoinOperator, NamedWindowExpr, ObjectName,
    OnConflictAction, OnInsert, OrderByExpr, OrderByKind, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Spanned, Statement, TableFactor, TableObject,
    TableWithJoins, Update, UpdateTableFromKind, Value, WindowType,
};
use std::collections::HashSet;

/// How the opt-out is written, for messages.
pub const OPT_OUT: &str = "`sql!(#[cross_tenant] \"...\")` / `#[d1(cross_tenant, ..)]`";

/// The tenant-scoping diagnostics of one parsed statement (`sql` is the text it was parsed from,
/// for locations): an error for each relation whose tenant column is not bound to a parameter,
/// and for each INSERT that does not set it from one. Warnings say where the check could not
/// look (a d1kit bug). Empty for a statement that passes.
/// `tokens` are the statement's, in `sql`.
pub fn check(
    statement: &Statement,
    sql: &str,
    tokens: &[Token],
    schema: &Schema,
    tenant_column: &str,
) -> Vec<Diagnostic> {
    let mut lint = Lint {
        schema,
        sql,
        tenant: tenant_column,
        ctes: Vec::new(),
        next_id: 0,
        selects: 0,
        out: Vec::new(),
    };
    let checked = match statement {
        Statement::Query(q) => {
            lint.query(q, None);
            true
        }
        Statement::Insert(i) => {
            lint.insert(i);
            true
        }
        Statement::Update(u) => {
            lint.update(u);
            true
        }
        Statement::Delete(d) => {
            lint.delete(d);
            true
        }
        _ => false,
    };
    let written = tokens.iter().filter(|t| t.is_word(sql, "SELECT")).count();
    if checked && lint.selects < written {
        lint.out.push(Diagnostic::warning(format!(
            "d1kit could not check the tenant column `{tenant_column}` in {} of the {written} SELECTs of this statement (an expression it does not look into); this is a d1kit bug, please report it",
            written - lint.selects
        )));
    }
    lint.out
}

/// The warning for a statement the lint could not look at (d1kit's parser cannot read it).
pub fn unchecked(tenant_column: &str) -> Diagnostic {
    Diagnostic::warning(format!(
        "the tenant column `{tenant_column}` is not checked in this statement: d1kit's SQL parser cannot read it"
    ))
    .with_help(format!(
        "make sure the query constrains it, e.g. `WHERE t.{tenant_column} = ?`"
    ))
}

mod dml;
mod expr;
mod scope;
mod select;
#[cfg(test)]
mod tests;

use scope::{Binds, Facts, Rel, Relations};

struct Lint<'a> {
    schema: &'a Schema,
    sql: &'a str,
    tenant: &'a str,
    /// CTEs in scope: name, columns (if known).
    ctes: Vec<(String, Option<Vec<String>>)>,
    next_id: usize,
    /// SELECT bodies looked at, against the SELECT keywords of the text.
    selects: usize,
    out: Vec<Diagnostic>,
}

fn is_param(e: &Expr) -> bool {
    matches!(strip_nested(e), Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
}

/// `(table, column)` of a column reference.
fn column_ref(e: &Expr) -> Option<(Option<&str>, &str)> {
    match strip_nested(e) {
        Expr::Identifier(c) => Some((None, c.value.as_str())),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [t, c] | [_, t, c] => Some((Some(t.value.as_str()), c.value.as_str())),
            _ => None,
        },
        _ => None,
    }
}

/// An identifier as it would be written in SQL (quoted when it must be).
fn shown(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn json_table_columns() -> Vec<String> {
    [
        "key", "value", "type", "atom", "id", "parent", "fullkey", "path", "json", "root",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl<'a> Lint<'a> {
    pub(super) fn next_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// `d` pointed at a node's span.
    pub(super) fn located(&self, d: Diagnostic, span: sqlparser::tokenizer::Span) -> Diagnostic {
        let start = Location::from_line_column(self.sql, span.start.line, span.start.column);
        let end = Location::from_line_column(self.sql, span.end.line, span.end.column);
        match (start, end) {
            (Some(a), Some(b)) if b.offset > a.offset => d.at(a, b.offset - a.offset),
            (Some(a), _) => d.at(a, 1),
            _ => d,
        }
    }

    /// The source text of a node (for messages).
    pub(super) fn text_of(&self, span: sqlparser::tokenizer::Span) -> Option<&'a str> {
        let a = Location::from_line_column(self.sql, span.start.line, span.start.column)?;
        let b = Location::from_line_column(self.sql, span.end.line, span.end.column)?;
        self.sql.get(a.offset..b.offset)
    }

    /// A relation named in a FROM list, an UPDATE or a DELETE: a CTE in scope, a table or view.
    pub(super) fn named_rel(&mut self, name: &ObjectName, alias: Option<&str>) -> Rel {
        let table = object_name(name);
        let id = self.next_id();
        let qualifier = alias.unwrap_or(&table).to_string();
        let single = name.0.len() == 1;
        if single {
            if let Some((_, cols)) = self
                .ctes
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(&table))
            {
                return Rel {
                    joined: false,
                    id,
                    qualifier,
                    columns: cols.clone(),
                    tenant: None,
                };
            }
        }
        match self.schema.table(&table) {
            Some(t) => Rel {
                joined: false,
                id,
                qualifier,
                columns: Some(t.columns.iter().map(|c| c.name.clone()).collect()),
                tenant: t.column(self.tenant).map(|_| (t.name.clone(), name.span())),
            },
            None => Rel {
                joined: false,
                id,
                qualifier,
                columns: None,
                tenant: None,
            },
        }
    }
}
