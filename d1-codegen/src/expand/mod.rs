//! Signature → Rust tokens: what the macros emit. Small code on purpose (rustc pays for every
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
use crate::lex;
use crate::memo;
use crate::project::{self, Loaded};
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

/// The options a query is checked with, written before it (`sql!(#[cross_tenant]
/// #[allow(full_scan)] "...")`) or in `#[d1(cross_tenant, allow(full_scan), ..)]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct QueryOptions {
    /// `cross_tenant`: the query may cross tenants, so the tenant column is not checked.
    pub cross_tenant: bool,
    /// `allow(full_scan)`: a plan that reads every row of a table is no error for this query,
    /// whatever `lints.full_scan` says (an admin export, a nightly job).
    pub allow_full_scan: bool,
}

impl QueryOptions {
    /// The attributes that write these options (how `sql_as!` and `#[d1(row = ..)]` forward
    /// them to the row type's trampoline).
    pub fn to_attributes(self) -> TokenStream {
        let mut out = TokenStream::new();
        if self.cross_tenant {
            out.extend(quote!(#[cross_tenant]));
        }
        if self.allow_full_scan {
            out.extend(quote!(#[allow(full_scan)]));
        }
        out
    }

    /// One bit per option (how the memo keeps them).
    pub(crate) fn bits(self) -> u8 {
        u8::from(self.cross_tenant) | (u8::from(self.allow_full_scan) << 1)
    }

    /// The options of [`QueryOptions::bits`].
    pub(crate) fn from_bits(bits: u8) -> Option<QueryOptions> {
        (bits < 4).then_some(QueryOptions {
            cross_tenant: bits & 1 != 0,
            allow_full_scan: bits & 2 != 0,
        })
    }
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

/// Loads the database a call names and runs `f` on it; configuration and migration errors
/// become errors at `span`.
pub(crate) fn with_database<R>(
    database: Option<&str>,
    span: Span,
    f: impl FnOnce(&mut Loaded) -> Result<R, Errors>,
) -> Result<R, Errors> {
    let shared = project::database(database).map_err(|mut d| {
        // `sql!(cross_tenant, ..)` names a database; the opt-out is an attribute.
        if let Some(name @ ("cross_tenant" | "unscoped")) = database {
            for diag in &mut d.0 {
                diag.help = Some(format!(
                    "to skip the tenant-column check, write `sql!(#[cross_tenant] \"...\")` (`{name}` here names a database)"
                ));
            }
        }
        let mut e = Errors::default();
        e.diagnostics(span, &d, None);
        e
    })?;
    let mut loaded = shared.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut loaded)
}

/// A query analysed and ready to emit.
pub(crate) struct Checked {
    pub sig: Signature,
    /// The SQL as D1 receives it.
    pub d1_sql: String,
    /// Files rustc must track (only on the first expansion of the process).
    pub track: Vec<PathBuf>,
    /// The database's routing when it scopes tenants by a column and the query does not opt
    /// out: what `#[derive(Query)]` needs to route by the tenant field.
    pub routing: Option<Routing>,
}

/// How a tenant-scoped query finds its database: the tenant column, and the pool's binding
/// and size.
pub(crate) struct Routing {
    pub tenant_column: String,
    pub binding: String,
    pub shards: u32,
}

fn check_call(call: &QueryCall) -> Result<Checked, Errors> {
    let db = call.database.as_ref().map(|(n, _)| n.as_str());
    // A configuration error (say, a database name that does not exist) points at the name.
    let config_span = call.database.as_ref().map_or(call.sql_span, |(_, s)| *s);
    check(db, &call.sql, config_span, call.sql_span, call.options)
}

/// Analyses `sql` against the named database: configuration and migration errors point at
/// `config_span`, SQL errors at `span`. The database's tenant column is checked unless
/// `options.cross_tenant`, full scans are denied as `lints.full_scan` says unless
/// `options.allow_full_scan`.
pub(crate) fn check(
    database: Option<&str>,
    sql: &str,
    config_span: Span,
    span: Span,
    options: QueryOptions,
) -> Result<Checked, Errors> {
    // Configuration errors are left to `with_database`, which reports them.
    let fingerprint = project::fingerprint(database).ok();
    let track = || {
        fingerprint
            .as_ref()
            .map_or_else(Vec::new, |f| f.untracked_files())
    };
    let routing = |db: &crate::config::DatabaseConfig| {
        db.tenant_column
            .as_ref()
            .filter(|_| !options.cross_tenant)
            .map(|column| Routing {
                tenant_column: column.clone(),
                binding: db.binding.clone(),
                shards: db.shards,
            })
    };
    if let Some(f) = &fingerprint {
        if let Some(kept) = memo::get(f, sql, options) {
            return Ok(Checked {
                sig: kept.sig,
                d1_sql: kept.d1_sql,
                routing: routing(&f.database),
                track: track(),
            });
        }
    }
    with_database(database, config_span, |loaded| {
        let checks = crate::Checks {
            tenant_column: loaded
                .database
                .tenant_column
                .as_deref()
                .filter(|_| !options.cross_tenant),
            // A proc macro cannot warn on stable: only a denied lint is worth the plan.
            full_scan: match loaded.database.lints.full_scan {
                crate::lint::Level::Deny if !options.allow_full_scan => crate::lint::Level::Deny,
                _ => crate::lint::Level::Allow,
            },
        };
        let mut sig = loaded.analyzer.analyze_with(sql, checks).map_err(|d| {
            let mut e = Errors::default();
            e.diagnostics(span, &d, Some(sql));
            e
        })?;
        let tokens = lex::tokenize(sql);
        let d1_sql = lex::for_d1(sql, &tokens, &lex::Params::of(sql, &tokens));
        // The macros cannot show warnings; the memo does not keep them.
        sig.warnings.clear();
        let analysis = memo::Analysis { sig, d1_sql };
        if let Some(f) = &fingerprint {
            memo::put(f, sql, options, &analysis);
        }
        Ok(Checked {
            sig: analysis.sig,
            d1_sql: analysis.d1_sql,
            routing: routing(&loaded.database),
            track: track(),
        })
    })
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
