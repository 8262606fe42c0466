//! d1kit in Durable Objects: per-user notes, each user's data in the SQLite storage of their
//! own Durable Object (`UserNotes`, reached by `idFromName(user)`). Every query is checked at
//! compile time against `migrations/`; each object applies the migrations it has not applied
//! when it wakes, before it serves anything.
//!
//! The Worker forwards `/users/:user/...` to that user's object (`Notes::durable`). Routes
//! (JSON in and out; 64-bit integers travel as decimal strings, bytes as hex):
//! - `POST /users/:user/notes` `{title, body?}` → `{id}`
//! - `GET  /users/:user/notes` → `{notes: [{id, title, body}]}`
//! - `POST /users/:user/samples` `{n: "<i64>", r, data: "<hex>"}` → `{id}`, or 400 naming the
//!   parameter when `n` is beyond what JavaScript holds exactly
//! - `POST /users/:user/samples/beyond-2-53` stores 2^53 + 1 with a SQL literal (no bind), so
//!   that reading it back shows the decode-side check
//! - `GET  /users/:user/samples` → `{samples: [{n, r, data}]}`, or 500 naming the column
//! - `POST /users/:user/notes/batch-then-fail` an atomic batch whose second statement fails:
//!   409, and the first statement's note is not kept
//! - `GET  /users/:user/admin/status` → where the object stands: `{applied, pending, edited,
//!   unknown, failed, schema}` (objects cannot be listed from outside: each reports itself)
//!
//! An object whose migration failed answers every route but `admin/status` with 500 and the
//! error naming the migration.

#![forbid(unsafe_code)]

use d1kit::durable;
use d1kit::Executor;
use serde_json::{json, Value as Json};
use worker::{
    durable_object, event, Context, DurableObject, Env, Method, Request, Response, Result, State,
};

/// Every user's database: `notes` in Cargo.toml, one `UserNotes` object per user, bound as
/// `NOTES`.
#[derive(d1kit::Database)]
pub struct Notes;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let Some(user) = path
        .strip_prefix("/users/")
        .and_then(|rest| rest.split('/').next())
        .filter(|u| !u.is_empty())
    else {
        return Response::error("expected /users/:user/...", 404);
    };
    let stub = Notes::durable(&env, user).map_err(rust_error)?;
    stub.fetch_with_request(req).await
}

/// One user's Durable Object: their database, migrated when the object wakes.
#[durable_object]
pub struct UserNotes {
    db: durable::Database,
}

impl DurableObject for UserNotes {
    fn new(state: State, _env: Env) -> Self {
        UserNotes {
            db: durable::Database::open::<Notes>(&state),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        let route: Vec<&str> = path.split('/').skip(3).collect();
        if route == ["admin", "status"] {
            return self.status();
        }
        if let Some(e) = self.db.failure() {
            return failed(500, e);
        }
        match (req.method(), route.as_slice()) {
            (Method::Post, ["notes"]) => self.add_note(req).await,
            (Method::Get, ["notes"]) => self.list_notes().await,
            (Method::Post, ["samples"]) => self.add_sample(req).await,
            (Method::Post, ["samples", "beyond-2-53"]) => self.add_beyond_2_53().await,
            (Method::Get, ["samples"]) => self.list_samples().await,
            (Method::Post, ["notes", "batch-then-fail"]) => self.batch_then_fail().await,
            _ => Response::error("no such route", 404),
        }
    }
}

fn rust_error(e: d1kit::Error) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// A d1kit error as a JSON response with `status`.
fn failed(status: u16, error: d1kit::Error) -> Result<Response> {
    Ok(Response::from_json(&json!({ "error": error.to_string() }))?.with_status(status))
}

impl UserNotes {
    async fn add_note(&self, mut req: Request) -> Result<Response> {
        let input: Json = req.json().await?;
        let title = input["title"].as_str().unwrap_or_default();
        let body = input["body"].as_str();
        let inserted = d1kit::sql!(
            "INSERT INTO notes (title, body) VALUES (?1, ?2) RETURNING id",
            title,
            body
        )
        .first(&self.db)
        .await;
        match inserted {
            Ok(Some(row)) => Response::from_json(&json!({ "id": row.id })),
            Ok(None) => Response::error("no id returned", 500),
            Err(e) => failed(500, e),
        }
    }

