//! Time Travel: each database's history of real snapshots, its bookmarks, and restores.
//!
//! A database records a snapshot when it is created and after every request that changed
//! it (a write query, an import, a restore, or a change through
//! [`FakeD1::with_connection`](crate::FakeD1::with_connection)). Each snapshot has a
//! bookmark `TTTTTTTT-tttttttt-SSSSSSSS-<32 hex>`: the fake's clock in ms (high and low 32
//! bits), the database's snapshot sequence number, and an md5 of the three with the uuid; so
//! bookmarks sort in time order as strings. A restore replaces the database's content by a
//! snapshot's and records a new snapshot.

use std::collections::VecDeque;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::json;

use crate::format::{md5_hex, parse_query};
use crate::manage::database_size;
use crate::reply::Reply;
use crate::snapshot::Snapshot;
use crate::state::{lock, Database, Shared};
use crate::time::{parse_timestamp, time_string, DAY_MS, MINUTE_MS};

/// Restores allowed per database within [`RESTORE_WINDOW_MS`].
const RESTORES_PER_WINDOW: usize = 10;
/// The window of the restore limit: 10 minutes.
const RESTORE_WINDOW_MS: i64 = 10 * MINUTE_MS;

/// One state of the database.
struct Entry {
    bookmark: String,
    ms: i64,
    snapshot: Arc<Snapshot>,
}

/// A database's history, oldest first.
#[derive(Default)]
pub(crate) struct History {
    entries: VecDeque<Entry>,
    next_seq: u32,
    created_ms: i64,
    /// When the restores of the last [`RESTORE_WINDOW_MS`] happened.
    restores: VecDeque<i64>,
}

impl History {
    pub(crate) fn new(created_ms: i64) -> History {
        History {
            created_ms,
            ..History::default()
        }
    }

    /// Drops everything (the database is deleted).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.restores.clear();
    }

    fn current(&self) -> Option<&Entry> {
        self.entries.back()
    }

    /// Adds a state: a new bookmark, at `now_ms` (or just after the latest, if the clock has
    /// not moved on), dropping what the retention window and the snapshot cap leave out.
    fn push(
        &mut self,
        uuid: &str,
        snapshot: Arc<Snapshot>,
        now_ms: i64,
        shared: &Shared,
    ) -> String {
        let ms = now_ms.max(self.current().map_or(i64::MIN, |e| e.ms));
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let ms_bits = u64::try_from(ms).unwrap_or(0);
        let hash = md5_hex(format!("{uuid}/{seq}/{ms}").as_bytes());
        let bookmark = format!(
            "{:08x}-{:08x}-{seq:08x}-{hash}",
            ms_bits >> 32,
            ms_bits & 0xffff_ffff
        );
        self.entries.push_back(Entry {
            bookmark: bookmark.clone(),
            ms,
            snapshot,
        });
        let window_start = now_ms - shared.time_travel_retention_ms;
        while self.entries.len() > shared.time_travel_snapshots.max(1)
            || self
                .entries
                .get(1)
                .is_some_and(|next| next.ms < window_start)
        {
            self.entries.pop_front();
        }
        bookmark
    }

    /// The state at `at_ms`: the latest at or before it.
    fn at_time(
        &self,
        text: &str,
        at_ms: i64,
        now_ms: i64,
        retention_ms: i64,
    ) -> Result<&Entry, Reply> {
        if at_ms < now_ms - retention_ms {
            return Err(Reply::error(
                400,
                7400,
                &format!(
                    "Invalid timestamp {text}: it is older than the Time Travel retention \
                     period ({} days)",
                    retention_ms / DAY_MS
                ),
            ));
        }
        if at_ms < self.created_ms {
            return Err(Reply::error(
                400,
                7400,
                &format!(
                    "Invalid timestamp {text}: it is before the database was created ({})",
                    time_string(self.created_ms)
                ),
            ));
        }
        self.entries
            .iter()
            .rev()
            .find(|e| e.ms <= at_ms)
            .ok_or_else(|| {
                Reply::error(
                    400,
                    7400,
                    &format!(
                        "Invalid timestamp {text}: it is older than the oldest bookmark kept \
                         for this database"
                    ),
                )
            })
    }

    /// The state of `bookmark`, if it is in the history and still within the window.
    fn at_bookmark(&self, bookmark: &str, now_ms: i64, retention_ms: i64) -> Result<&Entry, Reply> {
        if !is_bookmark(bookmark) {
            return Err(Reply::error(
                400,
                7400,
                &format!(
                    "Invalid bookmark {bookmark:?}: a bookmark looks like \
                     00000001-00000002-00004e2f-0a83ea2fceebc654de0640c422be4653"
                ),
            ));
        }
        let outside = || {
            Reply::error(
                400,
                7400,
                &format!(
                    "Bookmark {bookmark} is outside the Time Travel retention period ({} days)",
                    retention_ms / DAY_MS
                ),
            )
        };
        let Some(i) = self.entries.iter().position(|e| e.bookmark == bookmark) else {
            if self
                .entries
                .front()
                .is_some_and(|e| bookmark < e.bookmark.as_str())
            {
                return Err(outside());
            }
            return Err(Reply::error(
                400,
                7400,
                &format!("Bookmark {bookmark} was not found for this database"),
            ));
        };
        // A state replaced before the window began is gone.
        if self
            .entries
            .get(i + 1)
            .is_some_and(|next| next.ms < now_ms - retention_ms)
        {
            return Err(outside());
        }
        Ok(&self.entries[i])
    }
}

