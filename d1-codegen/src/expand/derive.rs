//! The derives: `Row` (decode by column name, plus the trampoline `sql_as!` goes through),
//! `Query` (a struct whose fields are the `:name` parameters) and `Database` (embedded
//! migrations, fingerprint, bindings, shard routing).

use super::names::column_of;
use super::rows::{fields_of, row_struct, RowField};
use super::{check, describe_params, failure_errors, option_attributes, tracking, Errors};
use crate::diagnostic::closest;
use crate::driver;
use crate::lint::QueryOptions;
use proc_macro2::{Ident, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};

/// The name of the hidden `macro_rules!` that `#[derive(Row)]` on `Name` defines.
fn trampoline(ident: &Ident) -> Ident {
    format_ident!("__d1kit_row_{}", ident)
}

/// The path of the trampoline of the `#[derive(Row)]` type at `path` (`models::Note` →
/// `models::__d1kit_row_Note`); `None` when `path` does not end in a name.
pub fn trampoline_path(path: &TokenStream) -> Option<TokenStream> {
    let mut tokens: Vec<TokenTree> = path.clone().into_iter().collect();
    let Some(TokenTree::Ident(last)) = tokens.pop() else {
        return None;
    };
    let tramp = trampoline(&last);
    let prefix: TokenStream = tokens.into_iter().collect();
    Some(quote!(#prefix #tramp))
}

/// `#[derive(Row)]`: `FromRow` by column name, and a hidden macro carrying the field list (with
/// the fields' own spans) so that `sql_as!(Name, ..)` can check each field at the field.
pub fn derive_row(
    ident: &Ident,
    generics: (&TokenStream, &TokenStream, &TokenStream),
    fields: &[RowField],
) -> TokenStream {
    let (impl_g, ty_g, where_c) = generics;
    let names: Vec<&Ident> = fields.iter().map(|f| &f.name).collect();
    let columns: Vec<String> = names.iter().map(|n| column_of(n)).collect();
    let types = fields.iter().map(|f| &f.ty);
    let tramp = trampoline(ident);
    quote! {
        impl #impl_g ::d1kit::FromRow for #ident #ty_g #where_c {
            fn from_row(r: &mut ::d1kit::Row<'_>) -> ::d1kit::Result<Self> {
                ::core::result::Result::Ok(Self { #(#names: r.get_by_name(#columns)?),* })
            }
        }
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #tramp {
            ($($rest:tt)*) => {
                ::d1kit::__sql_as!{ [#ident { #(#names: #types),* }] $($rest)* }
            };
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        pub(crate) use #tramp;
    }
}

/// The `#[d1(...)]` attributes of `#[derive(Query)]`.
#[derive(Debug, Clone)]
pub struct QueryAttrs {
    /// The SQL, with `:name` parameters.
    pub sql: String,
    /// The SQL literal's span.
    pub sql_span: Span,
    /// `database = "name"` when several databases are configured.
    pub database: Option<(String, Span)>,
    /// `row = Type`: a `#[derive(Row)]` type to decode into instead of a generated `NameRow`.
    pub row: Option<TokenStream>,
    /// `cross_tenant`, `allow(full_scan)`: how the query is checked.
    pub options: QueryOptions,
}

/// `#[derive(Query)]`: implements `d1kit::Query`, each `:name` parameter bound from the field
/// of that name, rows decoded into `<Name>Row` (generated) or the `row = Type` given.
pub fn derive_query(
    vis: &TokenStream,
    ident: &Ident,
    generics: (&TokenStream, &TokenStream, &TokenStream),
    fields: &[RowField],
    attrs: &QueryAttrs,
) -> TokenStream {
    let db = attrs.database.as_ref().map(|(n, _)| n.as_str());
    let config_span = attrs.database.as_ref().map_or(attrs.sql_span, |(_, s)| *s);
    let checked = match check(db, &attrs.sql, config_span, attrs.sql_span, attrs.options) {
        Ok(c) => c,
        Err(e) => return e.into_tokens(),
    };
    let sig = &checked.sig;
    let mut errors = Errors::default();
    let field_names: Vec<String> = fields.iter().map(|f| column_of(&f.name)).collect();
    let mut binds = Vec::new();
    let mut used = vec![false; fields.len()];
    for p in &sig.params {
        let Some(name) = &p.name else {
            errors.push(
                attrs.sql_span,
                format!(
                    "parameter ?{} has no name: #[derive(Query)] binds fields by name, so write `:name` (parameters: {})",
                    p.index,
                    describe_params(&sig.params)
                ),
            );
            continue;
        };
        let Some(i) = field_names.iter().position(|f| f == name) else {
            let mut msg = format!("parameter `:{name}` has no field in `{ident}`");
            if let Some(s) = closest(name, field_names.iter().map(String::as_str)) {
                msg.push_str(&format!("\n = help: did you mean `{s}`?"));
            } else {
                msg.push_str(&format!("\n = help: add a field `{name}: {}`", p.ty));
            }
            errors.push(attrs.sql_span, msg);
            continue;
        };
        used[i] = true;
        let field = &fields[i];
        let marker = super::param_marker(&p.ty);
        let span = super::first_span(&field.ty);
        let name = &field.name;
        binds.push(quote_spanned!(span=> ::d1kit::__private::bind::<#marker, _>(self.#name)));
    }
    // An unknown or unnamed parameter usually means a misspelled field: say that once.
    let params_ok = errors.is_empty();
    for (f, used) in fields.iter().zip(&used) {
        if !used && params_ok {
            errors.push(
                f.name.span(),
                format!(
                    "field `{}` is not a parameter of the query: use it as `:{}` in the SQL, or remove it",
                    f.name, f.name
                ),
            );
        }
    }
    let (row_ty, row_def) = match &attrs.row {
        Some(path) => {
            let Some(tramp) = trampoline_path(path) else {
                errors.push(attrs.sql_span, "`row = ...` must name a type");
                return errors.into_tokens();
            };
            let db = attrs.database.as_ref().map(|(n, s)| Ident::new(n, *s));
            let mut lit = Literal::string(&attrs.sql);
            lit.set_span(attrs.sql_span);
            let options = option_attributes(attrs.options);
            (
                path.clone(),
                quote!(const _: () = { #tramp!{ @check (#db) #options #lit } };),
            )
        }
        None => {
            let row_ident = format_ident!("{}Row", ident);
            if sig.columns.is_empty() {
                (quote!(()), TokenStream::new())
            } else {
                let gen = fields_of(sig, attrs.sql_span, &mut errors);
                (quote!(#row_ident), row_struct(vis, &row_ident, &gen, true))
            }
        }
    };
    if !errors.is_empty() {
        return errors.into_tokens();
    }
    let (impl_g, ty_g, where_c) = generics;
    let d1_sql = &checked.d1_sql;
    let track = tracking(&checked.track);
    // A tenant-scoped query with a field named like the tenant column routes by that field.
    let tenant_impl = checked.routing.as_ref().and_then(|r| {
        let field = fields
            .iter()
            .find(|f| column_of(&f.name) == r.tenant_column)?;
        let (name, binding, shards) = (&field.name, &r.binding, r.shards);
        Some(quote! {
            impl #impl_g ::d1kit::TenantQuery for #ident #ty_g #where_c {
                const BINDING: &'static str = #binding;
                const SHARDS: u32 = #shards;
                fn tenant(&self) -> ::std::borrow::Cow<'_, str> {
                    ::d1kit::TenantKey::tenant_key(&self.#name)
                }
            }
        })
    });
    quote! {
        #track
        #row_def
        #tenant_impl
        impl #impl_g ::d1kit::Query for #ident #ty_g #where_c {
            type Row = #row_ty;
            fn into_statement(self) -> ::d1kit::Statement {
                ::d1kit::Statement {
                    sql: ::std::borrow::Cow::Borrowed(#d1_sql),
                    params: ::std::vec![#(::d1kit::Arg::into_value(#binds)),*],
                }
            }
        }
    }
}

/// `#[derive(Database)]`: the configured database `name` (or the only one) as constants.
pub fn derive_database(ident: &Ident, name: Option<(&str, Span)>) -> TokenStream {
    let span = name.map_or_else(|| ident.span(), |(_, s)| s);
    let result = driver::with_database(name.map(|(n, _)| n), |loaded| {
        let files = driver::project::fingerprint(Some(&loaded.database.name))
            .map_or_else(|_| Vec::new(), |f| f.untracked_files());
        let track = tracking(&files);
        let db = &loaded.database;
        let (db_name, binding, shards) = (&db.name, &db.binding, db.shards);
        let fingerprint = loaded.migrations.fingerprint();
        let migrations = loaded.migrations.migrations.iter().map(|m| {
            let (name, sql, checksum) = (&m.name, &m.sql, &m.checksum);
            let statements = crate::lex::split_statements(sql);
            let statements = statements.iter().map(|st| st.text(sql));
            quote!(::d1kit::Migration {
                name: #name,
                sql: #sql,
                statements: &[#(#statements),*],
                checksum: #checksum,
            })
        });
        let migrations: Vec<TokenStream> = migrations.collect();
        let optional = |v: &Option<String>| match v {
            Some(v) => quote!(::std::option::Option::Some(#v)),
            None => quote!(::std::option::Option::None),
        };
        let location_hint = optional(&db.location_hint);
        let jurisdiction = optional(&db.jurisdiction);
        let directory = optional(&db.directory.as_ref().map(|d| d.binding.clone()));
        let durable_object = optional(&db.durable_object);
        // A Durable Object database is one database per user, in the user's own object: no
        // shards to route to, and its runtime methods are the Durable Object's.
        let routing = db.is_d1().then(|| {
            quote! {
                impl #ident {
                    /// The shard (0..SHARDS) that holds `tenant`'s data.
                    pub fn shard_for(tenant: &str) -> u32 {
                        <Self as ::d1kit::Database>::shard_for(tenant)
                    }
                    /// The binding of `tenant`'s shard (`BINDING_3`, or `BINDING` with one shard).
                    pub fn binding_for(tenant: &str) -> ::std::string::String {
                        <Self as ::d1kit::Database>::binding_for(tenant)
                    }
                }
            }
        });
        // A pool with a directory: `connect` (the hash alone) is deprecated for `connect_routed`.
        let runtime = if !db.is_d1() {
            quote!(::d1kit::__database_runtime!(#ident, durable);)
        } else if db.directory.is_some() {
            quote!(::d1kit::__database_runtime!(#ident, routed);)
        } else {
            quote!(::d1kit::__database_runtime!(#ident);)
        };
        Ok(quote! {
            #track
            impl ::d1kit::Database for #ident {
                const NAME: &'static str = #db_name;
                const BINDING: &'static str = #binding;
                const SHARDS: u32 = #shards;
                const FINGERPRINT: &'static str = #fingerprint;
                const MIGRATIONS: &'static [::d1kit::Migration] = &[#(#migrations),*];
                const LOCATION_HINT: ::std::option::Option<&'static str> = #location_hint;
                const JURISDICTION: ::std::option::Option<&'static str> = #jurisdiction;
                const DIRECTORY: ::std::option::Option<&'static str> = #directory;
                const DURABLE_OBJECT: ::std::option::Option<&'static str> = #durable_object;
            }
            #routing
            #runtime
        })
    });
    result
        .map_err(|f| failure_errors(f, "", span, span))
        .unwrap_or_else(Errors::into_tokens)
}
