//! The fake's state: the account, its databases, and what the server threads share.
//!
//! Each database is an in-memory SQLite connection; a seedable PRNG draws uuids and coin flips.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use crate::faults::{Failure, QueryFailure};
use crate::format::rfc3339;
use crate::jobs::Jobs;
use crate::presigned::Objects;
use crate::rate::RateState;
use crate::time::unix_ms;
use crate::timetravel::History;
use crate::usage::Analytics;
use crate::Stats;

/// What the [`FakeD1`](crate::FakeD1) handle and the server threads share.
pub(crate) struct Shared {
    pub(crate) account_id: String,
    pub(crate) token: String,
    pub(crate) database_limit: usize,
    /// [`Options::total_count_ignores_name`](crate::Options::total_count_ignores_name).
    pub(crate) total_count_ignores_name: bool,
    /// [`Options::max_per_page`](crate::Options::max_per_page).
    pub(crate) max_per_page: u64,
    pub(crate) latency: Mutex<Duration>,
    pub(crate) rate: Mutex<RateState>,
    pub(crate) transient_failure_rate: Mutex<f64>,
    pub(crate) account: Mutex<Account>,
    pub(crate) rng: Mutex<Rng>,
    pub(crate) query_failures: Mutex<Vec<QueryFailure>>,
    pub(crate) request_failures: Mutex<VecDeque<Failure>>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) in_flight: AtomicUsize,
    /// How far the test advanced the fake's clock ([`Shared::now`]).
    pub(crate) clock_offset: Mutex<Duration>,
    /// GraphQL's own rate limit window.
    pub(crate) graphql_rate: Mutex<RateState>,
    /// The query batches and sizes GraphQL reports.
    pub(crate) analytics: Mutex<Analytics>,
    /// `http://127.0.0.1:PORT`, the origin of signed URLs.
    pub(crate) origin: String,
    /// The key signed URLs are signed with.
    pub(crate) secret: String,
    /// The object store behind signed URLs.
    pub(crate) objects: Mutex<Objects>,
    /// [`Options::time_travel_retention`](crate::Options::time_travel_retention), in ms.
    pub(crate) time_travel_retention_ms: i64,
    /// [`Options::time_travel_snapshots`](crate::Options::time_travel_snapshots).
    pub(crate) time_travel_snapshots: usize,
    /// [`Options::export_polls`](crate::Options::export_polls).
    pub(crate) export_polls: usize,
    /// [`Options::import_polls`](crate::Options::import_polls).
    pub(crate) import_polls: usize,
}

/// The account's databases, by creation order, uuid and name.
#[derive(Default)]
pub(crate) struct Account {
    pub(crate) next_seq: u64,
    pub(crate) by_seq: BTreeMap<u64, Arc<Database>>,
    pub(crate) by_uuid: HashMap<String, u64>,
    pub(crate) by_name: HashMap<String, u64>,
}

/// One database of the account.
pub(crate) struct Database {
    pub(crate) uuid: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
    pub(crate) region: String,
    pub(crate) jurisdiction: Option<String>,
    /// `read_replication.mode`: `"disabled"` (a new database's) or `"auto"`.
    pub(crate) read_replication: Mutex<&'static str>,
    pub(crate) conn: Mutex<Connection>,
    /// Its Time Travel history (locked after `conn` when both are).
    pub(crate) history: Mutex<History>,
    /// Its running export or import (locked after `conn`, before `history`).
    pub(crate) jobs: Mutex<Jobs>,
}

impl Database {
    /// Drops what a deleted database leaves behind: its pending job and its history.
    pub(crate) fn forget(&self) {
        lock(&self.jobs).clear();
        lock(&self.history).clear();
    }
}

pub(crate) enum CreateError {
    Exists,
    Limit,
}

impl Shared {
    pub(crate) fn find(&self, uuid: &str) -> Option<Arc<Database>> {
        let account = lock(&self.account);
        let seq = account.by_uuid.get(uuid)?;
        account.by_seq.get(seq).cloned()
    }

    /// The database named exactly `name` (names are compared as they are: case matters).
    pub(crate) fn find_by_name(&self, name: &str) -> Option<Arc<Database>> {
        let account = lock(&self.account);
        let seq = account.by_name.get(name)?;
        account.by_seq.get(seq).cloned()
    }

    pub(crate) fn create_database(
        &self,
        name: &str,
        hint: Option<&str>,
        jurisdiction: Option<&str>,
        limit: usize,
    ) -> Result<Arc<Database>, CreateError> {
        // Opened before taking the account lock: nothing slow happens under it.
        let conn = Connection::open_in_memory().expect("d1-fake: open an in-memory database");
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .expect("d1-fake: enable foreign keys");
        let mut account = lock(&self.account);
        if account.by_name.contains_key(name) {
            return Err(CreateError::Exists);
        }
        if account.by_seq.len() >= limit {
            return Err(CreateError::Limit);
        }
        let uuid = loop {
            let uuid = lock(&self.rng).uuid_v4();
            if !account.by_uuid.contains_key(&uuid) {
                break uuid;
            }
        };
        let now = self.now();
        let db = Arc::new(Database {
            uuid: uuid.clone(),
            name: name.to_owned(),
            created_at: rfc3339(now),
            region: hint.unwrap_or("wnam").to_ascii_uppercase(),
            jurisdiction: jurisdiction.map(str::to_owned),
            read_replication: Mutex::new("disabled"),
            conn: Mutex::new(conn),
            history: Mutex::new(History::new(unix_ms(now))),
            jobs: Mutex::new(Jobs::default()),
        });
        db.record_state(self, &mut lock(&db.conn));
        let seq = account.next_seq;
        account.next_seq += 1;
        account.by_seq.insert(seq, Arc::clone(&db));
        account.by_uuid.insert(uuid, seq);
        account.by_name.insert(name.to_owned(), seq);
        drop(account);
        self.record_size(&db.uuid, 0);
        Ok(db)
    }

    pub(crate) fn sleep_latency(&self) {
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SplitMix64: small, seedable, good enough for uuids and coin flips.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn uuid_v4(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manage::is_uuid;

    #[test]
    pub(crate) fn uuids_are_v4() {
        let mut rng = Rng(7);
        let uuid = rng.uuid_v4();
        assert!(is_uuid(&uuid), "{uuid}");
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid, rng.uuid_v4());
    }
}
