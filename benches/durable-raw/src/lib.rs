//! examples/durable's handler on raw workers-rs, as it is commonly written: SQL strings,
//! `SqlStorageValue` bindings, serde rows, the same migration files applied by hand in the
//! constructor (recorded in wrangler's `d1_migrations` table, a failure kept and answered),
//! the same status route. Nothing here is checked at compile time, and its two-statement
//! "batch" is not atomic (workers-rs does not bind `transactionSync`); it exists to measure
//! what d1kit adds to the wasm size.

use serde::Deserialize;
use serde_json::{json, Value as Json};
use worker::{
    durable_object, event, Context, DurableObject, Env, Method, Request, Response, Result,
    SqlStorage, SqlStorageValue, State,
};

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
    data: Vec<u8>,
}

#[derive(Deserialize)]
struct NameRow {
    name: String,
}

#[derive(Deserialize)]
struct SchemaRow {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    sql: String,
}

/// examples/durable's migration files, in order.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_notes.sql",
        include_str!("../../../examples/durable/migrations/0001_notes.sql"),
    ),
    (
        "0002_samples.sql",
        include_str!("../../../examples/durable/migrations/0002_samples.sql"),
    ),
];

/// Applies the migrations `d1_migrations` does not list; the first failure, if any.
fn migrate(sql: &SqlStorage) -> Option<String> {
    let created = sql.exec(
        "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
        None,
    );
    if let Err(e) = created {
        return Some(e.to_string());
    }
    let applied: Vec<NameRow> = match sql
        .exec("SELECT name FROM d1_migrations ORDER BY id", None)
        .and_then(|c| c.to_array())
    {
        Ok(rows) => rows,
        Err(e) => return Some(e.to_string()),
    };
    for (name, text) in MIGRATIONS {
        if applied.iter().any(|a| a.name == *name) {
            continue;
        }
        if let Err(e) = sql.exec(text, None) {
            return Some(format!("migration {name} failed: {e}"));
        }
        if let Err(e) = sql.exec(
            "INSERT INTO d1_migrations (name) VALUES (?)",
            vec![SqlStorageValue::from(*name)],
        ) {
            return Some(format!("recording {name}: {e}"));
        }
    }
    None
}

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
    let stub = env
        .durable_object("NOTES")?
        .id_from_name(user)?
        .get_stub()?;
    stub.fetch_with_request(req).await
}

#[durable_object]
pub struct UserNotes {
    sql: SqlStorage,
    failed: Option<String>,
}

impl DurableObject for UserNotes {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let failed = migrate(&sql);
        UserNotes { sql, failed }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let route: Vec<&str> = path.split('/').skip(3).collect();
        if route != ["admin", "status"] {
            if let Some(e) = &self.failed {
                return Response::error(e.clone(), 500);
            }
        }
        match (req.method(), route.as_slice()) {
            (Method::Post, ["notes"]) => {
                let input: Json = req.json().await?;
                let title = input["title"].as_str().unwrap_or_default().to_string();
                let body: SqlStorageValue = input["body"].as_str().map(str::to_string).into();
                let rows: Vec<IdRow> = self
                    .sql
                    .exec(
                        "INSERT INTO notes (title, body) VALUES (?, ?) RETURNING id",
                        vec![title.into(), body],
                    )?
                    .to_array()?;
                Response::from_json(&json!({ "id": rows.first().map(|r| r.id) }))
            }
            (Method::Get, ["notes"]) => {
                let rows: Vec<NoteRow> = self
                    .sql
                    .exec("SELECT id, title, body FROM notes ORDER BY id", None)?
                    .to_array()?;
                let notes: Vec<Json> = rows
                    .iter()
                    .map(|n| json!({ "id": n.id, "title": n.title, "body": n.body }))
                    .collect();
                Response::from_json(&json!({ "notes": notes }))
            }
            (Method::Post, ["samples"]) => {
                let input: Json = req.json().await?;
                let (Some(n), Some(r), Some(data)) = (
                    input["n"].as_str().and_then(|n| n.parse::<i64>().ok()),
                    input["r"].as_f64(),
                    input["data"].as_str().and_then(from_hex),
                ) else {
                    return Response::error("bad sample", 422);
                };
                let n = match SqlStorageValue::try_from_i64(n) {
                    Ok(n) => n,
                    Err(e) => return Response::error(e.to_string(), 400),
                };
                let rows: Vec<IdRow> = self
                    .sql
                    .exec(
                        "INSERT INTO samples (n, r, data) VALUES (?, ?, ?) RETURNING id",
                        vec![n, r.into(), data.into()],
                    )?
                    .to_array()?;
                Response::from_json(&json!({ "id": rows.first().map(|r| r.id) }))
            }
            (Method::Post, ["samples", "beyond-2-53"]) => {
                self.sql.exec(
                    "INSERT INTO samples (n, r, data) VALUES (9007199254740993, 0.5, X'00')",
                    None,
                )?;
                Response::from_json(&json!({ "stored": true }))
            }
            (Method::Get, ["samples"]) => {
                let rows: Vec<SampleRow> = self
                    .sql
                    .exec("SELECT n, r, data FROM samples ORDER BY id", None)?
                    .to_array()?;
                let samples: Vec<Json> = rows
                    .iter()
                    .map(|s| json!({ "n": s.n.to_string(), "r": s.r, "data": to_hex(&s.data) }))
                    .collect();
                Response::from_json(&json!({ "samples": samples }))
            }
            (Method::Post, ["notes", "batch-then-fail"]) => {
                let first = self.sql.exec(
                    "INSERT INTO notes (id, title) VALUES (1000000, 'kept?')",
                    None,
                );
                let second = self.sql.exec(
                    "INSERT INTO notes (id, title) VALUES (1000000, 'duplicate')",
                    None,
                );
                match (first, second) {
                    (Ok(_), Ok(_)) => Response::error("the failing batch succeeded", 500),
                    (_, Err(e)) | (Err(e), _) => Response::error(e.to_string(), 409),
                }
            }
            (Method::Get, ["admin", "status"]) => {
                let applied: Vec<NameRow> = self
                    .sql
                    .exec("SELECT name FROM d1_migrations ORDER BY id", None)?
                    .to_array()?;
                let schema: Vec<SchemaRow> = self
                    .sql
                    .exec(
                        "SELECT type, name, coalesce(sql, '') AS sql FROM sqlite_schema \
                         WHERE name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_%' ESCAPE '\\' \
                         AND name <> 'd1_migrations' ORDER BY type, name",
                        None,
                    )?
                    .to_array()?;
                Response::from_json(&json!({
                    "applied": applied.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                    "failed": self.failed,
                    "schema": schema.iter().map(|r| json!([r.kind, r.name, r.sql])).collect::<Vec<_>>(),
                }))
            }
            _ => Response::error("no such route", 404),
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
