//! Macro input → the plain data `d1_codegen::expand` takes.

use d1_codegen::expand::{self, QueryAttrs, QueryCall, RowField, RowStruct};
use d1_codegen::lint::QueryOptions;
use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::{Data, DeriveInput, Error, Fields, LitStr, Result};

/// Splits tokens at top-level commas (groups are single tokens, so nested commas stay).
fn split_commas(tokens: TokenStream) -> Vec<TokenStream> {
    let mut parts = vec![TokenStream::new()];
    for t in tokens {
        match &t {
            TokenTree::Punct(p) if p.as_char() == ',' => parts.push(TokenStream::new()),
            _ => parts.last_mut().expect("never empty").extend([t]),
        }
    }
    if parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// A string literal of the macro's input: its value, and where it is.
struct Lit {
    value: String,
    span: Span,
}

/// The string literal `tokens` are, if they are one (possibly inside an invisible group, as a
/// `macro_rules!` fragment forwards it).
///
/// A plain `"..."` without escapes, what almost every query is, is its own value; anything else
/// (escapes, raw strings, suffixes, byte strings, which are not strings) is left to syn. syn's
/// general parsing runs unoptimized in the macros and showed in their profile.
fn lit_str(tokens: &TokenStream) -> Option<Lit> {
    let mut it = tokens.clone().into_iter();
    let lit = match (it.next(), it.next()) {
        (Some(TokenTree::Literal(lit)), None) => lit,
        (Some(TokenTree::Group(g)), None) if g.delimiter() == Delimiter::None => {
            return lit_str(&g.stream());
        }
        _ => return None,
    };
    let repr = lit.to_string();
    if let Some(inner) = repr.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if !inner.contains('\\') {
            return Some(Lit {
                value: inner.to_owned(),
                span: lit.span(),
            });
        }
    }
    let parsed = syn::parse2::<LitStr>(TokenTree::Literal(lit).into()).ok()?;
    Some(Lit {
        value: parsed.value(),
        span: parsed.span(),
    })
}

fn single_ident(tokens: &TokenStream) -> Option<Ident> {
    let mut it = tokens.clone().into_iter();
    match (it.next(), it.next()) {
        (Some(TokenTree::Ident(i)), None) => Some(i),
        _ => None,
    }
}

/// The options a query may start with, as attributes: `#[cross_tenant]` (the query may cross
/// tenants: the tenant column is not checked) and `#[allow(full_scan)]` (a plan that reads a
/// whole table is no error for it). An attribute cannot be mistaken for a database's name.
/// Returns them, and the tokens after them.
fn options(input: TokenStream) -> Result<(QueryOptions, TokenStream)> {
    let mut options = QueryOptions::default();
    let mut rest = input.into_iter().peekable();
    while matches!(rest.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '#') {
        let hash = rest.next().expect("peeked");
        let group = match rest.next() {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => g,
            other => {
                let span = other.as_ref().map_or(hash.span(), TokenTree::span);
                return Err(Error::new(
                    span,
                    "expected an option: `#[cross_tenant]` or `#[allow(full_scan)]`",
                ));
            }
        };
        let mut inner = group.stream().into_iter();
        match (inner.next(), inner.next(), inner.next()) {
            (Some(TokenTree::Ident(i)), None, None) if i == "cross_tenant" => {
                options.cross_tenant = true;
            }
            (Some(TokenTree::Ident(i)), Some(TokenTree::Group(lints)), None)
                if i == "allow"
                    && lints.delimiter() == Delimiter::Parenthesis
                    && single_ident(&lints.stream()).is_some_and(|l| l == "full_scan") =>
            {
                options.allow_full_scan = true;
            }
            _ => {
                return Err(Error::new(
                    group.span(),
                    format!(
                        "unknown option `#[{}]`; the options are `#[cross_tenant]` (the query may cross tenants: the tenant column is not checked) and `#[allow(full_scan)]` (a plan that reads every row of a table is no error for this query)",
                        group.stream()
                    ),
                ))
            }
        }
    }
    Ok((options, rest.collect()))
}