    async fn list_notes(&self) -> Result<Response> {
        match d1kit::sql!("SELECT id, title, body FROM notes ORDER BY id")
            .all(&self.db)
            .await
        {
            Ok(rows) => {
                let notes: Vec<Json> = rows
                    .iter()
                    .map(|n| json!({ "id": n.id, "title": n.title, "body": n.body }))
                    .collect();
                Response::from_json(&json!({ "notes": notes }))
            }
            Err(e) => failed(500, e),
        }
    }

    async fn add_sample(&self, mut req: Request) -> Result<Response> {
        let input: Json = req.json().await?;
        let (Some(n), Some(r), Some(data)) = (
            input["n"].as_str().and_then(|n| n.parse::<i64>().ok()),
            input["r"].as_f64(),
            input["data"].as_str().and_then(from_hex),
        ) else {
            return Response::error("expected {n: \"<i64>\", r: <number>, data: \"<hex>\"}", 422);
        };
        let inserted = d1kit::sql!(
            "INSERT INTO samples (n, r, data) VALUES (?1, ?2, ?3) RETURNING id",
            n,
            r,
            data
        )
        .first(&self.db)
        .await;
        match inserted {
            Ok(Some(row)) => Response::from_json(&json!({ "id": row.id })),
            Ok(None) => Response::error("no id returned", 500),
            Err(e) => failed(400, e),
        }
    }

    async fn add_beyond_2_53(&self) -> Result<Response> {
        match d1kit::sql!("INSERT INTO samples (n, r, data) VALUES (9007199254740993, 0.5, X'00')")
            .run(&self.db)
            .await
        {
            Ok(_) => Response::from_json(&json!({ "stored": true })),
            Err(e) => failed(500, e),
        }
    }

    async fn list_samples(&self) -> Result<Response> {
        match d1kit::sql!("SELECT n, r, data FROM samples ORDER BY id")
            .all(&self.db)
            .await
        {
            Ok(rows) => {
                let samples: Vec<Json> = rows
                    .iter()
                    .map(|s| json!({ "n": s.n.to_string(), "r": s.r, "data": to_hex(&s.data) }))
                    .collect();
                Response::from_json(&json!({ "samples": samples }))
            }
            Err(e) => failed(500, e),
        }
    }

    /// An atomic batch whose second statement fails (a duplicate primary key): nothing of it
    /// stays.
    async fn batch_then_fail(&self) -> Result<Response> {
        let batch = self
            .db
            .batch((
                d1kit::sql!("INSERT INTO notes (id, title) VALUES (1000000, 'kept?')"),
                d1kit::sql!("INSERT INTO notes (id, title) VALUES (1000000, 'duplicate')"),
            ))
            .await;
        match batch {
            Ok(_) => Response::error("the failing batch succeeded", 500),
            Err(e) => failed(409, e),
        }
    }

    fn status(&self) -> Result<Response> {
        match self.db.status::<Notes>() {
            Ok(s) => Response::from_json(&json!({
                "applied": s.applied,
                "pending": s.pending,
                "edited": s.edited.iter().map(|(name, _, _)| name).collect::<Vec<_>>(),
                "unknown": s.unknown,
                "failed": s.failed.map(|(name, message)| json!({ "migration": name, "error": message })),
                "schema": s.schema.iter().map(|(kind, name, sql)| json!([kind, name, sql])).collect::<Vec<_>>(),
            })),
            Err(e) => failed(500, e),
        }
    }
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
