//! A checked query ([`crate::driver`]) → Rust tokens: what the macros emit. Small code on purpose (rustc pays for every
//! token): a plain row struct, a `'static` SQL string, and binds and decodes through generic
//! functions of the runtime instead of code repeated per column.

mod derive;
mod names;
mod render;
mod rows;

pub use derive::{derive_database, derive_query, derive_row, trampoline_path, QueryAttrs};
pub use names::field_ident;
pub use render::render;
pub use rows::{check_fields, RowField, RowStruct};

use crate::analyze::{Param, Signature};
use crate::diagnostic::{plural, Diagnostics};
use crate::driver::{self, Checked, Failure};
use crate::lint::QueryOptions;
use crate::types::{SqlType, Ty};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use std::path::PathBuf;

/// One `sql!` / `sql_as!` call, parsed by the macro shim.
#[derive(Debug, Clone)]
pub struct QueryCall {
    /// `sql!(users, "...")`: the database's name and where it is written.
    pub database: Option<(String, Span)>,
    /// The SQL text.
    pub sql: String,
    /// The string literal's span (errors in the SQL point there).
    pub sql_span: Span,
    /// The arguments, each as written.
    pub args: Vec<TokenStream>,
    /// `sql!(#[cross_tenant] #[allow(full_scan)] ..)`: how the query is checked.
    pub options: QueryOptions,
}