/// `[#[option]..] [database,] "SQL" [, args..]` (with `has_type`: `[..] [database,] Type,
/// "SQL", args..`).
pub fn query_call(input: TokenStream, has_type: bool) -> Result<(QueryCall, Option<TokenStream>)> {
    let usage = if has_type {
        "expected `sql_as!(Type, \"SQL\", args..)` or `sql_as!(database, Type, \"SQL\", args..)`"
    } else {
        "expected `sql!(\"SQL\", args..)` or `sql!(database, \"SQL\", args..)`"
    };
    let (options, input) = options(input)?;
    let all = split_commas(input);
    let (lit_at, lit) = all
        .iter()
        .enumerate()
        .find_map(|(i, p)| Some((i, lit_str(p)?)))
        .ok_or_else(|| Error::new(Span::call_site(), usage))?;
    let want_before = if has_type { 1 } else { 0 };
    let Some(extra) = lit_at.checked_sub(want_before) else {
        // `sql_as!("SELECT ..")`: the row type is missing before the SQL.
        return Err(Error::new(
            lit.span,
            "`sql_as!` needs the row type before the SQL: `sql_as!(Type, \"SQL\", args..)` (or `sql!(\"SQL\", args..)`, whose row type is generated)",
        ));
    };
    let (database, ty) = match (extra, has_type) {
        (0, false) => (None, None),
        (0, true) => (None, Some(all[0].clone())),
        (1, has_type) => {
            let db = single_ident(&all[0]).ok_or_else(|| {
                Error::new(
                    expand::first_span(&all[0]),
                    "expected the database's name (an identifier)",
                )
            })?;
            (
                Some((db.to_string(), db.span())),
                has_type.then(|| all[1].clone()),
            )
        }
        _ => return Err(Error::new(expand::first_span(&all[0]), usage)),
    };
    // `sql!("notes", "SELECT ..")`: a lone word before a second string is a database name.
    let first = lit.value;
    let lone_word =
        !first.is_empty() && first.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
    if lone_word && all.get(lit_at + 1).and_then(lit_str).is_some() {
        return Err(Error::new(
            lit.span,
            format!(
                "the database is named by an identifier, not a string: `sql!({first}, \"...\")`"
            ),
        ));
    }
    let call = QueryCall {
        database,
        sql: first,
        sql_span: lit.span,
        args: all[lit_at + 1..].to_vec(),
        options,
    };
    Ok((call, ty))
}

/// `sql_as!(Type, ..)` → `Type`'s trampoline, which calls `__sql_as!` with the field list.
pub fn sql_as(input: TokenStream) -> Result<TokenStream> {
    let (call, ty) = query_call(input.clone(), true)?;
    let ty = ty.expect("has_type");
    let tramp = expand::trampoline_path(&ty).ok_or_else(|| {
        Error::new(
            expand::first_span(&ty),
            "expected the name of a `#[derive(Row)]` struct",
        )
    })?;
    let db = call.database.as_ref().map(|(n, s)| Ident::new(n, *s));
    let mut rest = expand::option_attributes(call.options);
    let lit_and_args = split_commas(input)
        .into_iter()
        .skip_while(|p| lit_str(p).is_none())
        .collect::<Vec<_>>();
    for (i, p) in lit_and_args.into_iter().enumerate() {
        if i > 0 {
            rest.extend(quote!(,));
        }
        rest.extend(p);
    }
    // The bound names a type without `#[derive(Row)]` as such; its trampoline is then missing
    // too, which rustc reports as an unknown macro.
    Ok(quote!({
        const _: () = ::d1kit::__private::assert_row::<#ty>();
        #tramp!{ @query (#ty) (#db) #rest }
    }))
}

/// What a trampoline passes on: `[Name { field: Type, .. }] @query (Path) (db?) "SQL", args..`
/// or `[..] @check (db?) "SQL"`.
pub fn sql_as_with_fields(input: TokenStream) -> Result<TokenStream> {
    let mut it = input.into_iter();
    let Some(TokenTree::Group(fields_group)) = it.next() else {
        return Err(Error::new(
            Span::call_site(),
            "d1kit internal: expected [fields]",
        ));
    };
    let mut inner = fields_group.stream().into_iter();
    let (Some(TokenTree::Ident(ident)), Some(TokenTree::Group(body))) =
        (inner.next(), inner.next())
    else {
        return Err(Error::new(
            Span::call_site(),
            "d1kit internal: expected Name { .. }",
        ));
    };
    let fields = split_commas(body.stream())
        .into_iter()
        .filter_map(|f| {
            let mut t = f.into_iter();
            let name = match t.next()? {
                TokenTree::Ident(i) => i,
                _ => return None,
            };
            t.next(); // `:`
            Some(RowField {
                name,
                ty: t.collect(),
            })
        })
        .collect();
    let _at = it.next();
    let mode = match it.next() {
        Some(TokenTree::Ident(m)) => m.to_string(),
        _ => String::new(),
    };
    let mut group = || match it.next() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => Ok(g.stream()),
        _ => Err(Error::new(
            Span::call_site(),
            "d1kit internal: expected (..)",
        )),
    };
    let path = if mode == "query" {
        group()?
    } else {
        TokenStream::new()
    };
    let db = group()?;
    // The options travel after the database group; the call wants them first.
    let (options, rest) = options(it.collect())?;
    let row = RowStruct {
        path,
        ident,
        fields,
    };
    let mut call_input = expand::option_attributes(options);
    call_input.extend(db.clone());
    if !db.is_empty() {
        call_input.extend(quote!(,));
    }
    call_input.extend(rest);
    let (call, _) = query_call(call_input, false)?;
    Ok(if mode == "query" {
        expand::sql_as(&call, &row)
    } else {
        let db = call.database.as_ref().map(|(n, _)| n.as_str());
        expand::check_row(db, &call.sql, call.sql_span, call.options, &row)
    })
}

