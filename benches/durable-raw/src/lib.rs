//! examples/durable's handler on raw workers-rs, as it is commonly written: SQL strings,
//! `SqlStorageValue` bindings, serde rows, the schema created with `IF NOT EXISTS` in the
//! constructor. Nothing here is checked at compile time; it exists to measure what d1kit adds
//! to the wasm size.

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
}

impl DurableObject for UserNotes {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT)",
            None,
        );
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, r REAL NOT NULL, data BLOB NOT NULL)",
            None,
        );
        UserNotes { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let route: Vec<&str> = path.split('/').skip(3).collect();
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
                let rows: Vec<NameRow> = self
                    .sql
                    .exec("SELECT name FROM sqlite_schema ORDER BY name", None)?
                    .to_array()?;
                let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
                Response::from_json(&json!({ "schema": names }))
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
