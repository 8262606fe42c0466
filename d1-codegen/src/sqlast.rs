//! Small readers of sqlparser's syntax tree that the analysis and the lints share (a leaf: it
//! knows sqlparser and nothing of d1kit).

use sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectName, ObjectNamePart,
};

/// The last identifier of a possibly qualified name.
pub(crate) fn last_ident(parts: &[ObjectNamePart]) -> Option<&Ident> {
    match parts.last()? {
        ObjectNamePart::Identifier(i) => Some(i),
        ObjectNamePart::Function(f) => Some(&f.name),
    }
}

/// A function's name, lower-cased.
pub(crate) fn function_name(f: &Function) -> String {
    last_ident(&f.name.0)
        .map(|i| i.value.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The plain expression arguments of a call (`*` is left out).
pub(crate) fn args(f: &Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(list) => list.args.iter().filter_map(arg_expr).collect(),
        _ => Vec::new(),
    }
}

/// The expression of one call argument (none for `*` and the like).
pub(crate) fn arg_expr(a: &FunctionArg) -> Option<&Expr> {
    match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
        | FunctionArg::Named {
            arg: FunctionArgExpr::Expr(e),
            ..
        }
        | FunctionArg::ExprNamed {
            arg: FunctionArgExpr::Expr(e),
            ..
        } => Some(e),
        _ => None,
    }
}

/// `e` without enclosing parentheses.
pub(crate) fn strip_nested(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => strip_nested(inner),
        e => e,
    }
}

/// `main.notes` → `notes`; quoted names keep their text.
pub(crate) fn object_name(name: &ObjectName) -> String {
    last_ident(&name.0)
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

/// The top-level AND-terms of a condition.
pub(crate) fn and_terms<'t>(e: &'t Expr, out: &mut Vec<&'t Expr>) {
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
