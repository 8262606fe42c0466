//! One database's backups through D1's own API: export (a SQL dump, polled for, then
//! downloaded from a signed URL), import (a SQL file uploaded to a signed URL, ingested,
//! polled for) and Time Travel (bookmarks, restore).

use super::client::Replay;
use super::transport::{sleep, Method};
use super::wire::{excerpt, percent_encode};
use super::Client;
use crate::{Error, Result};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value as Json};
use std::time::Duration;

/// A point of a database's history to restore: a bookmark, or a time (RFC 3339), for which
/// D1 takes the nearest bookmark at or before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestorePoint {
    /// A bookmark, as [`Client::bookmark`] or a restore gave it.
    Bookmark(String),
    /// A time, RFC 3339 (`2026-12-01T10:00:00Z`).
    Timestamp(String),
}

/// What a restore did ([`Client::restore`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The bookmark the database was restored to, as D1 gives it back.
    pub bookmark: String,
    /// The bookmark of the database's state just before the restore: restoring to it undoes
    /// the restore.
    pub previous_bookmark: String,
    /// D1's message, if any.
    pub message: Option<String>,
}

/// What to export ([`Client::export`]): D1's `dump_options`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Leave the rows out (schema only).
    pub no_data: bool,
    /// Leave the schema out (rows only).
    pub no_schema: bool,
    /// Only these tables (empty: every table).
    pub tables: Vec<String>,
}

/// A finished export ([`Client::export`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The bookmark the dump was taken at.
    pub bookmark: String,
    /// The file name D1 gave the dump.
    pub filename: String,
    /// The dump: SQL statements, one per line.
    pub sql: Vec<u8>,
}

/// A finished import ([`Client::import`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The database's bookmark after the import (restore to the bookmark taken before it to
    /// undo it).
    pub final_bookmark: Option<String>,
    /// The statements the import ran, as D1 counts them.
    pub num_queries: Option<u64>,
}

/// Waits between polls of a running export or import: 200 ms, doubling up to 2 s.
fn poll_delay(poll: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << poll.min(4)).min(2_000))
}

/// The most polls of one export or import before giving up (about an hour at 2 s a poll).
const MAX_POLLS: u32 = 1_800;

fn field<'a>(result: &'a Json, name: &str, what: &str) -> Result<&'a str> {
    result.get(name).and_then(Json::as_str).ok_or_else(|| {
        Error::Backend(format!(
            "{what}: the API's answer has no `{name}`: {}",
            excerpt(&result.to_string())
        ))
    })
}

/// An export's or an import's `status: "error"`, as an error naming the database.
fn failed(result: &Json, what: &str) -> Error {
    let message = result
        .get("error")
        .and_then(Json::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let messages: Vec<&str> = result
                .get("messages")
                .and_then(Json::as_array)
                .map(|m| m.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            (!messages.is_empty()).then(|| messages.join("; "))
        })
        .unwrap_or_else(|| "no reason given".to_owned());
    Error::Backend(format!("{what} failed: {message}"))
}

impl Client {
    /// Database `uuid`'s Time Travel bookmark now, or, with `timestamp` (RFC 3339), the
    /// nearest one at or before that time (`GET …/time_travel/bookmark`). D1 keeps 30 days
    /// on paid plans (7 on free): an older time is an error from the API.
    pub async fn bookmark(&self, uuid: &str, timestamp: Option<&str>) -> Result<String> {
        let mut url = self.url(&format!("/{}/time_travel/bookmark", percent_encode(uuid)));
        if let Some(at) = timestamp {
            url.push_str("?timestamp=");
            url.push_str(&percent_encode(at));
        }
        let reply = self.request(Method::Get, &url, None, Replay::Safe).await?;
        field(
            &reply.result,
            "bookmark",
            &format!("the bookmark of database {uuid}"),
        )
        .map(str::to_owned)
    }

    /// Restores database `uuid` to `to` (`POST …/time_travel/restore`), replacing all of its
    /// content. The answer's [`Restored::previous_bookmark`] undoes it. Retried after a
    /// transient failure (a restore to a point is the same restore twice; but then
    /// `previous_bookmark` is the restored state: take [`Client::bookmark`] first to be sure
    /// of the way back).
    pub async fn restore(&self, uuid: &str, to: &RestorePoint) -> Result<Restored> {
        let query = match to {
            RestorePoint::Bookmark(b) => format!("bookmark={}", percent_encode(b)),
            RestorePoint::Timestamp(t) => format!("timestamp={}", percent_encode(t)),
        };
        let url = self.url(&format!(
            "/{}/time_travel/restore?{query}",
            percent_encode(uuid)
        ));
        let reply = self.request(Method::Post, &url, None, Replay::Safe).await?;
        let what = format!("restoring database {uuid}");
        Ok(Restored {
            bookmark: field(&reply.result, "bookmark", &what)?.to_owned(),
            previous_bookmark: field(&reply.result, "previous_bookmark", &what)?.to_owned(),
            message: reply
                .result
                .get("message")
                .and_then(Json::as_str)
                .map(str::to_owned),
        })
    }

