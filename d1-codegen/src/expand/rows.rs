//! Row types: the struct `sql!` generates, and the check of a `#[derive(Row)]` struct's fields
//! against a query's result columns.

use super::names::column_of;
use super::{field_ident, rust_type, Errors};
use crate::analyze::Signature;
use crate::diagnostic::closest;
use crate::types::SqlType;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

/// One field of a `#[derive(Row)]` struct, as written (its spans point at the struct).
#[derive(Debug, Clone)]
pub struct RowField {
    /// The field's name.
    pub name: Ident,
    /// The field's type.
    pub ty: TokenStream,
}

/// A `#[derive(Row)]` struct as `sql_as!` sees it through the struct's trampoline.
#[derive(Debug, Clone)]
pub struct RowStruct {
    /// The path `sql_as!` named it by.
    pub path: TokenStream,
    /// The struct's name where it is defined.
    pub ident: Ident,
    /// Its fields.
    pub fields: Vec<RowField>,
}

/// A generated field: its name, type and the column it reads.
pub(crate) struct GenField {
    pub ident: Ident,
    pub ty: TokenStream,
    pub column: String,
    /// Whether the type is one of d1kit's own (not an `AS "x: Type"` override), written the
    /// same wherever it is emitted.
    pub builtin: bool,
}

/// The widest row d1-runtime has a `ColumnsN` struct for.
const MAX_LAYOUT_COLUMNS: usize = 32;

/// The fields of the row struct of `sig`; unusable names are errors at `span`.
pub(crate) fn fields_of(sig: &Signature, span: Span, errors: &mut Errors) -> Vec<GenField> {
    let mut out = Vec::new();
    for c in &sig.columns {
        let ident = match field_ident(&c.name, span) {
            Ok(i) => i,
            Err(e) => {
                errors.push(span, e);
                continue;
            }
        };
        match rust_type(&c.name, &c.ty) {
            Ok(ty) => out.push(GenField {
                ident,
                ty,
                column: c.name.clone(),
                builtin: !matches!(c.ty.ty, SqlType::Custom(_)),
            }),
            Err(e) => errors.push(span, e),
        }
    }
    out
}

/// A struct named `name` with `fields` (with `Debug` if `debug`), and how it decodes
/// (columns by position).
///
/// It is laid out as d1-runtime's `ColumnsN` struct of its field types (`#[repr(C)]`, same
/// fields in the same order), and says so with `ColumnLayout`: it then decodes through that
/// struct's generic code, and the user's crate compiles no decoding function per query (each
/// costs an incremental build about 0.05 ms). The promise holds by construction: the field
/// types are emitted twice from the same tokens into the same scope, so both lists name the
/// same types, whatever those tokens resolve to. A row with an `AS "x: Type"` override (whose missing `Decode`
/// is best reported at a function of the row's own), or wider than the widest `ColumnsN`, gets
/// a `FromRow` function instead.
pub(crate) fn row_struct(
    vis: &TokenStream,
    name: &Ident,
    fields: &[GenField],
    debug: bool,
) -> TokenStream {
    let idents: Vec<_> = fields.iter().map(|f| &f.ident).collect();
    let types: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    // `Debug` written out rather than derived: `#[inline]` makes rustc generate its code only
    // in a crate that prints the row, where a derived impl costs every rebuild code per row.
    let names = fields.iter().map(|f| {
        let n = f.ident.to_string();
        n.strip_prefix("r#").map(str::to_string).unwrap_or(n)
    });
    let shown = name.to_string();
    if (1..=MAX_LAYOUT_COLUMNS).contains(&fields.len()) && fields.iter().all(|f| f.builtin) {
        let columns = format_ident!("Columns{}", fields.len());
        // `Debug` through the `ColumnsN` struct's generic impl: one call to type-check here.
        let debug_impl = debug.then(|| {
            quote! {
                impl ::core::fmt::Debug for #name {
                    #[inline]
                    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        ::d1kit::__private::debug_layout(self, f, #shown)
                    }
                }
            }
        });
        return quote! {
            #[allow(non_snake_case)]
            #[repr(C)]
            #vis struct #name { #(pub #idents: #types),* }
            unsafe impl ::d1kit::__private::ColumnLayout for #name {
                type Columns = ::d1kit::__private::#columns<#(#types),*>;
                const FIELDS: &'static [&'static str] = &[#(#names),*];
            }
            #debug_impl
        };
    }
    let debug_impl = debug.then(|| {
        quote! {
            impl ::core::fmt::Debug for #name {
                #[inline]
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::d1kit::__private::debug_row(f, #shown, &[#((#names, &self.#idents)),*])
                }
            }
        }
    });
    let columns = fields.iter().map(|f| &f.column);
    let index = 0..fields.len();
    quote! {
        #[allow(non_snake_case)]
        #vis struct #name { #(pub #idents: #types),* }
        impl ::d1kit::FromRow for #name {
            fn from_row(r: &mut ::d1kit::Row<'_>) -> ::d1kit::Result<Self> {
                ::core::result::Result::Ok(#name { #(#idents: r.get(#index, #columns)?),* })
            }
        }
        #debug_impl
    }
}

