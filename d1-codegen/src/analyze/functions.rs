//! Types of SQLite's built-in scalar, aggregate and window functions (docs/TYPING.md).

use super::expr::{is_literal, Hint};
use super::{Scope, Walker};
use crate::sqlast::{args, function_name, last_ident};
use crate::types::{SqlType, Ty};
use sqlparser::ast::{Function, FunctionArguments, WindowFrameBound, WindowType};

/// Aggregate functions (when called without OVER).
pub(crate) const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "total",
    "avg",
    "min",
    "max",
    "group_concat",
    "string_agg",
    "json_group_array",
    "json_group_object",
    "jsonb_group_array",
    "jsonb_group_object",
];

/// Whether `f` is an aggregate call (not a window function, not two-argument `min`/`max`).
pub(crate) fn is_aggregate_call(f: &Function) -> bool {
    if f.over.is_some() {
        return false;
    }
    let name = function_name(f);
    if !AGGREGATES.contains(&name.as_str()) {
        return false;
    }
    !(matches!(name.as_str(), "min" | "max") && args(f).len() > 1)
}

/// Whether a window's frame holds the current row (the default frame always does).
fn frame_holds_current_row(w: &WindowType) -> bool {
    match w {
        WindowType::NamedWindow(_) => true,
        WindowType::WindowSpec(spec) => match &spec.window_frame {
            None => true,
            Some(frame) => {
                let starts_before = matches!(
                    frame.start_bound,
                    WindowFrameBound::CurrentRow | WindowFrameBound::Preceding(_)
                );
                let ends_after = match &frame.end_bound {
                    None => true,
                    Some(b) => matches!(
                        b,
                        WindowFrameBound::CurrentRow | WindowFrameBound::Following(_)
                    ),
                };
                starts_before && ends_after
            }
        },
    }
}

impl<'a> Walker<'a> {
    /// Whether the call's window frame has an EXCLUDE that can leave out the current row.
    fn has_exclude(&self, f: &Function) -> bool {
        let Some(start) = last_ident(&f.name.0).and_then(|i| self.location(i.span)) else {
            return !self.excludes.is_empty();
        };
        match self.over_range(start.offset) {
            Some((a, b)) => self.excludes.iter().any(|&x| x >= a && x < b),
            None => !self.excludes.is_empty(),
        }
    }

