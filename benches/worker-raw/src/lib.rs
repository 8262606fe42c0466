//! examples/worker's handler on raw workers-rs, as it is commonly written: SQL strings,
//! `bind(&[JsValue])`, serde rows, hand-written routing. Nothing here is checked at compile
//! time; it exists to measure what d1kit adds to the wasm size.

use serde::Deserialize;
use serde_json::{json, Value as Json};
use worker::wasm_bindgen::JsValue;
use worker::{event, Context, D1Database, Env, Request, Response, Result, RouteContext, Router};

const SHARDS: u32 = 4;

fn shard_for(key: &str) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(SHARDS) {
        b = j;
        hash = hash.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((hash >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[derive(Deserialize)]
struct IdRow {
    id: i64,
}

#[derive(Deserialize)]
struct NoteRow {
    id: i64,
    title: String,
    body: Option<String>,
}

#[derive(Deserialize)]
struct SampleRow {
    n: i64,
    r: f64,
    data: String,
}

#[derive(Deserialize)]
struct CountRow {
    notes: i64,
}

#[derive(Deserialize)]
struct OwnerCount {
    owner: String,
    notes: i64,
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

/// The user's shard: a pin in KV (`shard:<user>`) first, else the hash.
async fn shard_of(ctx: &RouteContext<()>, user: &str) -> Result<u32> {
    let pinned = ctx
        .env
        .kv("DIRECTORY")?
        .get(&format!("shard:{user}"))
        .text()
        .await?;
    Ok(pinned
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|s| *s < SHARDS)
        .unwrap_or_else(|| shard_for(user)))
}

async fn tenant(ctx: &RouteContext<()>) -> Result<(String, D1Database)> {
    let user = ctx.param("user").cloned().unwrap_or_default();
    let db = ctx
        .env
        .d1(&format!("USERS_{}", shard_of(ctx, &user).await?))?;
    Ok((user, db))
}

fn failed(status: u16, error: worker::Error) -> Result<Response> {
    Ok(Response::from_json(&json!({ "error": error.to_string() }))?.with_status(status))
}

async fn add_note(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = tenant(&ctx).await?;
    let input: Json = req.json().await?;
    let title = input["title"].as_str().unwrap_or_default();
    let body = input["body"].as_str().map_or(JsValue::NULL, JsValue::from);
    let inserted = db
        .prepare("INSERT INTO notes (owner, title, body) VALUES (?1, ?2, ?3) RETURNING id")
        .bind(&[user.as_str().into(), title.into(), body])?
        .first::<IdRow>(None)
        .await;
    match inserted {
        Ok(Some(row)) => {
            Response::from_json(&json!({ "id": row.id, "shard": shard_of(&ctx, &user).await? }))
        }
        Ok(None) => Response::error("the insert returned no row", 500),
        Err(e) => failed(400, e),
    }
}

async fn list_notes(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = tenant(&ctx).await?;
    let result = db
        .prepare("SELECT id, title, body FROM notes WHERE owner = ?1 ORDER BY id")
        .bind(&[user.as_str().into()])?
        .all()
        .await
        .and_then(|r| r.results::<NoteRow>());
    match result {
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
    let (user, db) = tenant(&ctx).await?;
    let input: Json = req.json().await?;
    let (Some(n), Some(r), Some(data)) = (
        input["n"].as_str().and_then(|n| n.parse::<i64>().ok()),
        input["r"].as_f64(),
        input["data"].as_str().and_then(from_hex),
    ) else {
        return Response::error("expected {n: \"<i64>\", r: <number>, data: \"<hex>\"}", 422);
    };
    let data = worker::js_sys::Uint8Array::from(&data[..]).buffer();
    let inserted = db
        .prepare("INSERT INTO samples (owner, n, r, data) VALUES (?1, ?2, ?3, ?4) RETURNING id")
        .bind(&[
            user.as_str().into(),
            JsValue::from_f64(n as f64),
            r.into(),
            data.into(),
        ])?
        .first::<IdRow>(None)
        .await;
    match inserted {
        Ok(row) => Response::from_json(&json!({ "id": row.map(|r| r.id) })),
        Err(e) => failed(400, e),
    }
}

async fn add_beyond_2_53(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = tenant(&ctx).await?;
    let result = db
        .prepare(
            "INSERT INTO samples (owner, n, r, data) VALUES (?1, 9007199254740993, 0.5, X'00')",
        )
        .bind(&[user.as_str().into()])?
        .run()
        .await;
    match result.and_then(|r| r.meta()) {
        Ok(meta) => Response::from_json(&json!({ "changes": meta.and_then(|m| m.changes) })),
        Err(e) => failed(500, e),
    }
}

async fn list_samples(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = tenant(&ctx).await?;
    let result = db
        .prepare("SELECT n, r, hex(data) AS data FROM samples WHERE owner = ?1 ORDER BY id")
        .bind(&[user.as_str().into()])?
        .all()
        .await
        .and_then(|r| r.results::<SampleRow>());
    match result {
        Ok(rows) => {
            let samples: Vec<Json> = rows
                .into_iter()
                .map(|s| json!({ "n": s.n.to_string(), "r": s.r, "data": s.data.to_lowercase() }))
                .collect();
            Response::from_json(&json!({ "samples": samples }))
        }
        Err(e) => failed(500, e),
    }
}

async fn batch_then_fail(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = tenant(&ctx).await?;
    let first = db
        .prepare("INSERT INTO notes (owner, title) VALUES (?1, 'kept only if the batch commits')")
        .bind(&[user.as_str().into()])?;
    let second = db
        .prepare("INSERT INTO notes (owner, title) VALUES (?1, CAST(NULL AS TEXT))")
        .bind(&[user.as_str().into()])?;
    match db.batch(vec![first, second]).await {
        Ok(_) => Response::error("the batch unexpectedly committed", 500),
        Err(e) => failed(409, e),
    }
}

async fn session(req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let (user, db) = tenant(&ctx).await?;
    let url = req.url()?;
    let bookmark = url
        .query_pairs()
        .find(|(k, _)| k == "bookmark")
        .map(|(_, v)| v.into_owned());
    let start = bookmark.unwrap_or_else(|| "first-primary".to_owned());
    let counted = async {
        let session = db.with_session(Some(&start))?;
        let row = session
            .prepare("SELECT count(*) AS notes FROM notes WHERE owner = ?1")
            .bind(&[user.as_str().into()])?
            .first::<CountRow>(None)
            .await?;
        Ok::<_, worker::Error>((row.map_or(0, |r| r.notes), session.get_bookmark()?))
    };
    match counted.await {
        Ok((count, bookmark)) => {
            Response::from_json(&json!({ "count": count, "bookmark": bookmark }))
        }
        Err(e) => failed(500, e),
    }
}

async fn notes_per_user(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let mut shards = Vec::new();
    for n in 0..SHARDS {
        shards.push(ctx.env.d1(&format!("USERS_{n}"))?);
    }
    let queries = shards.iter().map(|db| async move {
        db.prepare("SELECT owner, count(*) AS notes FROM notes GROUP BY owner ORDER BY owner")
            .all()
            .await?
            .results::<OwnerCount>()
    });
    match futures_util::future::try_join_all(queries).await {
        Ok(rows) => {
            let users: Vec<Json> = rows
                .into_iter()
                .flatten()
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
    if shard >= SHARDS {
        return Response::error(format!("there are {SHARDS} shards"), 422);
    }
    ctx.env
        .kv("DIRECTORY")?
        .put(&format!("shard:{user}"), shard.to_string())?
        .execute()
        .await?;
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
