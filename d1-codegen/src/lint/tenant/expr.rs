//! The tenant lint inside expressions: subqueries, `IN (SELECT ..)`, `EXISTS`, function
//! arguments, each checked in its own scope.

use super::*;

impl<'a> Lint<'a> {
    /// Looks into an expression for subqueries (and `x IN table`), each checked with `scope` as
    /// its enclosing query.
    pub(super) fn walk(&mut self, e: &Expr, scope: &Relations<'_>) {
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
                            let mut inner = Relations::new(Some(scope));
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

    pub(super) fn function(&mut self, f: &Function, scope: &Relations<'_>) {
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
}