    /// The type of a function call.
    pub(crate) fn function(&mut self, f: &Function, scope: &Scope<'_>) -> Ty {
        use SqlType::*;
        let name = function_name(f);
        let args = args(f);
        let aggregate = is_aggregate_call(f);

        // Window clauses and FILTER: typed for their parameters and names.
        if let Some(WindowType::WindowSpec(spec)) = &f.over {
            for e in &spec.partition_by {
                self.expr(e, scope);
            }
            for o in &spec.order_by {
                self.expr(&o.expr, scope);
            }
            if let Some(frame) = &spec.window_frame {
                for b in std::iter::once(&frame.start_bound).chain(frame.end_bound.as_ref()) {
                    if let WindowFrameBound::Preceding(Some(x))
                    | WindowFrameBound::Following(Some(x)) = b
                    {
                        self.hint(x, Hint::Is(Integer));
                        self.expr(x, scope);
                    }
                }
            }
        }
        if let Some(filter) = &f.filter {
            self.expr(filter, scope);
        }
        if let FunctionArguments::List(list) = &f.args {
            for clause in &list.clauses {
                if let sqlparser::ast::FunctionArgumentClause::OrderBy(obs) = clause {
                    for o in obs {
                        self.expr(&o.expr, scope);
                    }
                }
            }
        }

        if aggregate {
            scope.aggregate_depth.set(scope.aggregate_depth.get() + 1);
        }
        let json_table_arg = matches!(name.as_str(), "json_each" | "json_tree");
        if json_table_arg {
            if let Some(first) = args.first() {
                self.hint(first, Hint::Is(Text));
            }
        }
        let tys: Vec<Ty> = args.iter().map(|a| self.expr(a, scope)).collect();
        if aggregate {
            scope.aggregate_depth.set(scope.aggregate_depth.get() - 1);
        }
        let any_nullable = tys.iter().any(|t| t.nullable);
        let first = tys.first().cloned().unwrap_or_else(Ty::unknown);

        // Aggregates and aggregate-style windows.
        let windowed = f.over.is_some();
        if aggregate || (windowed && AGGREGATES.contains(&name.as_str())) {
            let ty = match name.as_str() {
                "count" => return Ty::non_null(Integer),
                "total" => return Ty::non_null(Real),
                "json_group_array" | "json_group_object" | "jsonb_group_array"
                | "jsonb_group_object" => {
                    return Ty::non_null(if name.starts_with("jsonb") {
                        Blob
                    } else {
                        Text
                    })
                }
                "sum" => match first.ty {
                    Integer | Bool => Integer,
                    Real | Text => Real,
                    _ => Value,
                },
                "avg" => Real,
                "min" | "max" => first.ty.clone(),
                _ => Text, // group_concat, string_agg
            };
            let nullable = if f.filter.is_some() {
                true
            } else if let Some(w) = &f.over {
                !frame_holds_current_row(w) || self.has_exclude(f) || first.nullable
            } else if scope.grouped {
                first.nullable
            } else {
                true
            };
            return Ty { ty, nullable };
        }

        match name.as_str() {
            "row_number" | "rank" | "dense_rank" | "ntile" if windowed => {
                return Ty::non_null(Integer)
            }
            "percent_rank" | "cume_dist" if windowed => return Ty::non_null(Real),
            "first_value" | "last_value" if windowed => return first,
            "lag" | "lead" | "nth_value" if windowed => return first.with_nullable(true),
            _ => {}
        }

        let ty = match name.as_str() {
            "length" | "octet_length" | "instr" | "unicode" | "unixepoch" | "random"
            | "changes" | "total_changes" | "last_insert_rowid" | "json_array_length" => Integer,
            "lower" | "upper" | "trim" | "ltrim" | "rtrim" | "substr" | "substring" | "replace"
            | "printf" | "format" | "hex" | "quote" | "char" | "date" | "time" | "datetime"
            | "strftime" | "json" | "json_object" | "json_array" | "json_set" | "json_insert"
            | "json_replace" | "json_remove" | "json_type" | "json_patch" | "json_quote"
            | "soundex" | "typeof" | "concat" | "concat_ws" | "sqlite_version" => Text,
            "abs" => match first.ty {
                Integer | Real => first.ty.clone(),
                _ => Value,
            },
            "round" | "julianday" => Real,
            "randomblob" | "zeroblob" | "unhex" => Blob,
            "json_extract" => return Ty::unknown(),
            "coalesce" | "ifnull" => {
                let mut ty = Null;
                for t in &tys {
                    ty = ty.common(&t.ty);
                }
                return Ty {
                    ty,
                    nullable: tys.iter().all(|t| t.nullable),
                };
            }
            "nullif" => return first.with_nullable(true),
            "iif" | "if" if args.len() == 3 => {
                let ty = tys[1].ty.common(&tys[2].ty);
                return Ty {
                    ty,
                    nullable: tys[1].nullable || tys[2].nullable,
                };
            }
            "min" | "max" if !tys.is_empty() => {
                let mut ty = Null;
                for t in &tys {
                    ty = ty.common(&t.ty);
                }
                return Ty {
                    ty,
                    nullable: any_nullable,
                };
            }
            "likely" | "unlikely" | "likelihood" => return first,
            _ => return Ty::unknown(),
        };
        let never_null = matches!(
            name.as_str(),
            "random"
                | "changes"
                | "total_changes"
                | "last_insert_rowid"
                | "json_object"
                | "json_array"
                | "quote"
                | "printf"
                | "format"
                | "hex"
                | "typeof"
                | "concat"
                | "concat_ws"
                | "sqlite_version"
        );
        let bad_input_null = matches!(
            name.as_str(),
            "date" | "time" | "datetime" | "strftime" | "julianday" | "unixepoch"
        ) && !args.iter().all(|a| is_literal(a));
        Ty {
            ty,
            nullable: !never_null && (any_nullable || bad_input_null),
        }
    }
}
