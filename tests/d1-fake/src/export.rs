//! `POST …/database/{uuid}/export`: a polled export to an SQL file behind a signed URL.
//!
//! The first call (no `current_bookmark`) takes the dump at the database's current bookmark
//! and answers 202 "active"; polls with `current_bookmark = at_bookmark` answer "active"
//! [`Options::export_polls`](crate::Options::export_polls) times, then 200 "complete" with
//! `result: {filename, signed_url}` (or "error" with `error`).

use serde_json::{json, Map, Value};

use crate::dump::{dump, DumpOptions};
use crate::jobs::{Job, JobKind, Outcome, Poll};
use crate::reply::Reply;
use crate::state::{lock, Database, Shared};

fn bad(message: &str) -> Reply {
    Reply::error(400, 7400, message)
}

fn flag(options: &Map<String, Value>, name: &str) -> Result<bool, Reply> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(&format!(
            "Invalid dump_options.{name}: {other} is not a boolean"
        ))),
    }
}

/// `dump_options`, checked.
fn dump_options(body: &Map<String, Value>) -> Result<DumpOptions, Reply> {
    let options = match body.get("dump_options") {
        None | Some(Value::Null) => return Ok(DumpOptions::default()),
        Some(Value::Object(options)) => options,
        Some(other) => {
            return Err(bad(&format!(
                "Invalid dump_options: {other} is not an object {{no_data?, no_schema?, tables?}}"
            )))
        }
    };
    let tables = match options.get("tables") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("Invalid dump_options.tables: a list of table names is expected"))?,
        Some(other) => {
            return Err(bad(&format!(
                "Invalid dump_options.tables: {other} is not a list of table names"
            )))
        }
    };
    Ok(DumpOptions {
        no_data: flag(options, "no_data")?,
        no_schema: flag(options, "no_schema")?,
        tables,
    })
}

pub(crate) fn export(shared: &Shared, db: &Database, body: &[u8]) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return bad(
            "The request body must be a JSON object {\"output_format\": \"polling\", \
             \"current_bookmark\"?, \"dump_options\"?}",
        );
    };
    match body.get("output_format") {
        Some(Value::String(format)) if format == "polling" => {}
        other => {
            return bad(&format!(
                "Invalid output_format: {} is not \"polling\"",
                other.unwrap_or(&Value::Null)
            ))
        }
    }
    let options = match dump_options(&body) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    match body.get("current_bookmark") {
        None | Some(Value::Null) => start(shared, db, &options),
        Some(Value::String(bookmark)) => poll(shared, db, bookmark),
        Some(other) => bad(&format!(
            "Invalid current_bookmark: {other} is not a string"
        )),
    }
}

fn active(at_bookmark: &str, message: String) -> Reply {
    Reply::ok_with_status(
        202,
        json!({
            "at_bookmark": at_bookmark,
            "messages": [message],
            "status": "active",
            "success": true,
            "type": "export",
        }),
    )
}

fn start(shared: &Shared, db: &Database, options: &DumpOptions) -> Reply {
    let conn = lock(&db.conn);
    let now = shared.now_ms();
    let mut jobs = lock(&db.jobs);
    match jobs.running(now) {
        Some(JobKind::Export) => {
            return Reply::error(
                400,
                7500,
                "Currently processing a long-running export. Cannot start a new export until \
                 that completes or times out.",
            )
        }
        Some(kind) => return Reply::error(400, 7500, kind.busy_message()),
        None => {}
    }
    let at_bookmark = db.current_bookmark();
    let filename = format!("{}-{at_bookmark}.sql", db.name);
    let dump = dump(&conn, options);
    jobs.start(Job {
        kind: JobKind::Export,
        at_bookmark: at_bookmark.clone(),
        polls_left: shared.export_polls,
        last_seen_ms: now,
        outcome: Outcome::Export {
            filename: filename.clone(),
            dump,
        },
    });
    active(&at_bookmark, format!("Generating {filename}"))
}

fn poll(shared: &Shared, db: &Database, bookmark: &str) -> Reply {
    let now = shared.now_ms();
    let mut jobs = lock(&db.jobs);
    match jobs.poll(JobKind::Export, bookmark, now) {
        Poll::Active => active(bookmark, "Export in progress".to_owned()),
        Poll::Finished(answer) => Reply::ok(answer),
        Poll::Unknown => bad(&format!(
            "No export of this database is in progress at bookmark {bookmark}"
        )),
        Poll::Done(job) => {
            let answer = match job.outcome {
                Outcome::Export {
                    filename,
                    dump: Ok(sql),
                } => {
                    let signed_url = shared.presign_download(&filename, sql);
                    json!({
                        "at_bookmark": job.at_bookmark,
                        "messages": ["Uploaded part 1", format!("Export complete: {filename}")],
                        "result": {"filename": filename, "signed_url": signed_url},
                        "status": "complete",
                        "success": true,
                        "type": "export",
                    })
                }
                Outcome::Export {
                    dump: Err(error), ..
                } => json!({
                    "at_bookmark": job.at_bookmark,
                    "error": error,
                    "messages": [],
                    "status": "error",
                    "success": true,
                    "type": "export",
                }),
                Outcome::Import(answer) => answer,
            };
            jobs.finish(JobKind::Export, job.at_bookmark, answer.clone());
            Reply::ok(answer)
        }
    }
}
