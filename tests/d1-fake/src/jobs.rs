//! Long-running operations of one database: an export or an import, polled to completion.
//!
//! At most one runs at a time, and while it runs the database serves no queries. A job
//! answers "active" to its start and to [`Options::export_polls`] /
//! [`Options::import_polls`] polls, then its outcome, which later polls of the same
//! `at_bookmark` get again. An export not polled for [`UNPOLLED_TIMEOUT_MS`] of the fake's
//! clock is cancelled; an import so left alone completes (its effect had happened).
//!
//! [`Options::export_polls`]: crate::Options::export_polls
//! [`Options::import_polls`]: crate::Options::import_polls

use std::collections::HashMap;

use serde_json::Value;

use crate::dump::Dump;
use crate::state::{lock, Database};

/// How long an export waits for its next poll before it is cancelled (60 s).
pub(crate) const UNPOLLED_TIMEOUT_MS: i64 = 60_000;

/// What a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum JobKind {
    Export,
    Import,
}

impl JobKind {
    /// The refusal of a query (or of another job, or a restore) while this job runs.
    pub(crate) fn busy_message(self) -> &'static str {
        match self {
            JobKind::Export => "Currently processing a long-running export.",
            JobKind::Import => "Currently processing a long-running import.",
        }
    }
}

/// A running job.
pub(crate) struct Job {
    pub(crate) kind: JobKind,
    /// The database's bookmark when the job started: the job's id, which polls pass back.
    pub(crate) at_bookmark: String,
    /// Polls still to answer "active".
    pub(crate) polls_left: usize,
    /// When it was started or last polled (fake clock, Unix ms).
    pub(crate) last_seen_ms: i64,
    pub(crate) outcome: Outcome,
}

/// What a job will answer when it completes.
pub(crate) enum Outcome {
    /// The dump (taken when the export started) and its file name.
    Export { filename: String, dump: Dump },
    /// The import's final `result` (it ran when it started).
    Import(Value),
}

/// What a poll found.
pub(crate) enum Poll {
    /// Still running (this poll counted).
    Active,
    /// Completed with this poll: the caller answers its outcome and records it.
    Done(Job),
    /// Completed before: its answer again.
    Finished(Value),
    /// No job of that kind at that bookmark.
    Unknown,
}

/// A database's running job and the answers of its completed ones.
#[derive(Default)]
pub(crate) struct Jobs {
    active: Option<Job>,
    finished: HashMap<(JobKind, String), Value>,
}

impl Jobs {
    /// Cancels an export (or completes an import) left unpolled too long.
    pub(crate) fn expire(&mut self, now_ms: i64) {
        let stale = self
            .active
            .as_ref()
            .is_some_and(|job| now_ms - job.last_seen_ms > UNPOLLED_TIMEOUT_MS);
        if stale {
            if let Some(Job {
                at_bookmark,
                outcome: Outcome::Import(result),
                ..
            }) = self.active.take()
            {
                self.finished.insert((JobKind::Import, at_bookmark), result);
            }
        }
    }

    /// The kind of the job running, if any (after [`Jobs::expire`]).
    pub(crate) fn running(&mut self, now_ms: i64) -> Option<JobKind> {
        self.expire(now_ms);
        self.active.as_ref().map(|job| job.kind)
    }

    /// Starts `job`; it supersedes a completed job of its kind at the same bookmark.
    pub(crate) fn start(&mut self, job: Job) {
        self.finished.remove(&(job.kind, job.at_bookmark.clone()));
        self.active = Some(job);
    }

    /// A poll of the `kind` job started at `at_bookmark`.
    pub(crate) fn poll(&mut self, kind: JobKind, at_bookmark: &str, now_ms: i64) -> Poll {
        self.expire(now_ms);
        let matches = self
            .active
            .as_ref()
            .is_some_and(|job| job.kind == kind && job.at_bookmark == at_bookmark);
        if matches {
            if let Some(job) = self.active.as_mut().filter(|job| job.polls_left > 0) {
                job.polls_left -= 1;
                job.last_seen_ms = now_ms;
                return Poll::Active;
            }
            if let Some(job) = self.active.take() {
                return Poll::Done(job);
            }
        }
        match self.finished.get(&(kind, at_bookmark.to_owned())) {
            Some(answer) => Poll::Finished(answer.clone()),
            None => Poll::Unknown,
        }
    }

    /// Keeps a completed job's answer for later polls.
    pub(crate) fn finish(&mut self, kind: JobKind, at_bookmark: String, answer: Value) {
        self.finished.insert((kind, at_bookmark), answer);
    }

    /// Drops everything (the database is deleted).
    pub(crate) fn clear(&mut self) {
        self.active = None;
        self.finished.clear();
    }
}

impl Database {
    /// The refusal of a query while a job runs, if one does.
    pub(crate) fn busy(&self, now_ms: i64) -> Option<&'static str> {
        lock(&self.jobs).running(now_ms).map(JobKind::busy_message)
    }
}
