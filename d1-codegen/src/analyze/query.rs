//! SELECT: FROM and joins, WHERE narrowing, GROUP BY, projections, CTEs, compound queries and subqueries.

use super::expr::Hint;
use super::functions::is_aggregate_call;
use super::{OutColumn, ResultNames, Rowid, Scope, Source, SourceColumn, Walker};
use crate::diagnostic::{closest, Diagnostic};
use crate::overrides::parse_override;
use crate::sqlast::{args, last_ident, object_name, strip_nested};
use crate::types::{SqlType, Ty};
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, GroupByExpr, JoinConstraint, JoinOperator, LimitClause,
    ObjectName, OrderByKind, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    Spanned, TableFactor, TableWithJoins,
};

/// Whether an expression contains an aggregate call at this query level.
pub(crate) fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            is_aggregate_call(f) || (f.over.is_none() && args(f).into_iter().any(has_aggregate))
        }
        Expr::Nested(x)
        | Expr::UnaryOp { expr: x, .. }
        | Expr::Cast { expr: x, .. }
        | Expr::Collate { expr: x, .. } => has_aggregate(x),
        Expr::IsNull(x) | Expr::IsNotNull(x) | Expr::IsTrue(x) | Expr::IsFalse(x) => {
            has_aggregate(x)
        }
        Expr::BinaryOp { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        Expr::Like { expr, pattern, .. } => has_aggregate(expr) || has_aggregate(pattern),
        Expr::Between {
            expr, low, high, ..
        } => has_aggregate(expr) || has_aggregate(low) || has_aggregate(high),
        Expr::In { expr, target, .. } => {
            has_aggregate(expr)
                || matches!(target, sqlparser::ast::InTarget::List(items) if items.iter().any(has_aggregate))
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(has_aggregate)
                || conditions
                    .iter()
                    .any(|c| has_aggregate(&c.condition) || has_aggregate(&c.result))
                || else_result.as_deref().is_some_and(has_aggregate)
        }
        _ => false,
    }
}