/// The attributes that write `options` (how `sql_as!` and `#[d1(row = ..)]` forward them to
/// the row type's trampoline).
pub fn option_attributes(options: QueryOptions) -> TokenStream {
    let mut out = TokenStream::new();
    if options.cross_tenant {
        out.extend(quote!(#[cross_tenant]));
    }
    if options.allow_full_scan {
        out.extend(quote!(#[allow(full_scan)]));
    }
    out
}

/// Errors to report, each at its span; emitted together as `compile_error!`s.
#[derive(Debug, Default)]
pub struct Errors(Vec<(Span, String)>);

impl Errors {
    /// Adds one error.
    pub fn push(&mut self, span: Span, message: impl Into<String>) {
        self.0.push((span, message.into()));
    }

    /// Adds every error of `diags` (warnings are left out), rendered against `sql`.
    pub fn diagnostics(&mut self, span: Span, diags: &Diagnostics, sql: Option<&str>) {
        for d in diags.errors() {
            self.push(span, render(d, sql));
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors where an expression is expected (`sql!`, `sql_as!`): one block holding every
    /// `compile_error!`, so that all of them are reported, not the first only.
    pub fn into_expr(self) -> TokenStream {
        // The last `compile_error!` is the block's value: rustc gives it the error type, so a
        // method called on the macro (`sql!(..).all(&db)`) adds no second, misleading error.
        let mut errors = self.0;
        let last = errors
            .pop()
            .map(|(span, msg)| quote_spanned!(span=> ::core::compile_error!{ #msg }));
        let rest = Errors(errors).into_tokens();
        quote!({ #rest #last })
    }

    /// The `compile_error!` invocations, where items are expected (the derives).
    pub fn into_tokens(self) -> TokenStream {
        self.0
            .into_iter()
            .map(|(span, msg)| quote_spanned!(span=> ::core::compile_error!{ #msg };))
            .collect()
    }
}

fn check_call(call: &QueryCall) -> Result<Checked, Errors> {
    let db = call.database.as_ref().map(|(n, _)| n.as_str());
    // A configuration error (say, a database name that does not exist) points at the name.
    let config_span = call.database.as_ref().map_or(call.sql_span, |(_, s)| *s);
    check(db, &call.sql, config_span, call.sql_span, call.options)
}

/// [`driver::check`], its errors at spans: configuration and migration errors at
/// `config_span`, SQL errors at `span`.
pub(crate) fn check(
    database: Option<&str>,
    sql: &str,
    config_span: Span,
    span: Span,
    options: QueryOptions,
) -> Result<Checked, Errors> {
    driver::check(database, sql, options)
        .map_err(|failure| failure_errors(failure, sql, config_span, span))
}

/// The errors of a [`Failure`], each at its span.
pub(crate) fn failure_errors(failure: Failure, sql: &str, config_span: Span, span: Span) -> Errors {
    let mut e = Errors::default();
    match failure {
        Failure::Config(d) => e.diagnostics(config_span, &d, None),
        Failure::Sql(d) => e.diagnostics(span, &d, Some(sql)),
    }
    e
}

/// `include_bytes!` of each file, so rustc rebuilds the crate when one changes.
pub(crate) fn tracking(files: &[PathBuf]) -> TokenStream {
    files
        .iter()
        .filter_map(|f| f.to_str())
        .map(|f| {
            quote!(
                const _: &[u8] = ::core::include_bytes!(#f);
            )
        })
        .collect()
}

/// The Rust type of a result column.
pub fn rust_type(column: &str, ty: &Ty) -> Result<TokenStream, String> {
    let base = match &ty.ty {
        SqlType::Integer => quote!(i64),
        SqlType::Real => quote!(f64),
        SqlType::Text => quote!(::std::string::String),
        SqlType::Blob => quote!(::std::vec::Vec<u8>),
        SqlType::Bool => quote!(bool),
        SqlType::Value | SqlType::Null => quote!(::d1kit::Value),
        SqlType::Custom(name) => name
            .parse::<TokenStream>()
            .map_err(|_| format!("`{name}` in `AS \"{column}: {name}\"` is not a Rust type"))?,
    };
    Ok(if ty.nullable {
        quote!(::std::option::Option<#base>)
    } else {
        base
    })
}

/// The marker type that selects which Rust arguments a parameter accepts.
pub fn param_marker(ty: &Ty) -> TokenStream {
    let kind = match &ty.ty {
        SqlType::Integer => quote!(Integer),
        SqlType::Real => quote!(Real),
        SqlType::Text => quote!(Text),
        SqlType::Blob => quote!(Blob),
        SqlType::Bool => quote!(Bool),
        SqlType::Value | SqlType::Null | SqlType::Custom(_) => quote!(Any),
    };
    if ty.nullable {
        quote!(::d1kit::__private::param::Nullable<::d1kit::__private::param::#kind>)
    } else {
        quote!(::d1kit::__private::param::#kind)
    }
}

/// How parameters read in messages: `?1 :owner (String), ?2 (i64)`.
pub(crate) fn describe_params(params: &[Param]) -> String {
    params
        .iter()
        .map(|p| match &p.name {
            Some(n) => format!("?{} :{n} ({})", p.index, p.ty),
            None => format!("?{} ({})", p.index, p.ty),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `bind` call of each argument, in parameter order, with count errors.
fn binds(sig: &Signature, call: &QueryCall, errors: &mut Errors) -> Vec<TokenStream> {
    let want = sig.params.len();
    let got = call.args.len();
    if got < want {
        errors.push(
            call.sql_span,
            format!(
                "this query takes {want} argument{} but {got} {} given; missing: {}",
                plural(want),
                if got == 1 { "was" } else { "were" },
                describe_params(&sig.params[got..])
            ),
        );
    }
    for extra in call.args.iter().skip(want) {
        let span = first_span(extra);
        errors.push(
            span,
            format!(
                "unexpected argument: this query takes {want} argument{}{}",
                plural(want),
                if want > 0 {
                    format!(" ({})", describe_params(&sig.params))
                } else {
                    String::new()
                }
            ),
        );
    }
    sig.params
        .iter()
        .zip(&call.args)
        .map(|(p, arg)| {
            let marker = param_marker(&p.ty);
            let span = first_span(arg);
            quote_spanned!(span=> ::d1kit::__private::bind::<#marker, _>(#arg))
        })
        .collect()
}

/// The span of a token stream's first token (its start is where a person looks).
pub fn first_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

/// `sql!("...", args..)`: a query value whose row type is generated from the result columns.
pub fn sql(call: &QueryCall) -> TokenStream {
    let checked = match check_call(call) {
        Ok(c) => c,
        Err(e) => return e.into_expr(),
    };
    let mut errors = Errors::default();
    let binds = binds(&checked.sig, call, &mut errors);
    let row = if checked.sig.columns.is_empty() {
        None
    } else {
        let fields = rows::fields_of(&checked.sig, call.sql_span, &mut errors);
        Some(rows::anonymous_row(&fields))
    };
    if !errors.is_empty() {
        return errors.into_expr();
    }
    match row {
        Some(row) => query_value(&checked, row, quote!(Row), &binds),
        None => query_value(&checked, TokenStream::new(), quote!(()), &binds),
    }
}

/// The most arguments `sql!` keeps as written (a tuple: `d1kit::Args` is implemented up to
/// this arity); a query with more converts them to values where it is built.
const TUPLE_ARGS: usize = 12;

/// The `Sql<row_ty, _>` value of a checked query, after the items it needs (`row_def`).
///
/// A struct literal, not a call: a query that is built but never run (or not yet) makes rustc
/// instantiate and link nothing of d1kit's, which is most of what declaring a query would cost
/// the build (`scripts/bench-compile.sh`).
fn query_value(
    checked: &Checked,
    row_def: TokenStream,
    row_ty: TokenStream,
    binds: &[TokenStream],
) -> TokenStream {
    let track = tracking(&checked.track);
    let d1_sql = &checked.d1_sql;
    let args = if binds.len() <= TUPLE_ARGS {
        quote!((#(#binds,)*))
    } else {
        quote!(::d1kit::Params::from([#(::d1kit::Arg::into_value(#binds)),*]))
    };
    quote!({
        #track
        #row_def
        ::d1kit::Sql::<#row_ty, _> {
            __sql: #d1_sql,
            __args: #args,
            __row: ::core::marker::PhantomData,
        }
    })
}

/// `sql_as!(Type, "...", args..)` after the trampoline `Type`'s derive generated: every field
/// of `row` checked against the column of its name (errors at the field), then the query.
pub fn sql_as(call: &QueryCall, row: &RowStruct) -> TokenStream {
    let checked = match check_call(call) {
        Ok(c) => c,
        Err(e) => return e.into_expr(),
    };
    let mut errors = Errors::default();
    check_fields(&checked.sig, row, &mut errors);
    let binds = binds(&checked.sig, call, &mut errors);
    if !errors.is_empty() {
        return errors.into_expr();
    }
    query_value(&checked, TokenStream::new(), row.path.clone(), &binds)
}

/// The check `#[derive(Query)] #[d1(row = Type)]` asks of `Type` (through its trampoline):
/// nothing when every field matches, errors otherwise.
pub fn check_row(
    database: Option<&str>,
    sql: &str,
    sql_span: Span,
    options: QueryOptions,
    row: &RowStruct,
) -> TokenStream {
    match check(database, sql, sql_span, sql_span, options) {
        Ok(checked) => {
            let mut errors = Errors::default();
            check_fields(&checked.sig, row, &mut errors);
            errors.into_expr()
        }
        Err(e) => e.into_expr(),
    }
}
