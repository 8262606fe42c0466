//! The HTTP side: routing, counting, the checks every request goes through, and answering.
//!
//! The checks, in order: injected failures, the route, authentication, the account, the rate
//! limit (GraphQL's own for GraphQL), transient failures and latency. Signed URLs (the
//! fake's object store, standing for R2) go through none of them.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::Value;

use crate::export::export;
use crate::faults::Failure;
use crate::format::percent_decode;
use crate::graphql;
use crate::import::import;
use crate::manage::{create, describe, list, lookup, lookup_id_or_name, update};
use crate::presigned::{self, PRESIGNED_PREFIX};
use crate::query::run_query;
use crate::reply::Reply;
use crate::state::{lock, Shared};
use crate::timetravel::{bookmark, restore};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    List,
    Get,
    Delete,
    Update,
    Query,
    Raw,
    Export,
    Import,
    TimeTravel,
    Graphql,
    Presigned,
    Other,
}

enum Route {
    Create,
    List,
    Get(String),
    Delete(String),
    /// `PUT` (`true`) or `PATCH` (`false`) of one database.
    Update(String, bool),
    Query(String, bool),
    Export(String),
    Import(String),
    Bookmark(String),
    Restore(String),
    Graphql,
    /// A signed URL of the fake's object store (the path below `/presigned/`).
    Presigned,
    MethodNotAllowed,
    Unrouted,
}

impl Route {
    fn kind(&self) -> Kind {
        match self {
            Route::Create => Kind::Create,
            Route::List => Kind::List,
            Route::Get(_) => Kind::Get,
            Route::Delete(_) => Kind::Delete,
            Route::Update(..) => Kind::Update,
            Route::Query(_, false) => Kind::Query,
            Route::Query(_, true) => Kind::Raw,
            Route::Export(_) => Kind::Export,
            Route::Import(_) => Kind::Import,
            Route::Bookmark(_) | Route::Restore(_) => Kind::TimeTravel,
            Route::Graphql => Kind::Graphql,
            Route::Presigned => Kind::Presigned,
            Route::MethodNotAllowed | Route::Unrouted => Kind::Other,
        }
    }
}

