//! Tenant scoping: with a `tenant_column` configured (DESIGN.md §2), every query on a table that
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

use crate::analyze::functions::arg_expr;
use crate::analyze::strip_override;
use crate::diagnostic::{Diagnostic, Location};
use crate::lex;
use crate::schema::{Hidden, Schema};
use sqlparser::ast::{
    BinaryOperator, Delete, Expr, FromTable, Function, FunctionArgumentClause, FunctionArguments,
    GroupByExpr, InTarget, Insert, JoinConstraint, JoinOperator, NamedWindowExpr, ObjectName,
    ObjectNamePart, OnConflictAction, OnInsert, OrderByExpr, OrderByKind, Query, Select,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Spanned, Statement, TableFactor,
    TableObject, TableWithJoins, Update, UpdateTableFromKind, Value, WindowType,
};
use std::collections::HashSet;

/// How the opt-out is written, for messages.
pub const OPT_OUT: &str = "`sql!(#[cross_tenant] \"...\")` / `#[d1(cross_tenant, ..)]`";

/// The tenant-scoping diagnostics of one parsed statement (`sql` is the text it was parsed from,
/// for locations): an error for each relation whose tenant column is not bound to a parameter,
/// and for each INSERT that does not set it from one. Warnings say where the check could not
/// look (a d1kit bug). Empty for a statement that passes.
pub fn check(
    statement: &Statement,
    sql: &str,
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
    let tokens = lex::tokenize(sql);
    let written = tokens.iter().filter(|t| t.is_word(sql, "SELECT")).count();
    if checked && lint.selects < written {
        lint.out.push(Diagnostic::warning(format!(
            "d1kit could not check the tenant column `{tenant_column}` in {} of the {written} SELECTs of this statement (an expression it does not look into); this is a d1kit bug, please report it",
            written - lint.selects
        )));
    }
    lint.out
}

/// A column of a relation in one scope: `(relation id, lower-case column name)`.
type Node = (usize, String);

/// A relation in scope.
struct Rel {
    id: usize,
    /// What qualifies its columns: the alias, else the name as written.
    qualifier: String,
    /// Its column names; `None` when d1kit does not know them.
    columns: Option<Vec<String>>,
    /// A table or view with the tenant column: its name and where it is written.
    tenant: Option<(String, sqlparser::tokenizer::Span)>,
    /// Added by a JOIN (so it has an ON clause to constrain it in).
    joined: bool,
}

/// The relations of one SELECT (or UPDATE / DELETE) and which of their columns are bound.
struct Scope<'p> {
    rels: Vec<Rel>,
    parent: Option<&'p Scope<'p>>,
    bound: HashSet<Node>,
}

impl<'p> Scope<'p> {
    fn new(parent: Option<&'p Scope<'p>>) -> Scope<'p> {
        Scope {
            rels: Vec::new(),
            parent,
            bound: HashSet::new(),
        }
    }

    fn owns(&self, id: usize) -> bool {
        self.rels.iter().any(|r| r.id == id)
    }

    /// Whether `node` is bound here, or in the enclosing query it belongs to.
    fn is_bound(&self, node: &Node) -> bool {
        if self.owns(node.0) {
            self.bound.contains(node)
        } else {
            self.parent.is_some_and(|p| p.is_bound(node))
        }
    }

    /// The column a reference names, innermost query first; `None` when it cannot be told.
    fn resolve(&self, table: Option<&str>, column: &str) -> Option<Node> {
        let lower = column.to_ascii_lowercase();
        match table {
            Some(t) => match self
                .rels
                .iter()
                .find(|r| r.qualifier.eq_ignore_ascii_case(t))
            {
                Some(r) => Some((r.id, lower)),
                None => self.parent?.resolve(table, column),
            },
            None => {
                let has = |r: &&Rel| {
                    r.columns
                        .as_ref()
                        .is_some_and(|c| c.iter().any(|n| n.eq_ignore_ascii_case(column)))
                };
                if let Some(r) = self.rels.iter().find(has) {
                    return Some((r.id, lower));
                }
                // It may be a column of a relation whose columns are unknown.
                if self.rels.iter().any(|r| r.columns.is_none()) {
                    return None;
                }
                self.parent?.resolve(None, column)
            }
        }
    }
}

/// Which relations a condition can bind: all of them (WHERE, inner ON), or only the optional
/// side of an outer join (its ON filters that side's rows, not the other's).
#[derive(Clone, PartialEq)]
enum Binds {
    All,
    Only(Vec<usize>),
}

/// What the conditions of one scope say, before they are resolved.
#[derive(Default)]
struct Facts<'t> {
    conditions: Vec<(&'t Expr, Binds)>,
    /// `USING` / NATURAL equalities: `(left, right, binds)`.
    equal: Vec<(Node, Node, Binds)>,
    /// Expressions to look into for subqueries once the scope is complete.
    deferred: Vec<&'t Expr>,
}

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

/// `e` without enclosing parentheses.
fn strip_nested(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => strip_nested(inner),
        e => e,
    }
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

/// The top-level AND-terms of a condition.
fn and_terms<'t>(e: &'t Expr, out: &mut Vec<&'t Expr>) {
    match strip_nested(e) {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            and_terms(left, out);
            and_terms(right, out);
        }
        e => out.push(e),
    }
}