fn named_fields(input: &DeriveInput, what: &str) -> Result<Vec<RowField>> {
    let Data::Struct(data) = &input.data else {
        return Err(Error::new(
            input.ident.span(),
            format!("#[derive({what})] works on structs with named fields"),
        ));
    };
    match &data.fields {
        Fields::Named(named) => Ok(named
            .named
            .iter()
            .map(|f| RowField {
                name: f.ident.clone().expect("named field"),
                ty: f.ty.to_token_stream(),
            })
            .collect()),
        Fields::Unit if what == "Query" => Ok(Vec::new()),
        _ => Err(Error::new(
            input.ident.span(),
            format!("#[derive({what})] works on structs with named fields"),
        )),
    }
}

pub fn derive_row(input: TokenStream) -> Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let fields = named_fields(&input, "Row")?;
    let (i, t, w) = input.generics.split_for_impl();
    let g = (
        i.to_token_stream(),
        t.to_token_stream(),
        w.to_token_stream(),
    );
    Ok(expand::derive_row(
        &input.ident,
        (&g.0, &g.1, &g.2),
        &fields,
    ))
}

pub fn derive_query(input: TokenStream) -> Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let fields = named_fields(&input, "Query")?;
    let mut sql: Option<LitStr> = None;
    let mut database = None;
    let mut row = None;
    let mut options = QueryOptions::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("d1")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("cross_tenant") {
                options.cross_tenant = true;
            } else if meta.path.is_ident("allow") {
                meta.parse_nested_meta(|lint| {
                    if lint.path.is_ident("full_scan") {
                        options.allow_full_scan = true;
                        Ok(())
                    } else {
                        Err(lint.error("unknown lint; a query can allow `full_scan` only"))
                    }
                })?;
            } else if meta.path.is_ident("sql") {
                sql = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("database") {
                let lit: LitStr = meta.value()?.parse()?;
                database = Some((lit.value(), lit.span()));
            } else if meta.path.is_ident("row") {
                let ty: syn::Path = meta.value()?.parse()?;
                row = Some(ty.to_token_stream());
            } else {
                return Err(meta.error(
                    "unknown d1 attribute; expected `sql = \"...\"`, `database = \"name\"`, `row = Type`, `cross_tenant` or `allow(full_scan)`",
                ));
            }
            Ok(())
        })?;
    }
    let sql = sql.ok_or_else(|| {
        Error::new(
            input.ident.span(),
            "#[derive(Query)] needs the SQL: #[d1(sql = \"SELECT ... WHERE owner = :owner\")]",
        )
    })?;
    let attrs = QueryAttrs {
        sql: sql.value(),
        sql_span: sql.span(),
        database,
        row,
        options,
    };
    let (i, t, w) = input.generics.split_for_impl();
    let g = (
        i.to_token_stream(),
        t.to_token_stream(),
        w.to_token_stream(),
    );
    Ok(expand::derive_query(
        &input.vis.to_token_stream(),
        &input.ident,
        (&g.0, &g.1, &g.2),
        &fields,
        &attrs,
    ))
}

pub fn derive_database(input: TokenStream) -> Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let mut name: Option<LitStr> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("d1")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown d1 attribute; expected `name = \"...\"`"))
            }
        })?;
    }
    let name = name.as_ref().map(|l| (l.value(), l.span()));
    Ok(expand::derive_database(
        &input.ident,
        name.as_ref().map(|(n, s)| (n.as_str(), *s)),
    ))
}