fn select_item_expr(item: &SelectItem) -> Option<&Expr> {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

impl<'a> Walker<'a> {
    /// The result columns of a query (with its CTEs, ORDER BY and LIMIT).
    pub(crate) fn query(&mut self, q: &Query, parent: Option<&Scope<'_>>) -> Vec<OutColumn> {
        let ctes_before = self.ctes.len();
        let saved_names = std::mem::replace(&mut self.result_names, ResultNames::Free);
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let cols = self.cte(cte, with.recursive, parent);
                self.ctes.push((cte.alias.name.value.clone(), cols));
            }
        }
        self.result_names = saved_names;
        let order_by = q.order_by.as_ref().and_then(|o| match &o.kind {
            OrderByKind::Expressions(v) => Some(v.as_slice()),
            OrderByKind::All(_) => None,
        });
        let cols = match &*q.body {
            SetExpr::Select(s) => self.select(s, parent, order_by.unwrap_or(&[])),
            body => {
                let cols = self.set_expr(body, parent);
                if let Some(obs) = order_by {
                    // ORDER BY of a compound query names its result columns.
                    let mut scope = Scope::new(parent);
                    scope.aliases = cols
                        .iter()
                        .map(|c| (c.name.clone(), c.ty.clone()))
                        .collect();
                    for o in obs {
                        self.expr(&o.expr, &scope);
                    }
                }
                cols
            }
        };
        if let Some(limit) = &q.limit_clause {
            let scope = Scope::new(parent);
            let exprs: Vec<&Expr> = match limit {
                LimitClause::LimitOffset { limit, offset, .. } => limit
                    .iter()
                    .chain(offset.as_ref().map(|o| &o.value))
                    .collect(),
                LimitClause::OffsetCommaLimit { offset, limit } => vec![offset, limit],
            };
            for e in exprs {
                self.hint(e, Hint::Is(SqlType::Integer));
                self.expr(e, &scope);
            }
        }
        self.ctes.truncate(ctes_before);
        cols
    }

    /// A CTE's columns; a recursive one is typed from its non-recursive arm, nullable if any arm is.
    fn cte(
        &mut self,
        cte: &sqlparser::ast::Cte,
        recursive: bool,
        parent: Option<&Scope<'_>>,
    ) -> Vec<SourceColumn> {
        let name = &cte.alias.name.value;
        let rename = |cols: Vec<OutColumn>| -> Vec<SourceColumn> {
            cols.into_iter()
                .enumerate()
                .map(|(i, c)| SourceColumn {
                    name: cte
                        .alias
                        .columns
                        .get(i)
                        .map_or(c.name, |a| a.name.value.clone()),
                    ty: c.ty,
                    hidden: false,
                    origin: c.origin,
                })
                .collect()
        };
        if recursive {
            if let SetExpr::SetOperation { left, right, .. } = &*cte.query.body {
                let seed = rename(self.set_expr(left, parent));
                self.ctes.push((name.clone(), seed.clone()));
                let rec = self.set_expr(right, parent);
                self.ctes.pop();
                let mut cols = seed;
                for (c, r) in cols.iter_mut().zip(rec) {
                    c.ty.nullable |= r.ty.nullable;
                }
                return cols;
            }
        }
        rename(self.query(&cte.query, parent))
    }

    /// The columns of a SELECT, VALUES or compound query body.
    pub(crate) fn set_expr(
        &mut self,
        body: &SetExpr,
        parent: Option<&Scope<'_>>,
    ) -> Vec<OutColumn> {
        match body {
            SetExpr::Select(s) => self.select(s, parent, &[]),
            SetExpr::Query(q) => self.query(q, parent),
            SetExpr::SetOperation { left, right, .. } => {
                let mut cols = self.set_expr(left, parent);
                let saved_names = std::mem::replace(&mut self.result_names, ResultNames::Free);
                let rhs = self.set_expr(right, parent);
                self.result_names = saved_names;
                for (c, r) in cols.iter_mut().zip(rhs) {
                    // An `AS "n: T"` override in the first arm names the type of the column.
                    let ty = match &c.ty.ty {
                        SqlType::Custom(_) => c.ty.ty.clone(),
                        t => t.common(&r.ty.ty),
                    };
                    c.ty = Ty {
                        ty,
                        nullable: c.ty.nullable || r.ty.nullable,
                    };
                    if c.origin != r.origin {
                        c.origin = None;
                    }
                }
                cols
            }
            SetExpr::Values(values) => {
                let scope = Scope::new(parent);
                let mut cols: Vec<OutColumn> = Vec::new();
                for row in &values.rows {
                    for (i, e) in row.content.iter().enumerate() {
                        let t = self.expr(e, &scope);
                        match cols.get_mut(i) {
                            Some(c) => {
                                c.ty = Ty {
                                    ty: c.ty.ty.common(&t.ty),
                                    nullable: c.ty.nullable || t.nullable,
                                }
                            }
                            None => cols.push(OutColumn {
                                name: format!("column{}", i + 1),
                                ty: t,
                                origin: None,
                            }),
                        }
                    }
                }
                cols
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) => self.statement(s).1,
            _ => Vec::new(),
        }
    }

    /// Adds the relations of a FROM clause (and their joins) to `scope`.
    pub(crate) fn from(&mut self, from: &[TableWithJoins], scope: &mut Scope<'_>) {
        for twj in from {
            match self.factor(&twj.relation, scope) {
                Some(s) => scope.sources.push(s),
                None => scope.incomplete = true,
            }
            for join in &twj.joins {
                let Some(mut s) = self.factor(&join.relation, scope) else {
                    scope.incomplete = true;
                    continue;
                };
                let (constraint, left_optional, right_optional, inner) = match &join.join_operator {
                    JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => {
                        (Some(c), false, true, false)
                    }
                    JoinOperator::Right(c) | JoinOperator::RightOuter(c) => {
                        (Some(c), true, false, false)
                    }
                    JoinOperator::FullOuter(c) => (Some(c), true, true, false),
                    JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) => {
                        (Some(c), false, false, true)
                    }
                    _ => (None, false, false, true),
                };
                if left_optional {
                    for prev in &mut scope.sources {
                        prev.outer_nullable = true;
                    }
                }
                s.outer_nullable |= right_optional;
                let using: Vec<String> = match constraint {
                    Some(JoinConstraint::Using(names)) => names
                        .iter()
                        .filter_map(|n| last_ident(&n.0).map(|i| i.value.clone()))
                        .collect(),
                    Some(JoinConstraint::Natural) => s
                        .columns
                        .iter()
                        .filter(|c| {
                            !c.hidden
                                && scope.sources.iter().any(|p| {
                                    p.columns
                                        .iter()
                                        .any(|pc| pc.name.eq_ignore_ascii_case(&c.name))
                                })
                        })
                        .map(|c| c.name.clone())
                        .collect(),
                    _ => Vec::new(),
                };
                for name in &using {
                    let Some(right_i) = s
                        .columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(name))
                    else {
                        continue;
                    };
                    let left = scope.sources.iter().find_map(|p| {
                        p.columns
                            .iter()
                            .enumerate()
                            .position(|(i, c)| {
                                c.name.eq_ignore_ascii_case(name) && !p.merged.contains(&i)
                            })
                            .map(|i| (p.id, i))
                    });
                    s.merged.insert(right_i);
                    if inner {
                        scope.narrowed.insert((s.id, right_i));
                        if let Some(key) = left {
                            scope.narrowed.insert(key);
                        }
                    }
                }
                scope.sources.push(s);
                if let Some(JoinConstraint::On(on)) = constraint {
                    self.expr(on, scope);
                    if inner {
                        self.narrow(on, scope);
                    }
                }
            }
        }
    }

    /// One FROM item as a relation. A table-valued function's arguments see the items to its
    /// left (`FROM notes n, json_each(n.tags)`); a subquery sees only enclosing queries.
    fn factor(&mut self, f: &TableFactor, left: &Scope<'_>) -> Option<Source> {
        let outer = left.parent;
        match f {
            TableFactor::Table {
                name,
                alias,
                args: Some(targs),
                ..
            } => {
                let fname = object_name(name).to_ascii_lowercase();
                let alias_name = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| object_name(name));
                let scope = left;
                let exprs: Vec<&Expr> = targs
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                        _ => None,
                    })
                    .collect();
                if matches!(fname.as_str(), "json_each" | "json_tree") {
                    if let Some(first) = exprs.first() {
                        self.hint(first, Hint::Is(SqlType::Text));
                    }
                    for (i, e) in exprs.iter().enumerate() {
                        if i == 1 {
                            self.hint(e, Hint::Is(SqlType::Text));
                        }
                        self.expr(e, scope);
                    }
                    return Some(self.json_table(alias_name));
                }
                for e in exprs {
                    self.expr(e, scope);
                }
                self.unknown_table(name);
                None
            }
            TableFactor::Table { name, alias, .. } => {
                let table = object_name(name);
                let alias_name = alias.as_ref().map(|a| a.name.value.clone());
                match self.table_source(&table, alias_name.as_deref()) {
                    Some(mut s) => {
                        if let Some(a) = alias {
                            for (c, new) in s.columns.iter_mut().zip(&a.columns) {
                                c.name = new.name.value.clone();
                            }
                        }
                        Some(s)
                    }
                    None => {
                        self.unknown_table(name);
                        None
                    }
                }
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let cols = self.subquery_columns(subquery, &Scope::new(outer));
                let id = self.next_id();
                let name = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_default();
                Some(Source {
                    id,
                    name,
                    columns: cols
                        .into_iter()
                        .enumerate()
                        .map(|(i, c)| SourceColumn {
                            name: alias
                                .as_ref()
                                .and_then(|a| a.columns.get(i))
                                .map_or(c.name, |n| n.name.value.clone()),
                            ty: c.ty,
                            hidden: false,
                            origin: c.origin,
                        })
                        .collect(),
                    outer_nullable: false,
                    rowid: None,
                    merged: Default::default(),
                })
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut inner = Scope::new(outer);
                self.from(std::slice::from_ref(&**table_with_joins), &mut inner);
                let id = self.next_id();
                let mut columns = Vec::new();
                for s in &inner.sources {
                    for (i, c) in s.columns.iter().enumerate() {
                        if s.merged.contains(&i) {
                            continue;
                        }
                        columns.push(SourceColumn {
                            ty: inner.column_ty(s, i, &inner),
                            ..c.clone()
                        });
                    }
                }
                Some(Source {
                    id,
                    name: alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or_default(),
                    columns,
                    outer_nullable: false,
                    rowid: None,
                    merged: Default::default(),
                })
            }
            TableFactor::Function {
                name,
                args: fargs,
                alias,
                ..
            } => {
                let fname = object_name(name).to_ascii_lowercase();
                for a in fargs {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = a {
                        self.expr(e, left);
                    }
                }
                if matches!(fname.as_str(), "json_each" | "json_tree") {
                    let alias = alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or(fname);
                    return Some(self.json_table(alias));
                }
                self.unknown_table(name);
                None
            }
            _ => None,
        }
    }

    /// Reports a relation that is neither a table, a view nor a CTE in scope.
    pub(crate) fn unknown_table(&mut self, name: &ObjectName) {
        let table = object_name(name);
        let mut d = Diagnostic::error(format!("no table `{table}`"));
        let names: Vec<&str> = self
            .schema
            .user_tables()
            .map(|t| t.name.as_str())
            .chain(self.ctes.iter().map(|(n, _)| n.as_str()))
            .collect();
        if let Some(s) = closest(&table, names) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.error_at(d, name.span());
    }

    /// The columns of `json_each(..)` / `json_tree(..)`.
    fn json_table(&mut self, name: String) -> Source {
        use SqlType::*;
        let col = |n: &str, ty: Ty, hidden: bool| SourceColumn {
            name: n.to_string(),
            ty,
            hidden,
            origin: None,
        };
        Source {
            id: self.next_id(),
            name,
            columns: vec![
                col("key", Ty::unknown(), false),
                col("value", Ty::unknown(), false),
                col("type", Ty::non_null(Text), false),
                col("atom", Ty::unknown(), false),
                col("id", Ty::non_null(Integer), false),
                col("parent", Ty::nullable(Integer), false),
                col("fullkey", Ty::non_null(Text), false),
                col("path", Ty::non_null(Text), false),
                col("json", Ty::nullable(Text), true),
                col("root", Ty::nullable(Text), true),
            ],
            outer_nullable: false,
            rowid: Some(Rowid::Plain),
            merged: Default::default(),
        }
    }

    /// The result columns of a subquery seen from `scope` (correlated references allowed).
    pub(crate) fn subquery_columns(&mut self, q: &Query, scope: &Scope<'_>) -> Vec<OutColumn> {
        let saved_names = std::mem::replace(&mut self.result_names, ResultNames::Free);
        let cols = self.query(q, Some(scope));
        self.result_names = saved_names;
        cols
    }

    /// A scalar subquery: nullable unless its column is non-null and it always yields one row.
    pub(crate) fn scalar_subquery(&mut self, q: &Query, scope: &Scope<'_>) -> Ty {
        let cols = self.subquery_columns(q, scope);
        let Some(first) = cols.into_iter().next() else {
            return Ty::unknown();
        };
        let exactly_one_row = q.limit_clause.is_none()
            && match &*q.body {
                SetExpr::Select(s) => {
                    matches!(&s.group_by, GroupByExpr::Expressions(v, _) if v.is_empty())
                        && s.having.is_none()
                        && s.projection
                            .iter()
                            .filter_map(select_item_expr)
                            .any(has_aggregate)
                }
                _ => false,
            };
        first
            .ty
            .clone()
            .with_nullable(first.ty.nullable || !exactly_one_row)
    }

    /// One SELECT: FROM, WHERE (narrowing), GROUP BY, projection, HAVING, ORDER BY.
    fn select(
        &mut self,
        s: &Select,
        parent: Option<&Scope<'_>>,
        order_by: &[sqlparser::ast::OrderByExpr],
    ) -> Vec<OutColumn> {
        let mut scope = Scope::new(parent);
        let saved_names = std::mem::replace(&mut self.result_names, ResultNames::Free);
        self.from(&s.from, &mut scope);
        if let Some(w) = &s.selection {
            self.expr(w, &scope);
            self.narrow(w, &mut scope);
        }
        let group_by: &[Expr] = match &s.group_by {
            GroupByExpr::Expressions(v, _) => v,
            GroupByExpr::All(_) => &[],
        };
        scope.grouped = !group_by.is_empty();
        scope.ungrouped_aggregate = !scope.grouped
            && s.projection
                .iter()
                .filter_map(select_item_expr)
                .any(has_aggregate);
        self.result_names = saved_names;

        let mut cols = Vec::new();
        let mut spans = Vec::new();
        for item in &s.projection {
            self.select_item(item, &scope, &mut cols, &mut spans);
        }
        if self.result_names == ResultNames::Checked {
            self.check_result_names(&cols, &spans);
        }
        let saved_names = std::mem::replace(&mut self.result_names, ResultNames::Free);
        scope.aliases = cols
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        for e in group_by {
            self.expr(e, &scope);
        }
        if let Some(h) = &s.having {
            self.expr(h, &scope);
        }
        for w in &s.named_window {
            if let sqlparser::ast::NamedWindowExpr::WindowSpec(spec) = &w.1 {
                for e in spec
                    .partition_by
                    .iter()
                    .chain(spec.order_by.iter().map(|o| &o.expr))
                {
                    self.expr(e, &scope);
                }
            }
        }
        for o in order_by {
            // `ORDER BY 2` names a result column, not a value.
            if !matches!(&o.expr, Expr::Value(v) if matches!(v.value, sqlparser::ast::Value::Number(..)))
            {
                self.expr(&o.expr, &scope);
            }
        }
        self.result_names = saved_names;
        cols
    }

    /// Types one projection item (expanding `*` and `t.*`), checking names at the top level.
    pub(crate) fn select_item(
        &mut self,
        item: &SelectItem,
        scope: &Scope<'_>,
        cols: &mut Vec<OutColumn>,
        spans: &mut Vec<sqlparser::tokenizer::Span>,
    ) {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let ty = self.expr(e, scope);
                let (name, origin) = match strip_nested(e) {
                    Expr::Identifier(c) => self.ref_name(scope, None, &c.value),
                    Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                        let n = parts.len();
                        self.ref_name(scope, Some(&parts[n - 2].value), &parts[n - 1].value)
                    }
                    _ => {
                        let at = self.location(e.span()).map_or(0, |l| l.offset);
                        let (start, end) = self.item_range(at);
                        let text = self.sql[start..end].to_string();
                        if self.result_names == ResultNames::Checked {
                            self.policy.push(
                                Diagnostic::error(format!("result column `{text}` needs a name"))
                                    .with_help(format!(
                                        "add `AS name`: `{text} AS ...` (D1 returns rows as objects keyed by column name)"
                                    ))
                                    .at_offset(self.sql, start, end - start),
                            );
                        }
                        (text, None)
                    }
                };
                cols.push(OutColumn { name, ty, origin });
                spans.push(e.span());
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let mut ty = self.expr(expr, scope);
                let over = parse_override(&alias.value);
                let name = over.name;
                if let Some(n) = over.nullable {
                    ty.nullable = n;
                }
                if let Some(t) = over.ty {
                    ty.ty = SqlType::Custom(t);
                }
                let origin = match strip_nested(expr) {
                    Expr::Identifier(c) => self.ref_name(scope, None, &c.value).1,
                    Expr::CompoundIdentifier(p) if p.len() >= 2 => {
                        let n = p.len();
                        self.ref_name(scope, Some(&p[n - 2].value), &p[n - 1].value)
                            .1
                    }
                    _ => None,
                };
                cols.push(OutColumn { name, ty, origin });
                spans.push(expr.span());
            }
            SelectItem::Wildcard(_) => {
                if scope.sources.is_empty() {
                    self.error_at(Diagnostic::error("`*` with no FROM clause"), item.span());
                }
                for s in &scope.sources {
                    Self::expand(scope, s, true, cols, spans, item.span());
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let name = match kind {
                    SelectItemQualifiedWildcardKind::ObjectName(n) => object_name(n),
                    SelectItemQualifiedWildcardKind::Expr(e) => {
                        self.source_text(e).unwrap_or("").to_string()
                    }
                };
                match scope
                    .sources
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(&name))
                {
                    Some(s) => Self::expand(scope, s, false, cols, spans, item.span()),
                    None => self.error_at(
                        Diagnostic::error(format!(
                            "no table `{name}` in this query, for `{name}.*`"
                        )),
                        item.span(),
                    ),
                }
            }
            SelectItem::ExprWithAliases { expr, .. } => {
                self.expr(expr, scope);
            }
        }
    }

    /// The columns `*` (`skip_merged`: the merged side of USING/NATURAL left out) or `t.*`
    /// (every visible column of `t`) expands to.
    fn expand(
        scope: &Scope<'_>,
        s: &Source,
        skip_merged: bool,
        cols: &mut Vec<OutColumn>,
        spans: &mut Vec<sqlparser::tokenizer::Span>,
        span: sqlparser::tokenizer::Span,
    ) {
        for (i, c) in s.columns.iter().enumerate() {
            if c.hidden || (skip_merged && s.merged.contains(&i)) {
                continue;
            }
            cols.push(OutColumn {
                name: c.name.clone(),
                ty: scope.column_ty(s, i, scope),
                origin: c.origin.clone(),
            });
            spans.push(span);
        }
    }

    /// The name SQLite gives an unaliased column reference: the column's declared name.
    fn ref_name(
        &self,
        scope: &Scope<'_>,
        table: Option<&str>,
        column: &str,
    ) -> (String, Option<(String, String)>) {
        match scope.resolve(table, column) {
            Ok(r) => (r.name, r.origin),
            Err(_) => (column.to_string(), None),
        }
    }
}