/// Splits `/client/v4/accounts/{account}/d1/database…` into the account and the route;
/// GraphQL and signed URLs have no account.
fn route(method: &tiny_http::Method, path: &str) -> (Option<String>, Route) {
    use tiny_http::Method::{Delete, Get, Patch, Post, Put};
    if path.starts_with(PRESIGNED_PREFIX) {
        return (None, Route::Presigned);
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    if path == "/client/v4/graphql" {
        let route = match method {
            Post => Route::Graphql,
            _ => Route::MethodNotAllowed,
        };
        return (None, route);
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let ["client", "v4", "accounts", account, "d1", "database", rest @ ..] = segments.as_slice()
    else {
        return (None, Route::Unrouted);
    };
    let account = Some(percent_decode(account));
    let route = match (rest, method) {
        ([], Post) => Route::Create,
        ([], Get) => Route::List,
        ([id], Get) => Route::Get(percent_decode(id)),
        ([id], Delete) => Route::Delete(percent_decode(id)),
        ([id], Put) => Route::Update(percent_decode(id), true),
        ([id], Patch) => Route::Update(percent_decode(id), false),
        ([id, "query"], Post) => Route::Query(percent_decode(id), false),
        ([id, "raw"], Post) => Route::Query(percent_decode(id), true),
        ([id, "export"], Post) => Route::Export(percent_decode(id)),
        ([id, "import"], Post) => Route::Import(percent_decode(id)),
        ([id, "time_travel", "bookmark"], Get) => Route::Bookmark(percent_decode(id)),
        ([id, "time_travel", "restore"], Post) => Route::Restore(percent_decode(id)),
        (
            []
            | [_]
            | [_, "query" | "raw" | "export" | "import"]
            | [_, "time_travel", "bookmark" | "restore"],
            _,
        ) => Route::MethodNotAllowed,
        _ => Route::Unrouted,
    };
    (account, route)
}

pub(crate) fn handle(shared: &Shared, mut request: tiny_http::Request) {
    let received = Instant::now();
    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let (account, route) = route(request.method(), path);
    {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        stats.first_request.get_or_insert(received);
        stats.last_request = Some(received);
        stats.max_concurrent = stats.max_concurrent.max(in_flight);
        match route.kind() {
            Kind::Create => stats.create += 1,
            Kind::List => stats.list += 1,
            Kind::Get => stats.get += 1,
            Kind::Delete => stats.delete += 1,
            Kind::Update => stats.update += 1,
            Kind::Query => stats.query += 1,
            Kind::Raw => stats.raw += 1,
            Kind::Export => stats.export += 1,
            Kind::Import => stats.import += 1,
            Kind::TimeTravel => stats.time_travel += 1,
            Kind::Graphql => stats.graphql += 1,
            Kind::Presigned => stats.presigned += 1,
            Kind::Other => stats.other += 1,
        }
    }

    let reply = match route {
        // The object store is not the API: none of its checks, failures or latency.
        Route::Presigned => presigned::serve(shared, &mut request, path, query),
        route => process(shared, &mut request, account, route, query),
    };

    {
        let mut stats = lock(&shared.stats);
        match reply.status {
            429 => stats.responses_429 += 1,
            500.. => stats.responses_5xx += 1,
            400.. => stats.responses_4xx += 1,
            _ => {}
        }
    }
    let mut response = tiny_http::Response::from_data(reply.body.into_bytes())
        .with_status_code(reply.status)
        .with_header(header("Content-Type", reply.content_type));
    if let Some(secs) = reply.retry_after {
        response.add_header(header("retry-after", &secs.to_string()));
    }
    for (name, value) in &reply.headers {
        response.add_header(header(name, value));
    }
    // Out of flight before the client can see the answer, so a client sending its requests one
    // after another never looks concurrent.
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("d1-fake: a header")
}

fn process(
    shared: &Shared,
    request: &mut tiny_http::Request,
    account: Option<String>,
    route: Route,
    query: &str,
) -> Reply {
    // Injected failures come first: before auth, the window and any effect.
    let injected = lock(&shared.request_failures).pop_front();
    match injected {
        Some(Failure::RateLimited { retry_after_secs }) => {
            return Reply::rate_limited(
                retry_after_secs,
                "More than 1200 requests per 300 seconds reached. Please wait and consider \
                 throttling your request speed",
            );
        }
        Some(Failure::Transient) => {
            shared.sleep_latency();
            return Reply::internal_error();
        }
        Some(Failure::BadGateway) => {
            shared.sleep_latency();
            return Reply::bad_gateway();
        }
        Some(Failure::TransientAfterEffect) => {
            // The request goes through as any other, its effect stays, its answer is lost.
            drop(answer(shared, request, account, route, query));
            return Reply::internal_error();
        }
        None => {}
    }
    answer(shared, request, account, route, query)
}

/// The request's real answer: the checks after injected failures, then the endpoint.
fn answer(
    shared: &Shared,
    request: &mut tiny_http::Request,
    account: Option<String>,
    route: Route,
    query: &str,
) -> Reply {
    let token = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let graphql = matches!(route, Route::Graphql);
    if account.is_none() && !graphql {
        shared.sleep_latency();
        return match route {
            Route::MethodNotAllowed => Reply::error(405, 7001, "Method not allowed"),
            _ => Reply::error(404, 7000, "No route for that URI"),
        };
    }
    if token.as_deref() != Some(shared.token.as_str()) {
        shared.sleep_latency();
        return Reply::error(403, 10000, "Authentication error");
    }
    if account.is_some_and(|account| account != shared.account_id) {
        shared.sleep_latency();
        return Reply::error(
            403,
            7403,
            "The given account is not valid or is not authorized to access this service",
        );
    }
    let admitted = if graphql {
        shared.admit_graphql(&shared.token)
    } else {
        shared.admit(&shared.token)
    };
    if let Err((retry_after, limit)) = admitted {
        let per = limit.per.as_secs_f64();
        return Reply::rate_limited(
            retry_after,
            &format!(
                "More than {} requests per {per} seconds reached. Please wait and consider \
                 throttling your request speed",
                limit.requests
            ),
        );
    }
    let rate = *lock(&shared.transient_failure_rate);
    let fail = rate > 0.0 && lock(&shared.rng).next_f64() < rate;
    shared.sleep_latency();
    if fail {
        return Reply::internal_error();
    }

    let mut body = Vec::new();
    if matches!(
        route,
        Route::Create
            | Route::Update(..)
            | Route::Query(..)
            | Route::Export(_)
            | Route::Import(_)
            | Route::Graphql
    ) && request.as_reader().read_to_end(&mut body).is_err()
    {
        return Reply::error(400, 7400, "The request body could not be read");
    }
    match route {
        Route::Create => create(shared, &body),
        Route::List => list(shared, query),
        Route::Get(id) => match lookup_id_or_name(shared, &id) {
            Ok(db) => Reply::ok(describe(&db, true)),
            Err(reply) => reply,
        },
        Route::Delete(id) => match lookup(shared, &id) {
            Ok(db) => {
                {
                    let mut account = lock(&shared.account);
                    if let Some(seq) = account.by_uuid.remove(&db.uuid) {
                        account.by_seq.remove(&seq);
                        account.by_name.remove(&db.name);
                    }
                }
                // Its pending export or import and its Time Travel history go with it.
                db.forget();
                Reply::ok(Value::Null)
            }
            Err(reply) => reply,
        },
        Route::Update(id, put) => match lookup(shared, &id) {
            Ok(db) => update(&db, &body, put),
            Err(reply) => reply,
        },
        Route::Query(id, raw) => match lookup(shared, &id) {
            Ok(db) => run_query(shared, &db, &body, raw),
            Err(reply) => reply,
        },
        Route::Export(id) => match lookup(shared, &id) {
            Ok(db) => export(shared, &db, &body),
            Err(reply) => reply,
        },
        Route::Import(id) => match lookup(shared, &id) {
            Ok(db) => import(shared, &db, &body),
            Err(reply) => reply,
        },
        Route::Bookmark(id) => match lookup(shared, &id) {
            Ok(db) => bookmark(shared, &db, query),
            Err(reply) => reply,
        },
        Route::Restore(id) => match lookup(shared, &id) {
            Ok(db) => restore(shared, &db, query),
            Err(reply) => reply,
        },
        Route::Graphql => graphql::serve(shared, &body),
        Route::MethodNotAllowed => Reply::error(405, 7001, "Method not allowed"),
        Route::Unrouted | Route::Presigned => Reply::error(404, 7000, "No route for that URI"),
    }
}
