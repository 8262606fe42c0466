//! `POST …/database/{uuid}/import`: `init` (a signed upload URL, unless the file is already
//! uploaded), `ingest` (runs the uploaded file) and `poll`.
//!
//! The file runs as one transaction, foreign keys deferred: an error leaves nothing. It runs
//! when the import starts; the database then refuses queries until the import completes
//! (polled [`Options::import_polls`](crate::Options::import_polls) times, or left unpolled
//! for a minute), and a successful import records a Time Travel snapshot.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::format::md5_hex;
use crate::jobs::{Job, JobKind, Outcome, Poll};
use crate::manage::database_size;
use crate::query::execute_script;
use crate::reply::Reply;
use crate::state::{lock, Database, Shared};

fn bad(message: &str) -> Reply {
    Reply::error(400, 7400, message)
}

fn string<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, Reply> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(&format!("Invalid {name}: a string is required")))
}

/// An md5 in hex, lowercased.
fn etag(body: &Map<String, Value>) -> Result<String, Reply> {
    let etag = string(body, "etag")?;
    if etag.len() != 32 || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(&format!(
            "Invalid etag {etag:?}: the md5 of the file in hex (32 digits) is expected"
        )));
    }
    Ok(etag.to_ascii_lowercase())
}

pub(crate) fn import(shared: &Shared, db: &Database, body: &[u8]) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return bad(
            "The request body must be a JSON object {\"action\": \"init\" | \"ingest\" | \
             \"poll\", …}",
        );
    };
    let outcome = match body.get("action").and_then(Value::as_str) {
        Some("init") => init(shared, db, &body),
        Some("ingest") => ingest(shared, db, &body),
        Some("poll") => poll(shared, db, &body),
        _ => Err(bad(&format!(
            "Invalid action: {} is not one of init, ingest, poll",
            body.get("action").unwrap_or(&Value::Null)
        ))),
    };
    outcome.unwrap_or_else(|reply| reply)
}

/// An import that could not start (the upload is missing or is not the file announced).
fn failure(error: String) -> Reply {
    Reply::ok(json!({
        "error": error,
        "messages": [],
        "status": "error",
        "success": false,
        "type": "import",
    }))
}

fn init(shared: &Shared, db: &Database, body: &Map<String, Value>) -> Result<Reply, Reply> {
    let etag = etag(body)?;
    if let Some(upload) = shared.upload(&etag) {
        if let Some(bytes) = upload.bytes.filter(|b| md5_hex(b) == etag) {
            return Ok(start(shared, db, &upload.filename, &bytes));
        }
    }
    let (filename, upload_url) = shared.presign_upload(&etag);
    Ok(Reply::ok(json!({
        "filename": filename,
        "messages": [format!("Upload {filename} to the upload_url, then ingest it")],
        "success": true,
        "type": "import",
        "upload_url": upload_url,
    })))
}

fn ingest(shared: &Shared, db: &Database, body: &Map<String, Value>) -> Result<Reply, Reply> {
    let etag = etag(body)?;
    let filename = string(body, "filename")?;
    let Some(upload) = shared.upload(&etag) else {
        return Err(bad(&format!(
            "Invalid etag {etag}: no import was initialised for it (action \"init\")"
        )));
    };
    if upload.filename != filename {
        return Err(bad(&format!(
            "Invalid filename {filename:?}: the file of etag {etag} is {:?}",
            upload.filename
        )));
    }
    let Some(bytes) = upload.bytes else {
        return Ok(failure(format!("The file {filename} was not uploaded")));
    };
    let md5 = md5_hex(&bytes);
    if md5 != etag {
        return Ok(failure(format!(
            "The uploaded file's md5 {md5} does not match the etag {etag}"
        )));
    }
    Ok(start(shared, db, filename, &bytes))
}

/// Runs the file and starts the job: 202 "active".
fn start(shared: &Shared, db: &Database, filename: &str, bytes: &[u8]) -> Reply {
    let Ok(sql) = std::str::from_utf8(bytes) else {
        return failure(format!("The file {filename} is not UTF-8 text"));
    };
    let mut conn = lock(&db.conn);
    let now = shared.now_ms();
    let mut jobs = lock(&db.jobs);
    if let Some(kind) = jobs.running(now) {
        return Reply::error(400, 7500, kind.busy_message());
    }
    let at_bookmark = db.current_bookmark();
    let started = Instant::now();
    let answer = match execute_script(&mut conn, sql) {
        Ok(totals) => {
            let final_bookmark = db.record_state(shared, &mut conn);
            let size_after = database_size(&conn);
            shared.record_size(&db.uuid, size_after);
            json!({
                "at_bookmark": at_bookmark,
                "messages": [format!("Processed {} queries", totals.num_queries), "Import complete"],
                "result": {
                    "final_bookmark": final_bookmark,
                    "num_queries": totals.num_queries,
                    "meta": {
                        "served_by": "v3-prod",
                        "duration": started.elapsed().as_secs_f64() * 1000.0,
                        "changes": totals.changes,
                        "last_row_id": totals.last_row_id,
                        "changed_db": totals.changed_db,
                        "size_after": size_after,
                        "rows_read": totals.rows_read,
                        "rows_written": totals.rows_written,
                    },
                },
                "status": "complete",
                "success": true,
                "type": "import",
            })
        }
        Err(error) => json!({
            "at_bookmark": at_bookmark,
            "error": error,
            "messages": [],
            "status": "error",
            "success": true,
            "type": "import",
        }),
    };
    jobs.start(Job {
        kind: JobKind::Import,
        at_bookmark: at_bookmark.clone(),
        polls_left: shared.import_polls,
        last_seen_ms: now,
        outcome: Outcome::Import(answer),
    });
    active(&at_bookmark, format!("Importing {filename}"))
}

fn active(at_bookmark: &str, message: String) -> Reply {
    Reply::ok_with_status(
        202,
        json!({
            "at_bookmark": at_bookmark,
            "messages": [message],
            "status": "active",
            "success": true,
            "type": "import",
        }),
    )
}

fn poll(shared: &Shared, db: &Database, body: &Map<String, Value>) -> Result<Reply, Reply> {
    let bookmark = string(body, "current_bookmark")?;
    let now = shared.now_ms();
    let mut jobs = lock(&db.jobs);
    Ok(match jobs.poll(JobKind::Import, bookmark, now) {
        Poll::Active => active(bookmark, "Import in progress".to_owned()),
        Poll::Finished(answer) => Reply::ok(answer),
        Poll::Unknown => bad(&format!(
            "No import of this database is in progress at bookmark {bookmark}"
        )),
        Poll::Done(job) => {
            let answer = match job.outcome {
                Outcome::Import(answer) => answer,
                Outcome::Export { .. } => Value::Null,
            };
            jobs.finish(JobKind::Import, job.at_bookmark, answer.clone());
            Reply::ok(answer)
        }
    })
}