    /// Exports database `uuid` as SQL, as `wrangler d1 export` does: starts the export
    /// (`POST …/export`), polls until it is complete, then downloads the dump from the signed
    /// URL D1 gives (without the API token). D1 serves no queries to the database while it
    /// exports it.
    pub async fn export(&self, uuid: &str, options: &ExportOptions) -> Result<Export> {
        let url = self.url(&format!("/{}/export", percent_encode(uuid)));
        let what = format!("exporting database {uuid}");
        let mut dump = Map::new();
        if options.no_data {
            dump.insert("no_data".into(), true.into());
        }
        if options.no_schema {
            dump.insert("no_schema".into(), true.into());
        }
        if !options.tables.is_empty() {
            dump.insert("tables".into(), json!(options.tables));
        }
        let mut body = json!({ "output_format": "polling" });
        if !dump.is_empty() {
            body["dump_options"] = Json::Object(dump);
        }
        let first = self
            .request(Method::Post, &url, Some(body.clone()), Replay::Safe)
            .await?
            .result;
        let result = self
            .poll(first, &url, &what, |bookmark| {
                let mut poll = body.clone();
                poll["current_bookmark"] = bookmark.into();
                poll
            })
            .await?;
        let bookmark = field(&result, "at_bookmark", &what)?.to_owned();
        let file = result.get("result").cloned().unwrap_or(Json::Null);
        let filename = field(&file, "filename", &what)?.to_owned();
        let signed_url = field(&file, "signed_url", &what)?;
        let sql = self
            .presigned(Method::Get, signed_url, None, &what)
            .await?
            .body;
        Ok(Export {
            bookmark,
            filename,
            sql,
        })
    }

    /// Imports the SQL file `sql` into database `uuid`, as `wrangler d1 execute --file` does:
    /// `init` with the file's MD5, an upload to the signed URL D1 gives (unless D1 already
    /// has the file; the upload's `ETag` must be that MD5), `ingest`, then polls until D1
    /// says it is complete. The database is blocked while it imports. `ingest` is not
    /// retried after a transient failure unless [`Retry::writes`](super::Retry::writes):
    /// the file may have been imported.
    pub async fn import(&self, uuid: &str, sql: &[u8]) -> Result<Imported> {
        let url = self.url(&format!("/{}/import", percent_encode(uuid)));
        let what = format!("importing into database {uuid}");
        let etag: String = Md5::digest(sql)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let init = self
            .request(
                Method::Post,
                &url,
                Some(json!({ "action": "init", "etag": etag })),
                Replay::Safe,
            )
            .await?
            .result;
        let result = match init.get("upload_url").and_then(Json::as_str) {
            Some(upload) => {
                let put = self
                    .presigned(Method::Put, upload, Some(sql), &what)
                    .await?;
                if put.etag.as_deref() != Some(etag.as_str()) {
                    return Err(Error::Backend(format!(
                        "{what}: the upload's ETag is {:?}, not the file's MD5 {etag}: it was \
                         damaged on the way; nothing was imported",
                        put.etag.unwrap_or_default()
                    )));
                }
                let filename = field(&init, "filename", &what)?;
                self.request(
                    Method::Post,
                    &url,
                    Some(json!({ "action": "ingest", "etag": etag, "filename": filename })),
                    Replay::Unsafe,
                )
                .await?
                .result
            }
            // D1 has the file already: it is being (or was) imported.
            None => init,
        };
        let result = self
            .poll(
                result,
                &url,
                &what,
                |bookmark| json!({ "action": "poll", "current_bookmark": bookmark }),
            )
            .await?;
        let done = result.get("result");
        Ok(Imported {
            final_bookmark: done
                .and_then(|r| r.get("final_bookmark"))
                .and_then(Json::as_str)
                .map(str::to_owned),
            num_queries: done
                .and_then(|r| r.get("num_queries"))
                .and_then(Json::as_u64),
        })
    }

    /// Polls a running export or import (`result`, the last answer) until D1 says it is
    /// `complete` (its last answer) or `error` (an error): each poll is the body `poll`
    /// builds from the job's `at_bookmark`, after a growing wait ([`poll_delay`]).
    async fn poll(
        &self,
        mut result: Json,
        url: &str,
        what: &str,
        poll: impl Fn(String) -> Json,
    ) -> Result<Json> {
        for polls in 0.. {
            match result.get("status").and_then(Json::as_str) {
                Some("complete") => return Ok(result),
                Some("error") => return Err(failed(&result, what)),
                _ if polls >= MAX_POLLS => break,
                _ => {}
            }
            let bookmark = field(&result, "at_bookmark", what)?.to_owned();
            sleep(poll_delay(polls)).await;
            result = self
                .request(Method::Post, url, Some(poll(bookmark)), Replay::Safe)
                .await?
                .result;
        }
        Err(Error::Backend(format!(
            "{what}: still running after {MAX_POLLS} polls; giving up"
        )))
    }

    /// A token-free request to a signed URL, retried on 5xx and connection failures; any
    /// other answer than 2xx is an error with the start of its body (S3's XML error).
    async fn presigned(
        &self,
        method: Method,
        url: &str,
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<super::transport::Presigned> {
        let retry = self.retry();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.http().send_presigned(method, url, body).await {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r),
                Ok(r) if r.status < 500 => {
                    return Err(Error::Api {
                        status: r.status,
                        code: None,
                        message: format!(
                            "{what}: the signed URL answered HTTP {}: {}",
                            r.status,
                            excerpt(&String::from_utf8_lossy(&r.body))
                        ),
                    })
                }
                Ok(r) => format!("HTTP {}", r.status),
                Err(e) => e,
            };
            if attempt >= retry.attempts {
                return Err(Error::Api {
                    status: 0,
                    code: None,
                    message: format!("{what}: the signed URL: {failure}"),
                });
            }
            sleep(crate::backoff(retry.base_delay, attempt, retry.max_delay)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_wait_longer_up_to_two_seconds() {
        let delays: Vec<u128> = (0..7).map(|p| poll_delay(p).as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    #[test]
    fn a_failed_job_says_why() {
        let e = failed(
            &json!({"status": "error", "error": "no such table: x"}),
            "exporting",
        );
        assert_eq!(e.to_string(), "exporting failed: no such table: x");
        let e = failed(
            &json!({"status": "error", "messages": ["a", "b"]}),
            "importing",
        );
        assert_eq!(e.to_string(), "importing failed: a; b");
    }
}