/// `main.notes` → `notes`.
fn object_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => i.value.clone(),
        Some(ObjectNamePart::Function(f)) => f.name.value.clone(),
        None => String::new(),
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
    fn next_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// `d` pointed at a node's span.
    fn located(&self, d: Diagnostic, span: sqlparser::tokenizer::Span) -> Diagnostic {
        let start = Location::from_line_column(self.sql, span.start.line, span.start.column);
        let end = Location::from_line_column(self.sql, span.end.line, span.end.column);
        match (start, end) {
            (Some(a), Some(b)) if b.offset > a.offset => d.at(a, b.offset - a.offset),
            (Some(a), _) => d.at(a, 1),
            _ => d,
        }
    }

    /// The source text of a node (for messages).
    fn text_of(&self, span: sqlparser::tokenizer::Span) -> Option<&'a str> {
        let a = Location::from_line_column(self.sql, span.start.line, span.start.column)?;
        let b = Location::from_line_column(self.sql, span.end.line, span.end.column)?;
        self.sql.get(a.offset..b.offset)
    }

    /// A relation named in a FROM list, an UPDATE or a DELETE: a CTE in scope, a table or view.
    fn named_rel(&mut self, name: &ObjectName, alias: Option<&str>) -> Rel {
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

    /// A query's result column names (when known); every SELECT scope in it is checked.
    fn query(&mut self, q: &Query, parent: Option<&Scope<'_>>) -> Option<Vec<String>> {
        let ctes_before = self.ctes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let alias_cols: Vec<String> = cte
                    .alias
                    .columns
                    .iter()
                    .map(|c| c.name.value.clone())
                    .collect();
                let declared = (!alias_cols.is_empty()).then(|| alias_cols.clone());
                if with.recursive {
                    // The recursive arm reads the CTE itself: a relation without the tenant column.
                    self.ctes
                        .push((cte.alias.name.value.clone(), declared.clone()));
                }
                let cols = self.query(&cte.query, parent);
                if with.recursive {
                    self.ctes.pop();
                }
                self.ctes
                    .push((cte.alias.name.value.clone(), declared.or(cols)));
            }
        }
        let order_by: &[OrderByExpr] = match q.order_by.as_ref().map(|o| &o.kind) {
            Some(OrderByKind::Expressions(v)) => v,
            _ => &[],
        };
        let cols = match &*q.body {
            SetExpr::Select(s) => self.select(s, parent, order_by),
            body => {
                let cols = self.set_expr(body, parent);
                let scope = Scope::new(parent);
                for o in order_by {
                    self.walk(&o.expr, &scope);
                }
                cols
            }
        };
        if let Some(limit) = &q.limit_clause {
            let scope = Scope::new(parent);
            match limit {
                sqlparser::ast::LimitClause::LimitOffset { limit, offset, .. } => {
                    for e in limit.iter().chain(offset.as_ref().map(|o| &o.value)) {
                        self.walk(e, &scope);
                    }
                }
                sqlparser::ast::LimitClause::OffsetCommaLimit { offset, limit } => {
                    self.walk(offset, &scope);
                    self.walk(limit, &scope);
                }
            }
        }
        self.ctes.truncate(ctes_before);
        cols
    }

    fn set_expr(&mut self, body: &SetExpr, parent: Option<&Scope<'_>>) -> Option<Vec<String>> {
        match body {
            SetExpr::Select(s) => self.select(s, parent, &[]),
            SetExpr::Query(q) => self.query(q, parent),
            SetExpr::SetOperation { left, right, .. } => {
                let cols = self.set_expr(left, parent);
                self.set_expr(right, parent);
                cols
            }
            SetExpr::Values(values) => {
                let scope = Scope::new(parent);
                for row in &values.rows {
                    for e in &row.content {
                        self.walk(e, &scope);
                    }
                }
                let width = values.rows.first().map_or(0, |r| r.content.len());
                Some((1..=width).map(|i| format!("column{i}")).collect())
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                match s {
                    Statement::Insert(i) => self.insert(i),
                    Statement::Update(u) => self.update(u),
                    Statement::Delete(d) => self.delete(d),
                    _ => {}
                }
                None
            }
            SetExpr::Table(_) => None,
        }
    }

    /// One SELECT: its FROM relations checked against its WHERE and inner-join ONs, then every
    /// subquery it holds, with this scope as their enclosing one.
    fn select(
        &mut self,
        s: &Select,
        parent: Option<&Scope<'_>>,
        order_by: &[OrderByExpr],
    ) -> Option<Vec<String>> {
        self.selects += 1;
        let mut scope = Scope::new(parent);
        let mut facts = Facts::default();
        self.from(&s.from, &mut scope, &mut facts);
        if let Some(w) = &s.selection {
            facts.conditions.push((w, Binds::All));
        }
        self.settle(&mut scope, &facts);
        self.report(&scope, s.selection.is_some(), false);

        for e in facts.deferred.iter().copied().chain(s.selection.as_ref()) {
            self.walk(e, &scope);
        }
        let mut names = Some(Vec::new());
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    self.walk(e, &scope);
                    let name = column_ref(e).map_or_else(String::new, |(_, c)| c.to_string());
                    if let Some(n) = names.as_mut() {
                        n.push(name);
                    }
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    self.walk(expr, &scope);
                    if let Some(n) = names.as_mut() {
                        n.push(strip_override(&alias.value));
                    }
                }
                SelectItem::ExprWithAliases { expr, aliases } => {
                    self.walk(expr, &scope);
                    if let Some(n) = names.as_mut() {
                        n.extend(aliases.iter().map(|a| a.value.clone()));
                    }
                }
                SelectItem::Wildcard(_) => {
                    let all: Option<Vec<String>> = scope
                        .rels
                        .iter()
                        .map(|r| r.columns.clone())
                        .collect::<Option<Vec<_>>>()
                        .map(|v| v.concat());
                    names = names.zip(all).map(|(mut n, a)| {
                        n.extend(a);
                        n
                    });
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let cols = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(o) => {
                            let q = object_name(o);
                            scope
                                .rels
                                .iter()
                                .find(|r| r.qualifier.eq_ignore_ascii_case(&q))
                                .and_then(|r| r.columns.clone())
                        }
                        SelectItemQualifiedWildcardKind::Expr(e) => {
                            self.walk(e, &scope);
                            None
                        }
                    };
                    names = names.zip(cols).map(|(mut n, a)| {
                        n.extend(a);
                        n
                    });
                }
            }
        }
        if let GroupByExpr::Expressions(v, _) = &s.group_by {
            for e in v {
                self.walk(e, &scope);
            }
        }
        if let Some(h) = &s.having {
            self.walk(h, &scope);
        }
        if let Some(q) = &s.qualify {
            self.walk(q, &scope);
        }
        for w in &s.named_window {
            if let NamedWindowExpr::WindowSpec(spec) = &w.1 {
                for e in spec
                    .partition_by
                    .iter()
                    .chain(spec.order_by.iter().map(|o| &o.expr))
                {
                    self.walk(e, &scope);
                }
            }
        }
        for o in order_by {
            self.walk(&o.expr, &scope);
        }
        names
    }

    /// Adds a FROM list's relations to `scope`, and its join conditions to `facts`.
    fn from<'t>(
        &mut self,
        items: &'t [TableWithJoins],
        scope: &mut Scope<'_>,
        facts: &mut Facts<'t>,
    ) {
        for twj in items {
            self.factor(&twj.relation, scope, facts);
            for join in &twj.joins {
                let before: Vec<usize> = scope.rels.iter().map(|r| r.id).collect();
                self.factor(&join.relation, scope, facts);
                let added: Vec<usize> = scope
                    .rels
                    .iter()
                    .map(|r| r.id)
                    .filter(|id| !before.contains(id))
                    .collect();
                use JoinOperator::*;
                let (constraint, binds) = match &join.join_operator {
                    Join(c) | Inner(c) | CrossJoin(c) | StraightJoin(c) => {
                        (Some(c), Some(Binds::All))
                    }
                    Left(c) | LeftOuter(c) => (Some(c), Some(Binds::Only(added.clone()))),
                    Right(c) | RightOuter(c) => (Some(c), Some(Binds::Only(before.clone()))),
                    FullOuter(c) => (Some(c), None),
                    Semi(c) | LeftSemi(c) | RightSemi(c) | Anti(c) | LeftAnti(c) | RightAnti(c) => {
                        (Some(c), None)
                    }
                    AsOf { constraint, .. } => (Some(constraint), None),
                    CrossApply | OuterApply | ArrayJoin | LeftArrayJoin | InnerArrayJoin => {
                        (None, None)
                    }
                };
                let using: Vec<String> = match constraint {
                    Some(JoinConstraint::Using(names)) => names.iter().map(object_name).collect(),
                    Some(JoinConstraint::Natural) => {
                        let right: Vec<String> = scope
                            .rels
                            .iter()
                            .filter(|r| added.contains(&r.id))
                            .filter_map(|r| r.columns.clone())
                            .flatten()
                            .collect();
                        right
                            .into_iter()
                            .filter(|c| {
                                scope
                                    .rels
                                    .iter()
                                    .filter(|r| before.contains(&r.id))
                                    .any(|r| {
                                        r.columns.as_ref().is_some_and(|cs| {
                                            cs.iter().any(|x| x.eq_ignore_ascii_case(c))
                                        })
                                    })
                            })
                            .collect()
                    }
                    _ => Vec::new(),
                };
                for c in &using {
                    let with_col = |id: &usize| {
                        scope.rels.iter().find(|r| r.id == *id).is_some_and(|r| {
                            r.columns
                                .as_ref()
                                .is_some_and(|cs| cs.iter().any(|x| x.eq_ignore_ascii_case(c)))
                        })
                    };
                    let left = before.iter().find(|id| with_col(id));
                    let right = added.iter().find(|id| with_col(id));
                    if let (Some(l), Some(r), Some(b)) = (left, right, &binds) {
                        let lower = c.to_ascii_lowercase();
                        facts
                            .equal
                            .push(((*l, lower.clone()), (*r, lower), b.clone()));
                    }
                }
                // Whether a term added to this join's ON can bind the joined relation.
                let on_binds_added = match &binds {
                    Some(Binds::All) => true,
                    Some(Binds::Only(side)) => *side == added,
                    None => false,
                };
                if matches!(constraint, Some(JoinConstraint::On(_))) && on_binds_added {
                    for r in scope.rels.iter_mut().filter(|r| added.contains(&r.id)) {
                        r.joined = true;
                    }
                }
                if let Some(JoinConstraint::On(on)) = constraint {
                    facts.deferred.push(on);
                    if let Some(b) = binds {
                        facts.conditions.push((on, b));
                    }
                }
            }
        }
    }

    /// One FROM item.
    fn factor<'t>(&mut self, f: &'t TableFactor, scope: &mut Scope<'_>, facts: &mut Facts<'t>) {
        let parent = scope.parent;
        let alias_of =
            |a: &Option<sqlparser::ast::TableAlias>| a.as_ref().map(|a| a.name.value.clone());
        let rel = match f {
            TableFactor::Table {
                name,
                alias,
                args: Some(targs),
                ..
            } => {
                for a in &targs.args {
                    if let Some(e) = arg_expr(a) {
                        facts.deferred.push(e);
                    }
                }
                let fname = object_name(name);
                let json = ["json_each", "json_tree"]
                    .iter()
                    .any(|j| j.eq_ignore_ascii_case(&fname));
                Rel {
                    joined: false,
                    id: self.next_id(),
                    qualifier: alias_of(alias).unwrap_or(fname),
                    columns: json.then(json_table_columns),
                    tenant: None,
                }
            }
            TableFactor::Table { name, alias, .. } => {
                let alias = alias_of(alias);
                self.named_rel(name, alias.as_deref())
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                for a in args {
                    if let Some(e) = arg_expr(a) {
                        facts.deferred.push(e);
                    }
                }
                let fname = object_name(name);
                let json = ["json_each", "json_tree"]
                    .iter()
                    .any(|j| j.eq_ignore_ascii_case(&fname));
                Rel {
                    joined: false,
                    id: self.next_id(),
                    qualifier: alias_of(alias).unwrap_or(fname),
                    columns: json.then(json_table_columns),
                    tenant: None,
                }
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut cols = self.query(subquery, parent);
                if let Some(a) = alias {
                    if !a.columns.is_empty() {
                        cols = Some(a.columns.iter().map(|c| c.name.value.clone()).collect());
                    }
                }
                Rel {
                    joined: false,
                    id: self.next_id(),
                    qualifier: alias_of(alias).unwrap_or_default(),
                    columns: cols,
                    tenant: None,
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.from(std::slice::from_ref(&**table_with_joins), scope, facts);
                return;
            }
            TableFactor::TableFunction { expr, alias } => {
                facts.deferred.push(expr);
                Rel {
                    joined: false,
                    id: self.next_id(),
                    qualifier: alias_of(alias).unwrap_or_default(),
                    columns: None,
                    tenant: None,
                }
            }
            // Not SQLite syntax.
            _ => Rel {
                joined: false,
                id: self.next_id(),
                qualifier: String::new(),
                columns: None,
                tenant: None,
            },
        };
        scope.rels.push(rel);
    }

    /// Resolves the conditions and equalities of a scope and computes which columns are bound.
    fn settle(&self, scope: &mut Scope<'_>, facts: &Facts<'_>) {
        let mut seeds: Vec<Node> = Vec::new();
        let mut edges: Vec<(Node, Node)> = Vec::new();
        let add = |a: Node, b: Node, binds: &Binds, edges: &mut Vec<(Node, Node)>| match binds {
            Binds::All => {
                edges.push((a.clone(), b.clone()));
                edges.push((b, a));
            }
            Binds::Only(side) => match (side.contains(&a.0), side.contains(&b.0)) {
                (true, true) => {
                    edges.push((a.clone(), b.clone()));
                    edges.push((b, a));
                }
                (false, true) => edges.push((a, b)),
                (true, false) => edges.push((b, a)),
                (false, false) => {}
            },
        };
        for (cond, binds) in &facts.conditions {
            let mut terms = Vec::new();
            and_terms(cond, &mut terms);
            for term in terms {
                let Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } = term
                else {
                    continue;
                };
                let l = column_ref(left).and_then(|(t, c)| scope.resolve(t, c));
                let r = column_ref(right).and_then(|(t, c)| scope.resolve(t, c));
                let seed = match (l, r) {
                    (Some(n), None) if is_param(right) => n,
                    (None, Some(n)) if is_param(left) => n,
                    (Some(a), Some(b)) => {
                        add(a, b, binds, &mut edges);
                        continue;
                    }
                    _ => continue,
                };
                if let Binds::Only(side) = binds {
                    if !side.contains(&seed.0) {
                        continue;
                    }
                }
                seeds.push(seed);
            }
        }
        for (a, b, binds) in &facts.equal {
            add(a.clone(), b.clone(), binds, &mut edges);
        }
        let mut bound: HashSet<Node> = seeds.into_iter().filter(|n| scope.owns(n.0)).collect();
        loop {
            let mut changed = false;
            for (a, b) in &edges {
                if !scope.owns(b.0) || bound.contains(b) {
                    continue;
                }
                let a_bound = if scope.owns(a.0) {
                    bound.contains(a)
                } else {
                    scope.parent.is_some_and(|p| p.is_bound(a))
                };
                if a_bound {
                    bound.insert(b.clone());
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        scope.bound = bound;
    }

    /// An error for each relation of `scope` whose tenant column is not bound. `whole_table`:
    /// the relation is read whole (`x IN notes`), so there is no clause to add a term to.
    fn report(&mut self, scope: &Scope<'_>, has_where: bool, whole_table: bool) {
        let column = self.tenant.to_ascii_lowercase();
        let col = shown(self.tenant);
        for r in &scope.rels {
            let Some((table, span)) = &r.tenant else {
                continue;
            };
            if scope.bound.contains(&(r.id, column.clone())) {
                continue;
            }
            let q = shown(&r.qualifier);
            // A relation of this query or an enclosing one whose tenant column is bound: joining
            // on it is usually what was meant.
            let peer = std::iter::successors(Some(scope), |s| s.parent)
                .flat_map(|s| s.rels.iter().map(move |p| (s, p)))
                .find(|(s, p)| {
                    p.tenant.is_some() && p.id != r.id && s.is_bound(&(p.id, column.clone()))
                });
            let term = match peer {
                Some((_, p)) => format!("{q}.{col} = {}.{col}", shown(&p.qualifier)),
                None => format!("{q}.{col} = ?"),
            };
            let same_scope = peer.is_some_and(|(s, _)| std::ptr::eq(s, scope));
            let fix = if whole_table {
                format!("read it through a subquery: `IN (SELECT .. FROM {q} WHERE {q}.{col} = ?)`")
            } else if r.joined && same_scope {
                format!("add `AND {term}` to its JOIN's ON")
            } else if has_where && scope.parent.is_some() {
                format!("add `AND {term}` to the subquery's WHERE clause")
            } else if has_where {
                format!("add `AND {term}` to the WHERE clause")
            } else if scope.parent.is_some() {
                format!("add `WHERE {term}` to the subquery")
            } else {
                format!("add `WHERE {term}`")
            };
            let d = Diagnostic::error(format!(
                "query on `{table}` does not constrain the tenant column `{}`",
                self.tenant
            ))
            .with_help(format!(
                "{fix}. Only `=` with a parameter (or with a column constrained so) counts, as a top-level AND-term of WHERE or of an inner JOIN's ON; not `IN`, `OR` or a literal. If the query is meant to cross tenants, opt out with {OPT_OUT}"
            ));
            let d = self.located(d, *span);
            self.out.push(d);
        }
    }

    /// Looks into an expression for subqueries (and `x IN table`), each checked with `scope` as
    /// its enclosing query.
    fn walk(&mut self, e: &Expr, scope: &Scope<'_>) {
        match e {
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => {
                self.query(subquery, Some(scope));
            }
            Expr::In { expr, target, .. } => {
                self.walk(expr, scope);
                match target {
                    InTarget::List(items) => {
                        for x in items {
                            self.walk(x, scope);
                        }
                    }
                    InTarget::Subquery(q) => {
                        self.query(q, Some(scope));
                    }
                    InTarget::Unnest(x) => self.walk(x, scope),
                    InTarget::Table { name, args } => {
                        // `x IN notes` reads every row of `notes`: `IN (SELECT * FROM notes)`.
                        for a in args.iter().flatten() {
                            if let Some(x) = arg_expr(a) {
                                self.walk(x, scope);
                            }
                        }
                        if args.is_none() {
                            let mut inner = Scope::new(Some(scope));
                            let rel = self.named_rel(name, None);
                            inner.rels.push(rel);
                            self.report(&inner, false, true);
                        }
                    }
                }
            }
            Expr::Function(f) => self.function(f, scope),
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_)
            | Expr::TypedString(_)
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..)
            | Expr::MatchAgainst { .. }
            | Expr::Interval(_)
            | Expr::Lambda(_)
            | Expr::Dictionary(_)
            | Expr::Map(_)
            | Expr::Array(_)
            | Expr::Struct { .. }
            | Expr::CompoundFieldAccess { .. }
            | Expr::JsonAccess { .. }
            | Expr::MemberOf(_) => {
                if let Expr::CompoundFieldAccess { root, .. }
                | Expr::JsonAccess { value: root, .. } = e
                {
                    self.walk(root, scope);
                }
            }
            Expr::IsFalse(x)
            | Expr::IsNotFalse(x)
            | Expr::IsTrue(x)
            | Expr::IsNotTrue(x)
            | Expr::IsNull(x)
            | Expr::IsNotNull(x)
            | Expr::IsUnknown(x)
            | Expr::IsNotUnknown(x)
            | Expr::Nested(x)
            | Expr::OuterJoin(x)
            | Expr::Prior(x)
            | Expr::UnaryOp { expr: x, .. }
            | Expr::Cast { expr: x, .. }
            | Expr::Convert { expr: x, .. }
            | Expr::Extract { expr: x, .. }
            | Expr::Ceil { expr: x, .. }
            | Expr::Floor { expr: x, .. }
            | Expr::Collate { expr: x, .. }
            | Expr::Prefixed { value: x, .. }
            | Expr::Named { expr: x, .. }
            | Expr::IsJson { expr: x, .. }
            | Expr::IsNormalized { expr: x, .. } => self.walk(x, scope),
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::BinaryOp {
                left: a, right: b, ..
            }
            | Expr::AnyOp {
                left: a, right: b, ..
            }
            | Expr::AllOp {
                left: a, right: b, ..
            }
            | Expr::AtTimeZone {
                timestamp: a,
                time_zone: b,
            }
            | Expr::Position { expr: a, r#in: b }
            | Expr::RLike {
                expr: a,
                pattern: b,
                ..
            } => {
                self.walk(a, scope);
                self.walk(b, scope);
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.walk(expr, scope);
                self.walk(pattern, scope);
                if let Some(x) = escape_char {
                    self.walk(x, scope);
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.walk(expr, scope);
                self.walk(low, scope);
                self.walk(high, scope);
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.walk(expr, scope);
                for x in substring_from.iter().chain(substring_for) {
                    self.walk(x, scope);
                }
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.walk(expr, scope);
                if let Some(x) = trim_what {
                    self.walk(x, scope);
                }
                for x in trim_characters.iter().flatten() {
                    self.walk(x, scope);
                }
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.walk(expr, scope);
                self.walk(overlay_what, scope);
                self.walk(overlay_from, scope);
                if let Some(x) = overlay_for {
                    self.walk(x, scope);
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(x) = operand {
                    self.walk(x, scope);
                }
                for c in conditions {
                    self.walk(&c.condition, scope);
                    self.walk(&c.result, scope);
                }
                if let Some(x) = else_result {
                    self.walk(x, scope);
                }
            }
            Expr::Tuple(items) => {
                for x in items {
                    self.walk(x, scope);
                }
            }
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                for x in sets.iter().flatten() {
                    self.walk(x, scope);
                }
            }
        }
    }

    fn function(&mut self, f: &Function, scope: &Scope<'_>) {
        for args in [&f.parameters, &f.args] {
            match args {
                FunctionArguments::None => {}
                FunctionArguments::Subquery(q) => {
                    self.query(q, Some(scope));
                }
                FunctionArguments::List(list) => {
                    for a in &list.args {
                        if let Some(x) = arg_expr(a) {
                            self.walk(x, scope);
                        }
                    }
                    for c in &list.clauses {
                        match c {
                            FunctionArgumentClause::OrderBy(obs) => {
                                for o in obs {
                                    self.walk(&o.expr, scope);
                                }
                            }
                            FunctionArgumentClause::Where(x) | FunctionArgumentClause::Limit(x) => {
                                self.walk(x, scope)
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(x) = &f.filter {
            self.walk(x, scope);
        }
        for o in &f.within_group {
            self.walk(&o.expr, scope);
        }
        if let Some(WindowType::WindowSpec(spec)) = &f.over {
            for x in spec
                .partition_by
                .iter()
                .chain(spec.order_by.iter().map(|o| &o.expr))
            {
                self.walk(x, scope);
            }
        }
    }

    fn insert(&mut self, ins: &Insert) {
        let TableObject::TableName(name) = &ins.table else {
            return;
        };
        let alias = ins.table_alias.as_ref().map(|a| a.alias.value.clone());
        let target = self.named_rel(name, alias.as_deref());
        let table_name = object_name(name);
        // Where the tenant column is among the inserted values.
        let position = target.tenant.as_ref().map(|_| {
            if ins.columns.is_empty() {
                self.schema.table(&table_name).and_then(|t| {
                    t.columns
                        .iter()
                        .filter(|c| c.hidden == Hidden::No)
                        .position(|c| c.name.eq_ignore_ascii_case(self.tenant))
                })
            } else {
                ins.columns
                    .iter()
                    .position(|c| object_name(c).eq_ignore_ascii_case(self.tenant))
            }
        });
        let table = target.tenant.as_ref().map(|(t, _)| t.clone());
        match (&table, position.flatten(), &ins.source) {
            (Some(t), None, _) | (Some(t), _, None) => {
                let d = Diagnostic::error(format!(
                    "INSERT into `{t}` does not set the tenant column `{}`",
                    self.tenant
                ))
                .with_help(format!(
                    "add `{col}` to the column list with a parameter as its value: `INSERT INTO {t} ({col}, ..) VALUES (?, ..)`. If the query is meant to cross tenants, opt out with {OPT_OUT}",
                    col = shown(self.tenant),
                    t = shown(t),
                ));
                let d = self.located(d, name.span());
                self.out.push(d);
            }
            (Some(t), Some(p), Some(source)) => self.inserted_values(t, p, &source.body),
            _ => {}
        }
        if let Some(source) = &ins.source {
            self.query(source, None);
        }
        let mut scope = Scope::new(None);
        scope.rels.push(Rel {
            tenant: None,
            ..target
        });
        if let Some(OnInsert::OnConflict(oc)) = &ins.on {
            if let OnConflictAction::DoUpdate(du) = &oc.action {
                scope.rels.push(Rel {
                    joined: false,
                    id: self.next_id(),
                    qualifier: "excluded".into(),
                    columns: scope.rels[0].columns.clone(),
                    tenant: None,
                });
                for a in &du.assignments {
                    self.walk(&a.value, &scope);
                }
                if let Some(w) = &du.selection {
                    self.walk(w, &scope);
                }
                scope.rels.pop();
            }
        }
        for item in ins.returning.iter().flatten() {
            self.returning_item(item, &scope);
        }
    }

    /// Each value an INSERT gives the tenant column (at `position`) must be a parameter (or, from
    /// a SELECT, a column of that name, itself checked as a read).
    fn inserted_values(&mut self, table: &str, position: usize, body: &SetExpr) {
        let mut values: Vec<&Expr> = Vec::new();
        match body {
            SetExpr::Values(v) => {
                for row in &v.rows {
                    if let Some(e) = row.content.get(position) {
                        if !is_param(e) {
                            values.push(e);
                        }
                    }
                }
            }
            SetExpr::Select(s) => {
                let before = &s.projection[..s.projection.len().min(position + 1)];
                let wildcard = before.iter().any(|i| {
                    matches!(
                        i,
                        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                    )
                });
                if !wildcard {
                    if let Some(
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. },
                    ) = s.projection.get(position)
                    {
                        let named_column =
                            column_ref(e).is_some_and(|(_, c)| c.eq_ignore_ascii_case(self.tenant));
                        if !is_param(e) && !named_column {
                            values.push(e);
                        }
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.inserted_values(table, position, left);
                self.inserted_values(table, position, right);
            }
            SetExpr::Query(q) => self.inserted_values(table, position, &q.body),
            _ => {}
        }
        for e in values {
            let text = self.text_of(e.span()).unwrap_or("this value");
            let d = Diagnostic::error(format!(
                "INSERT into `{table}` sets the tenant column `{}` to `{text}`, not to a parameter",
                self.tenant
            ))
            .with_help(format!(
                "bind the tenant's key: write `?` (or `:{}`) here and pass the key as an argument. If the query is meant to cross tenants, opt out with {OPT_OUT}",
                self.tenant
            ));
            let d = self.located(d, e.span());
            self.out.push(d);
        }
    }

    fn returning_item(&mut self, item: &SelectItem, scope: &Scope<'_>) {
        match item {
            SelectItem::UnnamedExpr(e)
            | SelectItem::ExprWithAlias { expr: e, .. }
            | SelectItem::ExprWithAliases { expr: e, .. } => self.walk(e, scope),
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(e), _) => {
                self.walk(e, scope)
            }
            _ => {}
        }
    }

    fn update(&mut self, up: &Update) {
        let mut scope = Scope::new(None);
        let mut facts = Facts::default();
        match &up.table.relation {
            TableFactor::Table { name, alias, .. } => {
                let alias = alias.as_ref().map(|a| a.name.value.clone());
                let rel = self.named_rel(name, alias.as_deref());
                scope.rels.push(rel);
            }
            other => self.factor(other, &mut scope, &mut facts),
        }
        if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) = &up.from
        {
            self.from(f, &mut scope, &mut facts);
        }
        if let Some(w) = &up.selection {
            facts.conditions.push((w, Binds::All));
        }
        self.settle(&mut scope, &facts);
        self.report(&scope, up.selection.is_some(), false);
        for e in facts.deferred.iter().copied().chain(up.selection.as_ref()) {
            self.walk(e, &scope);
        }
        for a in &up.assignments {
            self.walk(&a.value, &scope);
        }
        for o in &up.order_by {
            self.walk(&o.expr, &scope);
        }
        if let Some(l) = &up.limit {
            self.walk(l, &scope);
        }
        for item in up.returning.iter().flatten() {
            self.returning_item(item, &scope);
        }
    }

    fn delete(&mut self, del: &Delete) {
        let tables = match &del.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        let mut scope = Scope::new(None);
        let mut facts = Facts::default();
        self.from(tables, &mut scope, &mut facts);
        if let Some(using) = &del.using {
            self.from(using, &mut scope, &mut facts);
        }
        if let Some(w) = &del.selection {
            facts.conditions.push((w, Binds::All));
        }
        self.settle(&mut scope, &facts);
        self.report(&scope, del.selection.is_some(), false);
        for e in facts.deferred.iter().copied().chain(del.selection.as_ref()) {
            self.walk(e, &scope);
        }
        for o in &del.order_by {
            self.walk(&o.expr, &scope);
        }
        if let Some(l) = &del.limit {
            self.walk(l, &scope);
        }
        for item in del.returning.iter().flatten() {
            self.returning_item(item, &scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::migrations::{Migration, MigrationSet};
    use crate::{Analyzer, Checks};

    const SCHEMA: &str = r#"
CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  parent_id INTEGER REFERENCES notes(id),
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT ''
);
-- the tenant column declared in another case, quoted
CREATE TABLE tags (
  "User_Id" TEXT NOT NULL,
  note_id INTEGER NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY ("User_Id", note_id, tag)
) WITHOUT ROWID;
CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE "audit log" (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, what TEXT NOT NULL);
CREATE TABLE counters (
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  n INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, name)
);
CREATE VIEW note_titles AS SELECT id, user_id, title FROM notes;
CREATE VIEW all_titles AS SELECT title FROM notes;
CREATE VIEW note_owners AS SELECT user_id FROM notes;
"#;

    fn analyzer() -> Analyzer {
        let set = MigrationSet::from_migrations(vec![Migration::new("0001_init.sql", SCHEMA)]);
        Analyzer::from_migrations(&set).unwrap()
    }

    /// `Ok` when accepted; else, per error, the message and its line:column.
    fn run(a: &Analyzer, sql: &str) -> Result<Vec<String>, Vec<(String, u32, u32)>> {
        let checks = Checks {
            tenant_column: Some("user_id"),
            ..Checks::default()
        };
        match a.analyze_with(sql, checks) {
            Ok(sig) => Ok(sig.warnings.into_iter().map(|w| w.message).collect()),
            Err(d) => Err(d
                .0
                .into_iter()
                .map(|d| {
                    let l = d.span.location.unwrap_or_default();
                    (d.message, l.line, l.column)
                })
                .collect()),
        }
    }

    /// Accepted.
    const OK: &[(&str, u32)] = &[];

    /// `(sql, errors)`: each error as `(table, column)` of its caret on line 1 (the message
    /// names the table), none for an accepted query.
    const CASES: &[(&str, &[(&str, u32)])] = &[
        // --- one table: what counts as a constraint
        ("SELECT id, title FROM notes WHERE user_id = ?", OK),
        ("SELECT id FROM notes WHERE ?1 = user_id AND id = ?2", OK),
        ("SELECT id FROM notes WHERE notes.user_id == :uid", OK),
        ("SELECT id FROM notes WHERE (user_id = (@uid) AND id > 0)", OK),
        ("SELECT id FROM notes WHERE id > 0 AND (title <> '' AND user_id = $uid)", OK),
        ("SELECT id FROM main.notes WHERE main.notes.user_id = ?", OK),
        ("SELECT COUNT(*) AS n FROM notes WHERE user_id = ?", OK),
        ("SELECT id, title FROM notes", &[("notes", 23)]),
        ("SELECT id FROM notes WHERE user_id = 'alice'", &[("notes", 16)]),
        ("SELECT id FROM notes WHERE user_id = ? OR id = 1", &[("notes", 16)]),
        ("SELECT id FROM notes WHERE user_id IN (?, ?)", &[("notes", 16)]),
        ("SELECT id FROM notes WHERE user_id IS ?", &[("notes", 16)]),
        ("SELECT id FROM notes WHERE lower(user_id) = ?", &[("notes", 16)]),
        ("SELECT id FROM notes WHERE NOT user_id <> ?", &[("notes", 16)]),
        ("SELECT id FROM notes WHERE user_id = title", &[("notes", 16)]),
        // --- names: aliases, quoting, case
        ("SELECT n.id FROM notes AS n WHERE n.user_id = ?", OK),
        ("SELECT n.id FROM notes n WHERE N.USER_ID = ?", OK),
        ("SELECT tag FROM tags WHERE user_id = ?", OK),
        ("SELECT tag FROM tags WHERE \"USER_ID\" = ?", OK),
        ("SELECT tag FROM tags WHERE tag = ?", &[("tags", 17)]),
        ("SELECT what FROM \"audit log\" WHERE \"audit log\".user_id = ?", OK),
        ("SELECT what FROM \"audit log\"", &[("audit log", 18)]),
        // --- joins and equality propagation
        (
            "SELECT n.id, t.tag FROM notes n JOIN tags t ON t.note_id = n.id AND t.user_id = n.user_id WHERE n.user_id = ?",
            OK,
        ),
        (
            "SELECT n.id, t.tag FROM notes n JOIN tags t USING (user_id) WHERE n.user_id = ?",
            OK,
        ),
        (
            "SELECT n.id FROM notes n, tags t WHERE t.note_id = n.id AND t.user_id = n.user_id AND t.user_id = ?",
            OK,
        ),
        (
            "SELECT n.id FROM notes n JOIN users u ON u.id = n.user_id WHERE u.id = ?",
            OK,
        ),
        (
            "SELECT a.id FROM notes a JOIN notes b ON b.id = a.parent_id JOIN tags t ON t.user_id = b.user_id WHERE a.user_id = ? AND b.user_id = a.user_id",
            OK,
        ),
        (
            "SELECT n.id FROM notes n JOIN tags t ON t.note_id = n.id WHERE n.user_id = ?",
            &[("tags", 31)],
        ),
        (
            "SELECT n.id FROM notes n JOIN tags t ON t.note_id = n.id",
            &[("notes", 18), ("tags", 31)],
        ),
        (
            "SELECT n.id FROM notes n LEFT JOIN tags t ON t.note_id = n.id WHERE n.user_id = ?",
            &[("tags", 36)],
        ),
        (
            "SELECT n.id FROM notes n LEFT JOIN tags t ON t.note_id = n.id AND t.user_id = n.user_id WHERE n.user_id = ?",
            OK,
        ),
        // a LEFT JOIN's ON filters its right side only
        (
            "SELECT n.id FROM notes n LEFT JOIN tags t ON t.user_id = ? AND n.user_id = t.user_id",
            &[("notes", 18)],
        ),
        (
            "SELECT n.id FROM tags t RIGHT JOIN notes n ON t.note_id = n.id AND t.user_id = n.user_id WHERE n.user_id = ?",
            OK,
        ),
        (
            "SELECT n.id, j.value FROM notes n, json_each(n.body) j WHERE n.user_id = ?",
            OK,
        ),
        // --- subqueries: each SELECT separately, correlated ones see the outer query's
        (
            "SELECT id FROM notes WHERE user_id = ? AND id IN (SELECT note_id FROM tags WHERE user_id = ?)",
            OK,
        ),
        (
            "SELECT id FROM notes WHERE user_id = ? AND id IN (SELECT note_id FROM tags)",
            &[("tags", 71)],
        ),
        (
            "SELECT id FROM notes n WHERE n.user_id = ? AND EXISTS (SELECT 1 FROM tags t WHERE t.note_id = n.id AND t.user_id = n.user_id)",
            OK,
        ),
        (
            "SELECT id, (SELECT COUNT(*) FROM tags WHERE tags.note_id = notes.id) AS n FROM notes WHERE user_id = ?",
            &[("tags", 34)],
        ),
        (
            "SELECT x.id FROM (SELECT id FROM notes WHERE user_id = ?) AS x",
            OK,
        ),
        (
            "SELECT id FROM users WHERE id IN note_owners",
            &[("note_owners", 34)],
        ),
        (
            "SELECT id FROM notes WHERE user_id = ? UNION SELECT id FROM notes",
            &[("notes", 61)],
        ),
        // --- CTEs
        (
            "WITH mine AS (SELECT id, title FROM notes WHERE user_id = ?) SELECT id, title FROM mine",
            OK,
        ),
        (
            "WITH everyone AS (SELECT id FROM notes) SELECT id FROM everyone",
            &[("notes", 34)],
        ),
        (
            "WITH RECURSIVE tree(id) AS (SELECT id FROM notes WHERE user_id = ?1 AND id = ?2 UNION ALL SELECT n.id FROM notes n JOIN tree ON n.parent_id = tree.id AND n.user_id = ?1) SELECT id FROM tree",
            OK,
        ),
        (
            "WITH RECURSIVE tree(id) AS (SELECT id FROM notes WHERE user_id = ?1 AND id = ?2 UNION ALL SELECT n.id FROM notes n JOIN tree ON n.parent_id = tree.id) SELECT id FROM tree",
            &[("notes", 108)],
        ),
        // --- views and tables without the column
        ("SELECT title FROM note_titles WHERE user_id = ?", OK),
        ("SELECT title FROM note_titles", &[("note_titles", 19)]),
        ("SELECT title FROM all_titles", OK),
        ("SELECT id, name FROM plans", OK),
        ("SELECT id, email FROM users WHERE id = ?", OK),
        // --- UPDATE, UPDATE .. FROM, DELETE
        ("UPDATE notes SET title = ? WHERE id = ? AND user_id = ?", OK),
        ("UPDATE notes SET title = ? WHERE id = ?", &[("notes", 8)]),
        (
            "UPDATE notes SET title = t.tag FROM tags t WHERE t.note_id = notes.id AND notes.user_id = ?",
            &[("tags", 37)],
        ),
        (
            "UPDATE notes SET title = t.tag FROM tags t WHERE t.note_id = notes.id AND t.user_id = notes.user_id AND notes.user_id = ?",
            OK,
        ),
        (
            "UPDATE notes SET title = (SELECT name FROM plans WHERE id = ?) WHERE user_id = ? RETURNING id",
            OK,
        ),
        ("DELETE FROM notes WHERE user_id = ? AND id = ? RETURNING id", OK),
        ("DELETE FROM notes WHERE id = ?", &[("notes", 13)]),
        (
            "DELETE FROM notes WHERE user_id = ? AND id IN (SELECT note_id FROM tags WHERE tag = ?)",
            &[("tags", 68)],
        ),
        // --- INSERT
        ("INSERT INTO notes (user_id, title) VALUES (?, ?)", OK),
        ("INSERT INTO notes (title, user_id) VALUES (?2, ?1), ('b', ?1)", OK),
        ("INSERT INTO counters VALUES (?, ?, 0)", OK),
        ("INSERT INTO notes (title) VALUES (?)", &[("notes", 13)]),
        ("INSERT INTO notes (user_id, title) VALUES ('alice', ?)", &[("notes", 44)]),
        ("INSERT INTO counters VALUES ('bob', ?, 0)", &[("counters", 30)]),
        ("INSERT INTO plans (name) VALUES (?)", OK),
        (
            "INSERT INTO tags (user_id, note_id, tag) SELECT user_id, id, ? FROM notes WHERE user_id = ? AND id = ?",
            OK,
        ),
        (
            "INSERT INTO tags (user_id, note_id, tag) SELECT ?, id, 'x' FROM plans",
            OK,
        ),
        (
            "INSERT INTO tags (user_id, note_id, tag) SELECT user_id, id, 'x' FROM notes",
            &[("notes", 71)],
        ),
        (
            "INSERT INTO tags (user_id, note_id, tag) SELECT 'bob', id, 'x' FROM plans",
            &[("tags", 49)],
        ),
        (
            "INSERT INTO counters (user_id, name, n) VALUES (?, ?, 1) ON CONFLICT (user_id, name) DO UPDATE SET n = n + 1",
            OK,
        ),
        (
            "INSERT OR REPLACE INTO counters (user_id, name) VALUES (?, ?) RETURNING n",
            OK,
        ),
    ];

    #[test]
    fn tenant_cases() {
        let a = analyzer();
        let mut failures = Vec::new();
        for (sql, want) in CASES {
            let got = run(&a, sql);
            let ok = match (&got, want.is_empty()) {
                (Ok(warnings), true) => warnings.is_empty(),
                (Err(errors), false) => {
                    errors.len() == want.len()
                        && errors.iter().zip(want.iter()).all(|((m, l, c), (t, col))| {
                            m.contains(&format!("`{t}`")) && *l == 1 && c == col
                        })
                }
                _ => false,
            };
            if !ok {
                failures.push(format!("{sql}\n    want {want:?}\n    got  {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(CASES.len() >= 25);
    }

    #[test]
    fn messages_say_what_and_how() {
        let a = analyzer();
        let checks = Checks {
            tenant_column: Some("user_id"),
            ..Checks::default()
        };
        let err = a
            .analyze_with("SELECT n.id FROM notes n WHERE n.id = ?", checks)
            .unwrap_err();
        let d = &err.0[0];
        assert_eq!(
            d.message,
            "query on `notes` does not constrain the tenant column `user_id`"
        );
        let help = d.help.as_deref().unwrap();
        assert!(
            help.starts_with("add `AND n.user_id = ?` to the WHERE clause"),
            "{help}"
        );
        assert!(help.contains("#[cross_tenant]"), "{help}");
        let err = a
            .analyze_with("SELECT what FROM \"audit log\"", checks)
            .unwrap_err();
        assert!(err.0[0]
            .help
            .as_deref()
            .unwrap()
            .starts_with("add `WHERE \"audit log\".user_id = ?`"));
        let err = a
            .analyze_with(
                "SELECT n.id FROM notes n JOIN tags t ON t.note_id = n.id WHERE n.user_id = ?",
                checks,
            )
            .unwrap_err();
        let help = err.0[0].help.as_deref().unwrap();
        assert!(
            help.starts_with("add `AND t.user_id = n.user_id` to its JOIN's ON."),
            "{help}"
        );
        let err = a
            .analyze_with("SELECT id FROM users WHERE id IN note_owners", checks)
            .unwrap_err();
        let help = err.0[0].help.as_deref().unwrap();
        assert!(help.starts_with("read it through a subquery"), "{help}");
        let err = a
            .analyze_with("INSERT INTO notes (title) VALUES (?)", checks)
            .unwrap_err();
        assert_eq!(
            err.0[0].message,
            "INSERT into `notes` does not set the tenant column `user_id`"
        );
        let err = a
            .analyze_with(
                "INSERT INTO notes (user_id, title) VALUES ('al', ?)",
                checks,
            )
            .unwrap_err();
        assert_eq!(
            err.0[0].message,
            "INSERT into `notes` sets the tenant column `user_id` to `'al'`, not to a parameter"
        );
        assert_eq!(err.0[0].span.len, 4);
    }

    #[test]
    fn off_without_a_tenant_column_and_with_the_opt_out() {
        let a = analyzer();
        assert!(a.analyze("SELECT id FROM notes").is_ok());
        assert!(a
            .analyze_with("SELECT id FROM notes", Checks::default())
            .is_ok());
    }

    #[test]
    fn a_statement_sqlparser_cannot_read_is_a_warning_not_an_error() {
        let a = analyzer();
        // Postfix ISNULL: SQLite accepts it, sqlparser 0.64 does not.
        let warnings = run(&a, "SELECT id FROM notes WHERE title ISNULL").unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("tenant column `user_id` is not checked")),
            "{warnings:?}"
        );
    }

    #[test]
    fn errors_of_other_checks_come_with_it() {
        let a = analyzer();
        // d1kit's own rule (a result column needs a name) and the tenant lint, together.
        let errors = run(&a, "SELECT id + 1 FROM notes").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
