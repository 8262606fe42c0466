//! d1kit on Cloudflare Workers: per-user notes over HTTP. Each user is routed to one of the
//! pool's D1 databases (`USERS_0`..) by `Users::connect_routed`, through the pool's directory
//! (`ROUTING`: pins, and the size tenants are hashed over, so that `d1kit reshard` can move
//! tenants while this Worker serves them), and every query is checked at compile time against
//! `migrations/`, including that it pins `owner` (the tenant column) to a parameter, so that
//! no user can read another's rows of a shared shard.
//!
//! Routes (JSON in and out; 64-bit integers travel as decimal strings, bytes as hex):
//! - `POST /users/:user/notes` `{title, body?}` → `{id, shard}`
//! - `GET  /users/:user/notes` → `{notes: [{id, title, body}]}`
//! - `POST /users/:user/samples` `{n: "<i64>", r, data: "<hex>"}` → `{id}`, or 400 naming the
//!   parameter when `n` is beyond what JavaScript holds exactly
//! - `POST /users/:user/samples/beyond-2-53` stores 2^53 + 1 with a SQL literal (no bind), so
//!   that reading it back shows the decode-side check
//! - `GET  /users/:user/samples` → `{samples: [{n, r, data}]}`, or 500 naming the column
//! - `POST /users/:user/notes/batch-then-fail` an atomic batch whose second statement fails:
//!   409, and the first statement's note is not kept
//! - `GET  /users/:user/session?bookmark=..` a D1 session → `{count, bookmark}`
//! - `GET  /admin/notes-per-user` every shard at once → `{users: [{owner, notes}]}`
//! - `POST /admin/pin/:user/:shard` pins a user to a shard in the directory (`ROUTING`), which
//!   every route consults before the hash (routers read it again within 2 s)
//!
//! A user being moved is refused with 503 and `retry: true` (`Error::TenantMoving`), as is any
//! other error d1kit calls transient: the client tries again.

#![forbid(unsafe_code)]

use d1kit::route::{Directory, TableDirectory};
use d1kit::worker::{Database, SessionStart};
use d1kit::Executor;
use serde_json::{json, Value as Json};
use worker::{event, Context, Env, Request, Response, Result, RouteContext, Router};

/// The pool of per-user databases: `users` in Cargo.toml, 4 shards bound as `USERS_<n>`.
#[derive(d1kit::Database)]
pub struct Users;

/// One user's notes, oldest first.
#[derive(d1kit::Query)]
#[d1(sql = "SELECT id, title, body FROM notes WHERE owner = :owner ORDER BY id")]
pub struct NotesOf<'a> {
    /// The user.
    pub owner: &'a str,
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Router::new()
        .post_async("/users/:user/notes", add_note)
        .get_async("/users/:user/notes", list_notes)
        .post_async("/users/:user/samples", add_sample)
        .post_async("/users/:user/samples/beyond-2-53", add_beyond_2_53)
        .get_async("/users/:user/samples", list_samples)
        .post_async("/users/:user/notes/batch-then-fail", batch_then_fail)
        .get_async("/users/:user/session", session)
        .get_async("/admin/notes-per-user", notes_per_user)
        .post_async("/admin/pin/:user/:shard", pin)
        .run(req, env)
        .await
}

/// The user in the path and their shard's database, as the directory routes them; or the
/// response that refuses the request (503 while the user is being moved).
async fn tenant(
    ctx: &RouteContext<()>,
) -> Result<std::result::Result<(String, Database), Response>> {
    let user = ctx.param("user").cloned().unwrap_or_default();
    Ok(match Users::connect_routed(&ctx.env, &user).await {
        Ok(db) => Ok((user, db)),
        Err(e) => Err(failed(500, e)?),
    })
}

/// The user and their database, or an early return of the refusal.
macro_rules! with_tenant {
    ($ctx:expr) => {
        match tenant(&$ctx).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(refusal),
        }
    };
}

fn rust_error(e: d1kit::Error) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// A d1kit error as a JSON response with `status`; an error worth retrying (a user being
/// moved, a busy database) is 503 with `retry: true` instead.
fn failed(status: u16, error: d1kit::Error) -> Result<Response> {
    let retry = error.is_transient();
    let status = if retry { 503 } else { status };
    Ok(
        Response::from_json(&json!({ "error": error.to_string(), "retry": retry }))?
            .with_status(status),
    )
}

async fn add_note(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    // Routed by hand (what `connect_routed` does), since the reply reports the shard.
    let user = ctx.param("user").cloned().unwrap_or_default();
    let shard = match d1kit::worker::shard_routed::<Users>(&ctx.env, &user).await {
        Ok(shard) => shard,
        Err(e) => return failed(500, e),
    };
    let db = Database::from_env(&ctx.env, &<Users as d1kit::Database>::binding_of(shard))
        .map_err(rust_error)?;
    let input: Json = req.json().await?;
    let title = input["title"].as_str().unwrap_or_default();
    let body = input["body"].as_str();
    let inserted = d1kit::sql!(
        "INSERT INTO notes (owner, title, body) VALUES (?1, ?2, ?3) RETURNING id",
        user.as_str(),
        title,
        body
    )
    .first(&db)
    .await;
    match inserted {
        Ok(Some(row)) => Response::from_json(&json!({ "id": row.id, "shard": shard })),
        Ok(None) => Response::error("the insert returned no row", 500),
        Err(e) => failed(400, e),
    }
}