/// `8-8-8-32` lowercase hex digits.
fn is_bookmark(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 4
        && groups.iter().zip([8, 8, 8, 32]).all(|(g, len)| {
            g.len() == len && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

impl Database {
    /// Records the database's current content (`conn` is its connection, locked) as a new
    /// state; returns its bookmark.
    pub(crate) fn record_state(&self, shared: &Shared, conn: &mut Connection) -> String {
        let mut history = lock(&self.history);
        let previous = history.current().map(|e| Arc::clone(&e.snapshot));
        let snapshot =
            Snapshot::take(conn, previous.as_deref()).expect("d1-fake: serialize a database");
        history.push(&self.uuid, Arc::new(snapshot), shared.now_ms(), shared)
    }

    /// The bookmark of the database's current state.
    pub(crate) fn current_bookmark(&self) -> String {
        lock(&self.history)
            .current()
            .map(|e| e.bookmark.clone())
            .unwrap_or_default()
    }
}

/// `GET …/time_travel/bookmark?timestamp=`: `{bookmark}`, now's or the timestamp's.
pub(crate) fn bookmark(shared: &Shared, db: &Database, query: &str) -> Reply {
    let timestamp = parse_query(query)
        .into_iter()
        .find(|(k, _)| k == "timestamp")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let now = shared.now_ms();
    let history = lock(&db.history);
    let entry = match timestamp {
        None => history
            .current()
            .ok_or_else(|| Reply::error(400, 7400, "No bookmark")),
        Some(text) => match parse_timestamp(&text) {
            Some(at) => history.at_time(&text, at, now, shared.time_travel_retention_ms),
            None => Err(invalid_timestamp(&text)),
        },
    };
    match entry {
        Ok(entry) => Reply::ok(json!({ "bookmark": entry.bookmark })),
        Err(reply) => reply,
    }
}

fn invalid_timestamp(text: &str) -> Reply {
    Reply::error(
        400,
        7400,
        &format!(
            "Invalid timestamp {text:?}: an RFC 3339 / ISO 8601 date-time (e.g. \
             2024-05-01T12:00:00Z) or Unix seconds is expected"
        ),
    )
}

/// `POST …/time_travel/restore?bookmark=` or `?timestamp=`: `{bookmark, previous_bookmark,
/// message}`, `bookmark` being the state restored to.
pub(crate) fn restore(shared: &Shared, db: &Database, query: &str) -> Reply {
    let params = parse_query(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let (bookmark, timestamp) = (param("bookmark"), param("timestamp"));
    if bookmark.is_some() && timestamp.is_some() {
        return Reply::error(
            400,
            7400,
            "Provide either a bookmark or a timestamp, not both",
        );
    }
    let mut conn = lock(&db.conn);
    let now = shared.now_ms();
    if let Some(message) = db.busy(now) {
        return Reply::error(400, 7500, message);
    }
    let mut history = lock(&db.history);
    let retention = shared.time_travel_retention_ms;
    let target = match (&bookmark, &timestamp) {
        (Some(b), None) => history.at_bookmark(b, now, retention),
        (None, Some(t)) => match parse_timestamp(t) {
            Some(at) => history.at_time(t, at, now, retention),
            None => Err(invalid_timestamp(t)),
        },
        _ => Err(Reply::error(
            400,
            7400,
            "A bookmark or a timestamp query parameter is required",
        )),
    };
    let (target_bookmark, snapshot) = match target {
        Ok(entry) => (entry.bookmark.clone(), Arc::clone(&entry.snapshot)),
        Err(reply) => return reply,
    };
    while history
        .restores
        .front()
        .is_some_and(|t| now - t >= RESTORE_WINDOW_MS)
    {
        history.restores.pop_front();
    }
    if history.restores.len() >= RESTORES_PER_WINDOW {
        let wait_ms = history
            .restores
            .front()
            .map_or(0, |t| t + RESTORE_WINDOW_MS - now);
        return Reply {
            retry_after: Some(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1)),
            ..Reply::error(
                429,
                7429,
                &format!(
                    "Too many restores: at most {RESTORES_PER_WINDOW} restores per 10 minutes \
                     per database"
                ),
            )
        };
    }
    let previous = history
        .current()
        .map(|e| e.bookmark.clone())
        .unwrap_or_default();
    if snapshot.restore(&mut conn).is_err() {
        return Reply::internal_error();
    }
    history.restores.push_back(now);
    history.push(&db.uuid, snapshot, now, shared);
    drop(history);
    shared.record_size(&db.uuid, database_size(&conn));
    Reply::ok(json!({
        "bookmark": target_bookmark,
        "previous_bookmark": previous,
        "message": format!("Database {} restored to bookmark {target_bookmark}", db.name),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookmark_shape() {
        assert!(is_bookmark(
            "00000001-00000002-00004e2f-0a83ea2fceebc654de0640c422be4653"
        ));
        assert!(!is_bookmark("00000001-00000002-00004e2f"));
        assert!(!is_bookmark(
            "00000001-00000002-00004E2F-0a83ea2fceebc654de0640c422be4653"
        ));
    }
}
