//! Expression typing (docs/TYPING.md), parameter types from their context, and WHERE/ON narrowing facts.

use super::{Scope, Unresolved, Walker};
use crate::diagnostic::{closest, Diagnostic};
use crate::sqlast::{and_terms, strip_nested};
use crate::types::{SqlType, Ty};
use sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Ident, InTarget, UnaryOperator, Value as Lit,
};

/// How a parameter is used, when that decides its type.
pub(crate) enum Hint<'t> {
    /// Compared with (or an arithmetic operand next to) an expression of this type: non-null.
    Like(&'t Ty),
    /// A fixed type: non-null.
    Is(SqlType),
    /// Assigned to a column: the column's type; `None` allowed when `nullable`.
    Assign(&'t Ty, bool),
}

fn is_comparison(op: &BinaryOperator) -> bool {
    use BinaryOperator::*;
    matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq)
}

/// Whether an expression is a literal (a date function's argument that cannot be bad input).
pub(crate) fn is_literal(e: &Expr) -> bool {
    match strip_nested(e) {
        Expr::Value(v) => !matches!(v.value, Lit::Placeholder(_)),
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => is_literal(expr),
        _ => false,
    }
}

impl<'a> Walker<'a> {
    /// The parameter number of `e` if it is a bare parameter (parentheses allowed).
    pub(crate) fn param_number(&self, e: &Expr) -> Option<u32> {
        match strip_nested(e) {
            Expr::Value(v) => match &v.value {
                Lit::Placeholder(_) => {
                    let loc = self.location(v.span)?;
                    self.params.number_at(loc.offset)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Gives a bare parameter its type from how it is used (the first typing context wins).
    pub(crate) fn hint(&mut self, e: &Expr, hint: Hint<'_>) {
        let Some(n) = self.param_number(e) else {
            return;
        };
        let ty = match hint {
            Hint::Like(t) => Ty::non_null(match &t.ty {
                SqlType::Null => SqlType::Value,
                ty => ty.clone(),
            }),
            Hint::Is(ty) => Ty::non_null(ty),
            Hint::Assign(t, nullable) => Ty {
                ty: t.ty.clone(),
                nullable,
            },
        };
        if let Some(slot) = self.param_types.get_mut(n as usize - 1) {
            if slot.is_none() {
                *slot = Some(ty);
            }
        }
    }

    fn is_untyped_param(&self, e: &Expr) -> bool {
        self.param_number(e).is_some_and(|n| {
            self.param_types
                .get(n as usize - 1)
                .is_some_and(Option::is_none)
        })
    }

    /// Types two operands that give each other context (`col = ?`, `? < x + 1`).
    pub(crate) fn pair(&mut self, a: &Expr, b: &Expr, scope: &Scope<'_>) -> (Ty, Ty) {
        if self.is_untyped_param(a) && !self.is_untyped_param(b) {
            let tb = self.expr(b, scope);
            self.hint(a, Hint::Like(&tb));
            (self.expr(a, scope), tb)
        } else {
            let ta = self.expr(a, scope);
            self.hint(b, Hint::Like(&ta));
            (ta, self.expr(b, scope))
        }
    }

    /// An operand next to a typed operand takes its type; a `Value` operand gives no context.
    fn arith_pair(&mut self, a: &Expr, b: &Expr, scope: &Scope<'_>) -> (Ty, Ty) {
        let typed = |t: &Ty| !matches!(t.ty, SqlType::Value | SqlType::Null);
        if self.is_untyped_param(a) {
            let tb = self.expr(b, scope);
            if typed(&tb) {
                self.hint(a, Hint::Like(&tb));
            }
            (self.expr(a, scope), tb)
        } else {
            let ta = self.expr(a, scope);
            if typed(&ta) {
                self.hint(b, Hint::Like(&ta));
            }
            (ta, self.expr(b, scope))
        }
    }

    /// The type of an expression.
    pub(crate) fn expr(&mut self, e: &Expr, scope: &Scope<'_>) -> Ty {
        use SqlType::*;
        match e {
            Expr::Nested(inner) => self.expr(inner, scope),
            Expr::Value(v) => match &v.value {
                Lit::Placeholder(_) => match self.param_number(e) {
                    Some(n) => self
                        .param_types
                        .get(n as usize - 1)
                        .cloned()
                        .flatten()
                        .unwrap_or_else(Ty::unknown),
                    None => Ty::unknown(),
                },
                Lit::Number(text, _) => Ty::non_null(number_type(text)),
                Lit::Null => Ty::nullable(Null),
                Lit::Boolean(_) => Ty::non_null(Bool),
                // sqlparser reads both `X'1F'` (a blob) and `0x1F` (an integer) as hex literals.
                Lit::HexStringLiteral(_) => {
                    let at = self.location(v.span).map_or(0, |l| l.offset);
                    if self.sql[at..].starts_with(['0']) {
                        Ty::non_null(Integer)
                    } else {
                        Ty::non_null(Blob)
                    }
                }
                _ => Ty::non_null(Text),
            },
            Expr::Identifier(ident) => self.column_ref(None, ident, scope),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] => self.column_ref(Some(t), c, scope),
                [_, t, c] => self.column_ref(Some(t), c, scope),
                _ => Ty::unknown(),
            },
            Expr::IsNull(x)
            | Expr::IsNotNull(x)
            | Expr::IsTrue(x)
            | Expr::IsFalse(x)
            | Expr::IsNotTrue(x)
            | Expr::IsNotFalse(x) => {
                self.expr(x, scope);
                Ty::non_null(Bool)
            }
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.pair(a, b, scope);
                Ty::non_null(Bool)
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, scope),
            Expr::UnaryOp { op, expr } => {
                let t = self.expr(expr, scope);
                match op {
                    UnaryOperator::Not => Ty {
                        ty: Bool,
                        nullable: t.nullable,
                    },
                    UnaryOperator::BitwiseNot => Ty {
                        ty: if t.ty == Integer { Integer } else { Value },
                        nullable: t.nullable,
                    },
                    _ => t,
                }
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
            } => self.like(expr, pattern, scope, escape_char.as_deref()),
            Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => self.like(expr, pattern, scope, escape_char.as_deref()),
            Expr::RLike { expr, pattern, .. } => self.like(expr, pattern, scope, None),
            Expr::Between {
                expr, low, high, ..
            } => {
                let (t, l) = self.pair(expr, low, scope);
                let (_, h) = self.pair(expr, high, scope);
                Ty::nullable(Bool).with_nullable(t.nullable || l.nullable || h.nullable)
            }
            Expr::In { expr, target, .. } => self.in_expr(expr, target, scope),
            Expr::Cast {
                expr, data_type, ..
            } => {
                let target = SqlType::from_declared(&data_type.to_string());
                self.hint(expr, Hint::Is(target.clone()));
                let t = self.expr(expr, scope);
                Ty {
                    ty: target,
                    nullable: t.nullable,
                }
            }
            Expr::Collate { expr, .. } => self.expr(expr, scope),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(
                operand.as_deref(),
                conditions,
                else_result.as_deref(),
                scope,
            ),
            Expr::Exists { subquery, .. } => {
                self.subquery_columns(subquery, scope);
                Ty::non_null(Bool)
            }
            Expr::Subquery(q) => self.scalar_subquery(q, scope),
            Expr::Function(f) => self.function(f, scope),
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                let mut nullable = self.expr(expr, scope).nullable;
                for x in trim_what
                    .iter()
                    .map(|b| &**b)
                    .chain(trim_characters.iter().flatten())
                {
                    nullable |= self.expr(x, scope).nullable;
                }
                Ty { ty: Text, nullable }
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut nullable = self.expr(expr, scope).nullable;
                for x in substring_from.iter().chain(substring_for.iter()) {
                    self.hint(x, Hint::Is(Integer));
                    nullable |= self.expr(x, scope).nullable;
                }
                Ty { ty: Text, nullable }
            }
            Expr::Tuple(items) => {
                for x in items {
                    self.expr(x, scope);
                }
                Ty::unknown()
            }
            other => {
                self.walk_unknown(other, scope);
                Ty::unknown()
            }
        }
    }

