//! d1kit's procedural macros: each parses its input and hands it to `d1_codegen::expand`,
//! where everything that can be tested without a compiler lives.

#![forbid(unsafe_code)]
// docs.rs (`--cfg docsrs`, nightly): each feature-gated item is marked with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod input;

use proc_macro::TokenStream;

/// A checked query; its rows are an anonymous struct of the result columns.
///
/// `sql!("SELECT ...", args..)`, or `sql!(database, "SELECT ...", args..)` when the crate
/// configures several databases. See the `d1kit` crate for the typing rules.
///
/// When the database has a `tenant_column`, a query on a table with that column must constrain
/// it to a parameter; `sql!(#[cross_tenant] "...")` (or `sql!(#[cross_tenant] database, "...")`)
/// opts a query that is meant to cross tenants out of that check. Under `lints.full_scan =
/// "deny"`, `sql!(#[allow(full_scan)] "...")` lets one query read a whole table.
#[proc_macro]
pub fn sql(input: TokenStream) -> TokenStream {
    match input::query_call(input.into(), false) {
        Ok((call, _)) => d1_codegen::expand::sql(&call).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// A checked query whose rows are your `#[derive(Row)]` type: `sql_as!(Type, "SELECT ...", args..)`
/// (`sql_as!(#[cross_tenant] Type, ..)` skips the tenant-column check and
/// `#[allow(full_scan)]` allows a full scan, as for `sql!`).
#[proc_macro]
pub fn sql_as(input: TokenStream) -> TokenStream {
    input::sql_as(input.into())
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

#[doc(hidden)]
#[proc_macro]
pub fn __sql_as(input: TokenStream) -> TokenStream {
    input::sql_as_with_fields(input.into())
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// Decodes rows into this struct by column name; lets `sql_as!` check its fields.
#[proc_macro_derive(Row)]
pub fn derive_row(input: TokenStream) -> TokenStream {
    input::derive_row(input.into())
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// A named query whose `:name` parameters are this struct's fields:
/// `#[d1(sql = "...", database = "name", row = Type)]` (`database` and `row` optional;
/// `cross_tenant` skips the tenant-column check for a query meant to cross tenants;
/// `allow(full_scan)` allows this query a full scan under `lints.full_scan = "deny"`).
#[proc_macro_derive(Query, attributes(d1))]
pub fn derive_query(input: TokenStream) -> TokenStream {
    input::derive_query(input.into())
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// A configured database: embedded migrations, schema fingerprint, binding(s), shard routing.
/// `#[d1(name = "...")]` is optional when only one database is configured.
#[proc_macro_derive(Database, attributes(d1))]
pub fn derive_database(input: TokenStream) -> TokenStream {
    input::derive_database(input.into())
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}
