//! The tenant lint on reads: queries, set operations, SELECT bodies and their FROM lists.

use super::*;

impl<'a> Lint<'a> {
    /// A query's result column names (when known); every SELECT scope in it is checked.
    pub(super) fn query(
        &mut self,
        q: &Query,
        parent: Option<&Relations<'_>>,
    ) -> Option<Vec<String>> {
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
                let scope = Relations::new(parent);
                for o in order_by {
                    self.walk(&o.expr, &scope);
                }
                cols
            }
        };
        if let Some(limit) = &q.limit_clause {
            let scope = Relations::new(parent);
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

    pub(super) fn set_expr(
        &mut self,
        body: &SetExpr,
        parent: Option<&Relations<'_>>,
    ) -> Option<Vec<String>> {
        match body {
            SetExpr::Select(s) => self.select(s, parent, &[]),
            SetExpr::Query(q) => self.query(q, parent),
            SetExpr::SetOperation { left, right, .. } => {
                let cols = self.set_expr(left, parent);
                self.set_expr(right, parent);
                cols
            }
            SetExpr::Values(values) => {
                let scope = Relations::new(parent);
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
    pub(super) fn select(
        &mut self,
        s: &Select,
        parent: Option<&Relations<'_>>,
        order_by: &[OrderByExpr],
    ) -> Option<Vec<String>> {
        self.selects += 1;
        let mut scope = Relations::new(parent);
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
    pub(super) fn from<'t>(
        &mut self,
        items: &'t [TableWithJoins],
        scope: &mut Relations<'_>,
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
    pub(super) fn factor<'t>(
        &mut self,
        f: &'t TableFactor,
        scope: &mut Relations<'_>,
        facts: &mut Facts<'t>,
    ) {
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
}