    /// Expressions d1kit does not type: still visit what they contain, so names are checked.
    fn walk_unknown(&mut self, e: &Expr, scope: &Scope<'_>) {
        match e {
            Expr::Ceil { expr, .. } | Expr::Floor { expr, .. } | Expr::Extract { expr, .. } => {
                self.expr(expr, scope);
            }
            Expr::Position { expr, r#in } => {
                self.expr(expr, scope);
                self.expr(r#in, scope);
            }
            Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => {
                self.expr(left, scope);
                self.expr(right, scope);
            }
            _ => {}
        }
    }

    fn like(
        &mut self,
        expr: &Expr,
        pattern: &Expr,
        scope: &Scope<'_>,
        escape: Option<&Expr>,
    ) -> Ty {
        self.hint(expr, Hint::Is(SqlType::Text));
        self.hint(pattern, Hint::Is(SqlType::Text));
        let a = self.expr(expr, scope);
        let b = self.expr(pattern, scope);
        let mut nullable = a.nullable || b.nullable;
        if let Some(esc) = escape {
            self.hint(esc, Hint::Is(SqlType::Text));
            nullable |= self.expr(esc, scope).nullable;
        }
        Ty {
            ty: SqlType::Bool,
            nullable,
        }
    }

    fn binary(&mut self, left: &Expr, op: &BinaryOperator, right: &Expr, scope: &Scope<'_>) -> Ty {
        use BinaryOperator::*;
        use SqlType::*;
        match op {
            Eq | NotEq | Lt | LtEq | Gt | GtEq | Spaceship => {
                let (a, b) = self.pair(left, right, scope);
                Ty {
                    ty: Bool,
                    nullable: a.nullable || b.nullable,
                }
            }
            Is | IsNot => {
                self.pair(left, right, scope);
                Ty::non_null(Bool)
            }
            And | Or | Xor => {
                let a = self.expr(left, scope);
                let b = self.expr(right, scope);
                Ty {
                    ty: Bool,
                    nullable: a.nullable || b.nullable,
                }
            }
            Glob | Match | Regexp => self.like(left, right, scope, None),
            Plus | Minus | Multiply | Divide | Modulo => {
                let (a, b) = self.arith_pair(left, right, scope);
                let ty = match (&a.ty, &b.ty) {
                    (Integer, Integer) => Integer,
                    (Real, _) | (_, Real) => Real,
                    _ => Value,
                };
                let always = matches!(op, Divide | Modulo);
                Ty {
                    ty,
                    nullable: always || a.nullable || b.nullable,
                }
            }
            StringConcat => {
                let a = self.expr(left, scope);
                let b = self.expr(right, scope);
                Ty {
                    ty: Text,
                    nullable: a.nullable || b.nullable,
                }
            }
            Arrow | LongArrow => {
                self.expr(left, scope);
                self.hint(right, Hint::Is(Text));
                self.expr(right, scope);
                Ty::unknown()
            }
            BitwiseAnd | BitwiseOr | BitwiseXor | PGBitwiseShiftLeft | PGBitwiseShiftRight => {
                let (a, b) = self.arith_pair(left, right, scope);
                Ty {
                    ty: if a.ty == Integer && b.ty == Integer {
                        Integer
                    } else {
                        Value
                    },
                    nullable: a.nullable || b.nullable,
                }
            }
            _ => {
                self.expr(left, scope);
                self.expr(right, scope);
                Ty::unknown()
            }
        }
    }

    fn in_expr(&mut self, expr: &Expr, target: &InTarget, scope: &Scope<'_>) -> Ty {
        let mut nullable;
        match target {
            InTarget::List(items) => {
                let mut t = if self.is_untyped_param(expr) {
                    None
                } else {
                    Some(self.expr(expr, scope))
                };
                nullable = t.as_ref().is_some_and(|t| t.nullable);
                for item in items {
                    match &t {
                        Some(tt) => {
                            let tt = tt.clone();
                            self.hint(item, Hint::Like(&tt));
                            nullable |= self.expr(item, scope).nullable;
                        }
                        None => {
                            let ti = self.expr(item, scope);
                            nullable |= ti.nullable;
                            if !self.is_untyped_param(item) {
                                self.hint(expr, Hint::Like(&ti));
                                t = Some(self.expr(expr, scope));
                            }
                        }
                    }
                }
                nullable |= self.expr(expr, scope).nullable;
            }
            InTarget::Subquery(q) => {
                let cols = self.subquery_columns(q, scope);
                if let Some(c) = cols.first() {
                    self.hint(expr, Hint::Like(&c.ty));
                }
                let t = self.expr(expr, scope);
                nullable = t.nullable || cols.first().is_some_and(|c| c.ty.nullable);
            }
            InTarget::Table { .. } | InTarget::Unnest(_) => {
                nullable = self.expr(expr, scope).nullable;
            }
        }
        Ty {
            ty: SqlType::Bool,
            nullable,
        }
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        conditions: &[CaseWhen],
        else_result: Option<&Expr>,
        scope: &Scope<'_>,
    ) -> Ty {
        for c in conditions {
            match operand {
                Some(op) => {
                    self.pair(op, &c.condition, scope);
                }
                None => {
                    self.expr(&c.condition, scope);
                }
            }
        }
        let mut results: Vec<&Expr> = conditions.iter().map(|c| &c.result).collect();
        results.extend(else_result);
        let mut out = self.common(&results, scope);
        if else_result.is_none() {
            out.nullable = true;
        }
        out
    }

    /// The common type of branches (CASE results, COALESCE arguments): nullable if any is.
    pub(crate) fn common(&mut self, branches: &[&Expr], scope: &Scope<'_>) -> Ty {
        let tys: Vec<Ty> = branches.iter().map(|b| self.expr(b, scope)).collect();
        let mut ty = SqlType::Null;
        for t in &tys {
            ty = ty.common(&t.ty);
        }
        Ty {
            ty,
            nullable: tys.iter().any(|t| t.nullable),
        }
    }

    fn column_ref(&mut self, table: Option<&Ident>, column: &Ident, scope: &Scope<'_>) -> Ty {
        match scope.resolve(table.map(|t| t.value.as_str()), &column.value) {
            Ok(r) => r.ty,
            Err(err) => {
                // A result alias (ORDER BY, HAVING, GROUP BY may name one).
                if table.is_none() {
                    if let Some((_, ty)) = alias_in(scope, &column.value) {
                        return ty;
                    }
                    // SQLite reads an unresolvable "double-quoted" name as a string literal:
                    // valid, but almost always a misspelt column.
                    if column.quote_style == Some('"') {
                        let candidates: Vec<String> = match err {
                            Unresolved::NoColumn(c) => c,
                            _ => Vec::new(),
                        };
                        let mut d = Diagnostic::warning(format!(
                            "no column `{0}`: SQLite reads \"{0}\" as the string '{0}'",
                            column.value
                        ));
                        d = match closest(&column.value, candidates.iter().map(String::as_str)) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help(format!("write '{}' for a string", column.value)),
                        };
                        let d = match self.location(column.span) {
                            Some(l) => d.at(l, self.span_len(column.span)),
                            None => d,
                        };
                        self.warnings.push(d);
                        return Ty::non_null(SqlType::Text);
                    }
                }
                // A relation that could not be resolved already has its error: no cascade.
                if matches!(err, Unresolved::NoColumn(_)) && scope.is_incomplete() {
                    return Ty::unknown();
                }
                let span = table.map_or(column.span, |t| t.span.union(&column.span));
                let (message, help) = match err {
                    Unresolved::NoTable => {
                        let t = table.map_or("", |t| t.value.as_str());
                        (
                            format!("no table `{t}` in this query, for `{t}.{}`", column.value),
                            None,
                        )
                    }
                    Unresolved::Ambiguous => (
                        format!("ambiguous column `{}`", column.value),
                        Some("qualify it with its table's name or alias".to_string()),
                    ),
                    Unresolved::NoColumn(candidates) => {
                        let in_table = table
                            .map(|t| format!(" in `{}`", t.value))
                            .unwrap_or_default();
                        (
                            format!("no column `{}`{in_table}", column.value),
                            closest(&column.value, candidates.iter().map(String::as_str))
                                .map(|s| format!("did you mean `{s}`?")),
                        )
                    }
                };
                let mut d = Diagnostic::error(message);
                if let Some(h) = help {
                    d = d.with_help(h);
                }
                self.error_at(d, span);
                Ty::unknown()
            }
        }
    }

