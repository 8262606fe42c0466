//! INSERT (VALUES, SELECT, DEFAULT VALUES, upserts), UPDATE (incl. FROM) and DELETE, with RETURNING.

use super::expr::Hint;
use super::{OutColumn, ResultNames, Scope, Source, Walker};
use crate::schema::Hidden;
use crate::sqlast::object_name;
use crate::types::Ty;
use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, Insert, OnConflictAction, OnInsert,
    SelectItem, SetExpr, Spanned, TableFactor, TableObject, Update, UpdateTableFromKind,
};

impl<'a> Walker<'a> {
    /// The relation a DML statement writes to, reported when unknown.
    fn target(&mut self, name: &sqlparser::ast::ObjectName, alias: Option<&str>) -> Option<Source> {
        let found = self.table_source(&object_name(name), alias);
        if found.is_none() {
            self.unknown_table(name);
        }
        found
    }

    /// A parameter assigned to column `i` of `target`: the column's type, `None` allowed when the
    /// column is nullable (or is the INTEGER PRIMARY KEY of an INSERT: SQLite then picks the rowid).
    fn assign_hint(&mut self, e: &Expr, target: &Source, i: usize, insert: bool) {
        let col = &target.columns[i];
        let rowid_alias = insert
            && col
                .origin
                .as_ref()
                .and_then(|(t, c)| self.schema.table(t).and_then(|t| t.column(c)))
                .is_some_and(|c| c.rowid_alias);
        let ty = col.ty.clone();
        self.hint(e, Hint::Assign(&ty, ty.nullable || rowid_alias));
    }

    fn returning(&mut self, items: &[SelectItem], scope: &Scope<'_>) -> Vec<OutColumn> {
        let mut cols = Vec::new();
        let mut spans = Vec::new();
        for item in items {
            self.select_item(item, scope, &mut cols, &mut spans);
        }
        if self.result_names == ResultNames::Checked {
            self.check_result_names(&cols, &spans);
        }
        cols
    }

    fn column_index(
        &mut self,
        target: &Source,
        name: &sqlparser::ast::ObjectName,
    ) -> Option<usize> {
        let col = object_name(name);
        let i = target
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(&col));
        if i.is_none() {
            let mut d = crate::diagnostic::Diagnostic::error(format!(
                "no column `{col}` in `{}`",
                target.name
            ));
            if let Some(s) =
                crate::diagnostic::closest(&col, target.columns.iter().map(|c| c.name.as_str()))
            {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.error_at(d, name.span());
        }
        i
    }

    /// `SET a = x, (b, c) = (y, z)`: hints, and each assigned column's type from its expression.
    fn assignments(
        &mut self,
        list: &[Assignment],
        target: &Source,
        scope: &Scope<'_>,
    ) -> Vec<(usize, Ty)> {
        let mut out = Vec::new();
        for a in list {
            let (names, values): (Vec<_>, Vec<&Expr>) = match (&a.target, &a.value) {
                (AssignmentTarget::ColumnName(n), v) => (vec![n], vec![v]),
                (AssignmentTarget::Tuple(ns), Expr::Tuple(vs)) => {
                    (ns.iter().collect(), vs.iter().collect())
                }
                (AssignmentTarget::Tuple(ns), v) => {
                    self.expr(v, scope);
                    for n in ns {
                        self.column_index(target, n);
                    }
                    continue;
                }
            };
            for (n, v) in names.into_iter().zip(values) {
                match self.column_index(target, n) {
                    Some(i) => {
                        self.assign_hint(v, target, i, false);
                        let t = self.expr(v, scope);
                        out.push((i, t));
                    }
                    None => {
                        self.expr(v, scope);
                    }
                }
            }
        }
        out
    }

