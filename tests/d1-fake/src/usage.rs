//! Usage recording: what GraphQL's D1 datasets report, per database.
//!
//! Every successful `/query` or `/raw` request is one query batch, added to its database's
//! bucket of the minute (by the fake's clock); each database's size is kept per day as the
//! day's largest. Nothing is dropped when a database is deleted, as on Cloudflare.

use std::collections::BTreeMap;

use crate::state::{lock, Shared};
use crate::time::{DAY_MS, MINUTE_MS};

/// The totals the fake recorded for one database's query batches ([`FakeD1::usage`]): the
/// figures `d1AnalyticsAdaptiveGroups` sums up, over all time.
///
/// [`FakeD1::usage`]: crate::FakeD1::usage
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Successful `/query` and `/raw` requests none of whose statements changed the database.
    pub read_queries: u64,
    /// Successful `/query` and `/raw` requests one of whose statements changed the database
    /// (a row changed, or the schema).
    pub write_queries: u64,
    /// The sum of the requests' statements' `meta.rows_read`.
    pub rows_read: u64,
    /// The sum of the requests' statements' `meta.rows_written`.
    pub rows_written: u64,
    /// The bytes of the requests' answers (the whole JSON envelope).
    pub response_bytes: u64,
}

/// One query batch (a successful `/query` or `/raw` request).
pub(crate) struct Batch {
    pub(crate) write: bool,
    pub(crate) rows_read: u64,
    pub(crate) rows_written: u64,
    pub(crate) response_bytes: u64,
    pub(crate) time_ms: f64,
}

/// The query batches of one database in one minute.
#[derive(Clone, Debug, Default)]
pub(crate) struct Minute {
    pub(crate) read_queries: u64,
    pub(crate) write_queries: u64,
    pub(crate) rows_read: u64,
    pub(crate) rows_written: u64,
    pub(crate) response_bytes: u64,
    /// Each batch's time (ms) and answer bytes, for averages and quantiles.
    pub(crate) times_ms: Vec<f64>,
    pub(crate) bytes: Vec<f64>,
}

/// Everything recorded, shared by all databases of the account.
#[derive(Default)]
pub(crate) struct Analytics {
    /// By (database uuid, Unix minute).
    pub(crate) minutes: BTreeMap<(String, i64), Minute>,
    /// The largest size seen, by (database uuid, Unix day).
    pub(crate) storage: BTreeMap<(String, i64), u64>,
}

impl Shared {
    /// Records one query batch of database `uuid`, now.
    pub(crate) fn record_batch(&self, uuid: &str, batch: &Batch) {
        let minute = self.now_ms().div_euclid(MINUTE_MS);
        let mut analytics = lock(&self.analytics);
        let bucket = analytics
            .minutes
            .entry((uuid.to_owned(), minute))
            .or_default();
        if batch.write {
            bucket.write_queries += 1;
        } else {
            bucket.read_queries += 1;
        }
        bucket.rows_read += batch.rows_read;
        bucket.rows_written += batch.rows_written;
        bucket.response_bytes += batch.response_bytes;
        bucket.times_ms.push(batch.time_ms);
        bucket.bytes.push(batch.response_bytes as f64);
    }

    /// Records database `uuid`'s size now (the day keeps its largest).
    pub(crate) fn record_size(&self, uuid: &str, bytes: i64) {
        let day = self.now_ms().div_euclid(DAY_MS);
        let bytes = u64::try_from(bytes).unwrap_or(0);
        let mut analytics = lock(&self.analytics);
        let max = analytics.storage.entry((uuid.to_owned(), day)).or_default();
        *max = (*max).max(bytes);
    }

    /// Database `uuid`'s totals over all time.
    pub(crate) fn usage(&self, uuid: &str) -> Usage {
        let analytics = lock(&self.analytics);
        let mut usage = Usage::default();
        let from = (uuid.to_owned(), i64::MIN);
        for ((owner, _), minute) in analytics.minutes.range(from..) {
            if owner != uuid {
                break;
            }
            usage.read_queries += minute.read_queries;
            usage.write_queries += minute.write_queries;
            usage.rows_read += minute.rows_read;
            usage.rows_written += minute.rows_written;
            usage.response_bytes += minute.response_bytes;
        }
        usage
    }
}
