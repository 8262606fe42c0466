//! The tenant lint on writes: INSERT (the tenant column set from a parameter), UPDATE and
//! DELETE (their target constrained like a read).

use super::*;

impl<'a> Lint<'a> {
    pub(super) fn insert(&mut self, ins: &Insert) {
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
        let mut scope = Relations::new(None);
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
    pub(super) fn inserted_values(&mut self, table: &str, position: usize, body: &SetExpr) {
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

    pub(super) fn returning_item(&mut self, item: &SelectItem, scope: &Relations<'_>) {
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

    pub(super) fn update(&mut self, up: &Update) {
        let mut scope = Relations::new(None);
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

    pub(super) fn delete(&mut self, del: &Delete) {
        let tables = match &del.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        let mut scope = Relations::new(None);
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