    /// `(source id, column)` of a bare column reference, for narrowing.
    pub(crate) fn column_key(&self, e: &Expr, scope: &Scope<'_>) -> Option<(usize, usize)> {
        let r = match strip_nested(e) {
            Expr::Identifier(c) => scope.resolve(None, &c.value),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let n = parts.len();
                scope.resolve(Some(&parts[n - 2].value), &parts[n - 1].value)
            }
            _ => return None,
        };
        r.ok().map(|r| r.key)
    }

    /// Narrowing facts of a WHERE clause or inner-join ON: each top-level AND-term that is
    /// `c IS NOT NULL`, or a comparison with `c` itself as an operand, makes `c` non-null.
    pub(crate) fn narrow(&self, e: &Expr, scope: &mut Scope<'_>) {
        let mut facts = Vec::new();
        self.collect_narrowing(e, scope, &mut facts);
        scope.narrowed.extend(facts);
    }

    fn collect_narrowing(&self, e: &Expr, scope: &Scope<'_>, out: &mut Vec<(usize, usize)>) {
        let mut terms = Vec::new();
        and_terms(e, &mut terms);
        for term in terms {
            self.term_narrowing(term, scope, out);
        }
    }

    /// The narrowing facts of one AND-term.
    fn term_narrowing(&self, term: &Expr, scope: &Scope<'_>, out: &mut Vec<(usize, usize)>) {
        let mut operands: Vec<&Expr> = Vec::new();
        match term {
            Expr::IsNotNull(x) => operands.push(x),
            Expr::BinaryOp { left, op, right }
                if is_comparison(op) || *op == BinaryOperator::Glob =>
            {
                operands.push(left);
                operands.push(right);
            }
            Expr::Like { expr, pattern, .. } => {
                operands.push(expr);
                operands.push(pattern);
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                operands.push(expr);
                operands.push(low);
                operands.push(high);
            }
            Expr::In { expr, .. } => operands.push(expr),
            _ => {}
        }
        out.extend(
            operands
                .into_iter()
                .filter_map(|x| self.column_key(x, scope)),
        );
    }
}

fn alias_in(scope: &Scope<'_>, name: &str) -> Option<(String, Ty)> {
    scope
        .aliases
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .cloned()
}

/// `42` and `0x1F` are integers; `1.5`, `1e3` and integers too large for i64 are reals.
fn number_type(text: &str) -> SqlType {
    let t = text.replace('_', "");
    let is_int = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).is_ok() || u64::from_str_radix(hex, 16).is_ok()
    } else {
        t.parse::<i64>().is_ok()
    };
    if is_int {
        SqlType::Integer
    } else {
        SqlType::Real
    }
}