/// The anonymous `Row` struct of an inline `sql!`: its fields, and `Debug`, so that a user's
/// first `dbg!(row)`, `{:?}` or `.unwrap_err()` works (it costs each incremental build of the
/// user's crate a little per query: `scripts/bench-compile.sh` measures it with the rest).
pub(crate) fn anonymous_row(fields: &[GenField]) -> TokenStream {
    row_struct(
        &TokenStream::new(),
        &Ident::new("Row", Span::call_site()),
        fields,
        true,
    )
}

/// What a field's Rust type can hold, read from its tokens; `None` for types d1kit does not
/// know (the user's own `Decode` types), which are checked when rows are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Integer,
    Real,
    Text,
    Blob,
    Bool,
    Anything,
}

fn classify(ty: &str) -> (bool, Option<Holds>) {
    let compact: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    let mut inner = compact.as_str();
    let mut option = false;
    for prefix in [
        "::std::option::Option<",
        "std::option::Option<",
        "::core::option::Option<",
        "core::option::Option<",
        "Option<",
    ] {
        if let Some(rest) = inner.strip_prefix(prefix).and_then(|r| r.strip_suffix('>')) {
            inner = rest;
            option = true;
            break;
        }
    }
    let last = inner.rsplit("::").next().unwrap_or(inner);
    let holds = match last {
        "i64" | "i32" | "i16" | "i8" | "u64" | "u32" | "u16" | "u8" | "usize" | "isize" => {
            Some(Holds::Integer)
        }
        "f64" | "f32" => Some(Holds::Real),
        "String" => Some(Holds::Text),
        "Vec<u8>" => Some(Holds::Blob),
        "bool" => Some(Holds::Bool),
        "Value" => Some(Holds::Anything),
        _ => None,
    };
    (option, holds)
}

fn fits(column: &SqlType, field: Holds) -> bool {
    matches!(
        (column, field),
        (_, Holds::Anything)
            | (SqlType::Value | SqlType::Null | SqlType::Custom(_), _)
            | (SqlType::Integer, Holds::Integer)
            | (SqlType::Real, Holds::Real)
            | (SqlType::Text, Holds::Text)
            | (SqlType::Blob, Holds::Blob)
            | (SqlType::Bool, Holds::Bool | Holds::Integer)
    )
}

fn show(ty: &TokenStream) -> String {
    let s = ty.to_string();
    s.replace(" < ", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace("< ", "<")
}

/// Checks each field of `row` against the column of the same name: a field with no column, a
/// column with no field, and a field whose type cannot hold the column's are errors (at the
/// field, or at the struct's name for a missing field).
pub fn check_fields(sig: &Signature, row: &RowStruct, errors: &mut Errors) {
    let struct_name = row.ident.to_string();
    let columns: Vec<&str> = sig.columns.iter().map(|c| c.name.as_str()).collect();
    for f in &row.fields {
        let name = column_of(&f.name);
        let name = name.as_str();
        let Some(col) = sig.columns.iter().find(|c| c.name == name) else {
            let mut msg = format!(
                "field `{name}` of `{struct_name}` has no column in the query's result (columns: {})",
                columns.join(", ")
            );
            if let Some(s) = closest(name, columns.iter().copied()) {
                msg.push_str(&format!(
                    "\n = help: did you mean `{s}`? or select it: `... AS {name}`"
                ));
            }
            errors.push(f.name.span(), msg);
            continue;
        };
        let (option, holds) = classify(&f.ty.to_string());
        let Some(holds) = holds else { continue };
        let want = col.ty.to_string();
        if !fits(&col.ty.ty, holds) {
            errors.push(
                super::first_span(&f.ty),
                format!(
                    "field `{name}` is `{}` but column `{name}` is `{want}`",
                    show(&f.ty)
                ),
            );
        } else if col.ty.nullable && !option && holds != Holds::Anything {
            errors.push(
                super::first_span(&f.ty),
                format!(
                    "field `{name}` is `{}` but column `{name}` can be NULL (`{want}`)\n = help: make the field `Option<{}>`, or write `AS \"{name}!\"` if the query guarantees a value",
                    show(&f.ty),
                    show(&f.ty)
                ),
            );
        }
    }
    for c in &sig.columns {
        if !row.fields.iter().any(|f| column_of(&f.name) == c.name) {
            errors.push(
                row.ident.span(),
                format!(
                    "`{struct_name}` has no field `{}` for the query's column `{}` ({})",
                    c.name, c.name, c.ty
                ),
            );
        }
    }
}