async fn list_notes(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = with_tenant!(ctx);
    match db.all(NotesOf { owner: &user }).await {
        Ok(notes) => {
            let notes: Vec<Json> = notes
                .into_iter()
                .map(|n| json!({ "id": n.id, "title": n.title, "body": n.body }))
                .collect();
            Response::from_json(&json!({ "notes": notes }))
        }
        Err(e) => failed(500, e),
    }
}

async fn add_sample(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = with_tenant!(ctx);
    let input: Json = req.json().await?;
    let (Some(n), Some(r), Some(data)) = (
        input["n"].as_str().and_then(|n| n.parse::<i64>().ok()),
        input["r"].as_f64(),
        input["data"].as_str().and_then(from_hex),
    ) else {
        return Response::error("expected {n: \"<i64>\", r: <number>, data: \"<hex>\"}", 422);
    };
    let inserted = d1kit::sql!(
        "INSERT INTO samples (owner, n, r, data) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        user.as_str(),
        n,
        r,
        data
    )
    .first(&db)
    .await;
    match inserted {
        Ok(row) => Response::from_json(&json!({ "id": row.map(|r| r.id) })),
        Err(e) => failed(400, e),
    }
}

async fn add_beyond_2_53(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = with_tenant!(ctx);
    let inserted = d1kit::sql!(
        "INSERT INTO samples (owner, n, r, data) VALUES (?1, 9007199254740993, 0.5, X'00')",
        user.as_str()
    )
    .run(&db)
    .await;
    match inserted {
        Ok(meta) => Response::from_json(&json!({ "changes": meta.changes })),
        Err(e) => failed(500, e),
    }
}

async fn list_samples(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = with_tenant!(ctx);
    let rows = d1kit::sql!(
        "SELECT n, r, data FROM samples WHERE owner = ?1 ORDER BY id",
        user.as_str()
    )
    .all(&db)
    .await;
    match rows {
        Ok(rows) => {
            let samples: Vec<Json> = rows
                .into_iter()
                .map(|s| json!({ "n": s.n.to_string(), "r": s.r, "data": to_hex(&s.data) }))
                .collect();
            Response::from_json(&json!({ "samples": samples }))
        }
        Err(e) => failed(500, e),
    }
}

async fn batch_then_fail(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = with_tenant!(ctx);
    // The second insert breaks `title NOT NULL`: the batch is one transaction, so the first
    // note must not stay either.
    let outcome = db
        .batch((
            d1kit::sql!(
                "INSERT INTO notes (owner, title) VALUES (?1, 'kept only if the batch commits')",
                user.as_str()
            ),
            d1kit::sql!(
                "INSERT INTO notes (owner, title) VALUES (?1, CAST(NULL AS TEXT))",
                user.as_str()
            ),
        ))
        .await;
    match outcome {
        Ok(_) => Response::error("the batch unexpectedly committed", 500),
        Err(e) => failed(409, e),
    }
}

async fn session(req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = with_tenant!(ctx);
    let url = req.url()?;
    let bookmark = url
        .query_pairs()
        .find(|(k, _)| k == "bookmark")
        .map(|(_, v)| v.into_owned());
    let start = match &bookmark {
        Some(b) => SessionStart::Bookmark(b),
        None => SessionStart::FirstPrimary,
    };
    let counted = async {
        let session = db.session(start)?;
        let row = d1kit::sql!(
            "SELECT count(*) AS notes FROM notes WHERE owner = ?1",
            user.as_str()
        )
        .first(&session)
        .await?;
        Ok::<_, d1kit::Error>((row.map_or(0, |r| r.notes), session.bookmark()?))
    };
    match counted.await {
        Ok((count, bookmark)) => {
            Response::from_json(&json!({ "count": count, "bookmark": bookmark }))
        }
        Err(e) => failed(500, e),
    }
}

async fn notes_per_user(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let rows = Users::fan_out(&ctx.env, || {
        // Across tenants on purpose: the opt-out of the tenant-column check says so.
        d1kit::sql!(
            #[cross_tenant]
            "SELECT owner, count(*) AS notes FROM notes GROUP BY owner ORDER BY owner"
        )
    })
    .await;
    match rows {
        Ok(rows) => {
            let users: Vec<Json> = rows
                .into_iter()
                .map(|r| json!({ "owner": r.owner, "notes": r.notes }))
                .collect();
            Response::from_json(&json!({ "users": users }))
        }
        Err(e) => failed(500, e),
    }
}

async fn pin(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let user = ctx.param("user").cloned().unwrap_or_default();
    let Some(shard) = ctx.param("shard").and_then(|s| s.parse::<u32>().ok()) else {
        return Response::error("the shard must be a number", 422);
    };
    if shard >= <Users as d1kit::Database>::SHARDS {
        return Response::error(
            format!("there are {} shards", <Users as d1kit::Database>::SHARDS),
            422,
        );
    }
    let routing = Database::from_env(&ctx.env, "ROUTING").map_err(rust_error)?;
    TableDirectory::new(&routing)
        .pin(&user, shard)
        .await
        .map_err(rust_error)?;
    Response::from_json(&json!({ "user": user, "shard": shard }))
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