    pub(crate) fn insert(&mut self, ins: &Insert) -> Vec<OutColumn> {
        let TableObject::TableName(name) = &ins.table else {
            return Vec::new();
        };
        let alias = ins.table_alias.as_ref().map(|a| a.alias.value.clone());
        let Some(target) = self.target(name, alias.as_deref()) else {
            return Vec::new();
        };
        let scope = {
            let mut s = Scope::new(None);
            s.sources.push(target.clone());
            s
        };
        let columns: Vec<Option<usize>> = if ins.columns.is_empty() {
            let insertable = |i: &usize| {
                target.columns[*i]
                    .origin
                    .as_ref()
                    .and_then(|(t, c)| self.schema.table(t).and_then(|t| t.column(c)))
                    .is_none_or(|c| c.hidden == Hidden::No)
            };
            (0..target.columns.len())
                .filter(insertable)
                .map(Some)
                .collect()
        } else {
            ins.columns
                .iter()
                .map(|c| self.column_index(&target, c))
                .collect()
        };
        if let Some(source) = &ins.source {
            match &*source.body {
                SetExpr::Values(values) => {
                    for row in &values.rows {
                        for (e, col) in row.content.iter().zip(&columns) {
                            if let Some(i) = col {
                                self.assign_hint(e, &target, *i, true);
                            }
                        }
                    }
                }
                SetExpr::Select(sel) => {
                    for (item, col) in sel.projection.iter().zip(&columns) {
                        if let (
                            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. },
                            Some(i),
                        ) = (item, col)
                        {
                            self.assign_hint(e, &target, *i, true);
                        }
                    }
                }
                _ => {}
            }
            let saved_names = std::mem::replace(&mut self.result_names, ResultNames::Free);
            self.query(source, None);
            self.result_names = saved_names;
        }
        if let Some(OnInsert::OnConflict(oc)) = &ins.on {
            if let OnConflictAction::DoUpdate(du) = &oc.action {
                let mut up = Scope::new(None);
                up.sources.push(target.clone());
                let mut excluded = target.clone();
                excluded.id = self.next_id();
                excluded.name = "excluded".to_string();
                // Unqualified names in DO UPDATE are the target's; `excluded.` must be written.
                excluded.merged = (0..excluded.columns.len()).collect();
                up.sources.push(excluded);
                self.assignments(&du.assignments, &target, &up);
                if let Some(w) = &du.selection {
                    self.expr(w, &up);
                }
            }
        }
        match &ins.returning {
            Some(items) => self.returning(items, &scope),
            None => Vec::new(),
        }
    }

    pub(crate) fn update(&mut self, up: &Update) -> Vec<OutColumn> {
        let TableFactor::Table { name, alias, .. } = &up.table.relation else {
            return Vec::new();
        };
        let alias = alias.as_ref().map(|a| a.name.value.clone());
        let Some(target) = self.target(name, alias.as_deref()) else {
            return Vec::new();
        };
        let mut scope = Scope::new(None);
        scope.sources.push(target.clone());
        if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) = &up.from
        {
            self.from(f, &mut scope);
        }
        let assigned = self.assignments(&up.assignments, &target, &scope);
        if let Some(w) = &up.selection {
            self.expr(w, &scope);
            self.narrow(w, &mut scope);
        }
        for o in &up.order_by {
            self.expr(&o.expr, &scope);
        }
        if let Some(l) = &up.limit {
            self.hint(l, Hint::Is(crate::types::SqlType::Integer));
            self.expr(l, &scope);
        }
        let Some(items) = &up.returning else {
            return Vec::new();
        };
        // RETURNING sees the row as written: an assigned column has its declared type and the
        // nullability of what was assigned; WHERE narrows only the columns SET leaves alone.
        let mut ret = Scope::new(None);
        let mut row = target.clone();
        for (i, t) in &assigned {
            row.columns[*i].ty.nullable = t.nullable;
            scope.narrowed.remove(&(target.id, *i));
        }
        ret.narrowed = scope
            .narrowed
            .iter()
            .filter(|(id, _)| *id == target.id)
            .copied()
            .collect();
        row.outer_nullable = false;
        ret.sources.push(row);
        self.returning(items, &ret)
    }

    pub(crate) fn delete(&mut self, del: &Delete) -> Vec<OutColumn> {
        let tables = match &del.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        let mut scope = Scope::new(None);
        self.from(tables, &mut scope);
        if let Some(using) = &del.using {
            self.from(using, &mut scope);
        }
        if let Some(w) = &del.selection {
            self.expr(w, &scope);
            self.narrow(w, &mut scope);
        }
        for o in &del.order_by {
            self.expr(&o.expr, &scope);
        }
        if let Some(l) = &del.limit {
            self.hint(l, Hint::Is(crate::types::SqlType::Integer));
            self.expr(l, &scope);
        }
        match &del.returning {
            Some(items) => self.returning(items, &scope),
            None => Vec::new(),
        }
    }
}
