//! The fake's public handle: [`FakeD1`], its [`Options`], and what it reports.
//!
//! [`FakeD1`] starts, inspects, reconfigures and stops the server; it reports databases as
//! [`DatabaseEntry`] values and request counters as [`Stats`].

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::faults::{Failure, QueryFailure};
use crate::http::handle;
use crate::manage::database_size;
use crate::presigned::Objects;
use crate::rate::{RateLimit, RateState};
use crate::state::{lock, Account, Rng, Shared};
use crate::usage::{Analytics, Usage};

/// How a [`FakeD1`] behaves. Build it with struct update syntax over [`Options::default`].
#[derive(Clone, Debug)]
pub struct Options {
    /// The only account id the fake serves (default `"0123456789abcdef0123456789abcdef"`).
    pub account_id: String,
    /// The only API token it accepts, as `Authorization: Bearer <token>` (default
    /// `"test-token"`).
    pub token: String,
    /// Slept before processing every request but a rate-limited one (default zero). Requests
    /// sleep concurrently. Changeable later with [`FakeD1::set_latency`].
    pub latency: Duration,
    /// Cloudflare's per-token rate limit, if any (default `None`). Changeable later with
    /// [`FakeD1::set_rate_limit`].
    pub rate_limit: Option<RateLimit>,
    /// Most databases the account may hold; a create beyond it fails with 7406 (default 50,000).
    pub database_limit: usize,
    /// Whether a list's `result_info.total_count` counts every database of the account rather
    /// than only those `name=` matches (default `false`: only the matches). Whether the real
    /// API does so is not known; a client must not page by `total_count` either way.
    pub total_count_ignores_name: bool,
    /// The most databases a list page holds: a larger `per_page` (the default 1,000 included)
    /// is lowered to it, and `result_info.per_page` says so (default 10,000, the documented
    /// maximum; below 10 it still wins over the minimum of 10).
    pub max_per_page: usize,
    /// Probability (0..=1) that an accepted request fails with HTTP 500 before any effect
    /// (default 0).
    pub transient_failure_rate: f64,
    /// Seed of the fake's PRNG, which draws transient failures and database uuids (default:
    /// random). The same seed and the same request sequence give the same uuids and failures.
    pub seed: u64,
    /// HTTP worker threads, i.e. requests processed (and sleeping their latency) at once
    /// (default 32).
    pub threads: usize,
    /// GraphQL's own rate limit, per token, if any (default `None`; Cloudflare's is 320 per 5
    /// minutes). GraphQL requests count only against it, not against [`Options::rate_limit`].
    pub graphql_rate_limit: Option<RateLimit>,
    /// How far back Time Travel goes (default 30 days, the paid plans'; 7 on the free plan):
    /// an older timestamp or bookmark is refused.
    pub time_travel_retention: Duration,
    /// The most Time Travel snapshots kept per database (default 1,000); the oldest go first,
    /// and a timestamp or bookmark older than the oldest kept is refused as outside the window.
    /// Snapshots share unchanged pages, so small writes cost little memory each.
    pub time_travel_snapshots: usize,
    /// Polls an export answers "active" before it completes (default 1: the start and one
    /// poll answer "active", the second poll completes).
    pub export_polls: usize,
    /// Polls an import answers "active" before it completes (default 1).
    pub import_polls: usize,
}

impl Default for Options {
    fn default() -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        Options {
            account_id: "0123456789abcdef0123456789abcdef".to_owned(),
            token: "test-token".to_owned(),
            latency: Duration::ZERO,
            rate_limit: None,
            database_limit: 50_000,
            total_count_ignores_name: false,
            max_per_page: 10_000,
            transient_failure_rate: 0.0,
            seed: hasher.finish(),
            threads: 32,
            graphql_rate_limit: None,
            time_travel_retention: Duration::from_secs(30 * 86_400),
            time_travel_snapshots: 1000,
            export_polls: 1,
            import_polls: 1,
        }
    }
}

/// One database of the fake account, as [`FakeD1::databases`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseEntry {
    /// Its id (a lowercase v4 uuid).
    pub uuid: String,
    /// Its name.
    pub name: String,
    /// When it was created, RFC 3339 in UTC with milliseconds (`2024-05-01T12:00:00.123Z`).
    pub created_at: String,
}

/// Counters of the requests a [`FakeD1`] received ([`FakeD1::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request received, whatever its answer.
    pub requests: u64,
    /// `POST …/database` requests.
    pub create: u64,
    /// `GET …/database` requests.
    pub list: u64,
    /// `GET …/database/{uuid or name}` requests.
    pub get: u64,
    /// `DELETE …/database/{uuid}` requests.
    pub delete: u64,
    /// `PUT` and `PATCH …/database/{uuid}` requests (read replication).
    pub update: u64,
    /// `POST …/database/{uuid}/query` requests.
    pub query: u64,
    /// `POST …/database/{uuid}/raw` requests.
    pub raw: u64,
    /// `POST …/database/{uuid}/export` requests.
    pub export: u64,
    /// `POST …/database/{uuid}/import` requests.
    pub import: u64,
    /// Time Travel requests: `GET …/time_travel/bookmark` and `POST …/time_travel/restore`.
    pub time_travel: u64,
    /// `POST /client/v4/graphql` requests.
    pub graphql: u64,
    /// Requests to the fake's signed URLs (an export's download, an import's upload), however
    /// answered.
    pub presigned: u64,
    /// Requests that matched no endpoint (404 / 405).
    pub other: u64,
    /// Answers with HTTP 429 (rate limited, or injected).
    pub responses_429: u64,
    /// Answers with HTTP 5xx (transient or injected failures).
    pub responses_5xx: u64,
    /// Answers with another HTTP 4xx (auth, validation, not found, SQL errors).
    pub responses_4xx: u64,
    /// The most requests in flight at once (received and not yet answered, latency included).
    pub max_concurrent: usize,
    /// When the first request was received.
    pub first_request: Option<Instant>,
    /// When the last request was received.
    pub last_request: Option<Instant>,
}

/// The fake: a running HTTP server and its account. Dropping it stops the server (the worker
/// threads finish the request in hand and exit) and discards every database.
pub struct FakeD1 {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    port: u16,
}

impl std::fmt::Debug for FakeD1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeD1")
            .field("base_url", &self.base_url())
            .field("account_id", &self.shared.account_id)
            .finish_non_exhaustive()
    }
}

impl FakeD1 {
    /// Starts the server on `127.0.0.1` (a free port) with `options.threads` workers.
    ///
    /// # Panics
    /// If no local port can be bound or a thread cannot be spawned.
    pub fn start(options: Options) -> FakeD1 {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("d1-fake: bind 127.0.0.1"));
        let port = server
            .server_addr()
            .to_ip()
            .expect("d1-fake: an IP listener")
            .port();
        let shared = Arc::new(Shared {
            account_id: options.account_id,
            token: options.token,
            database_limit: options.database_limit,
            total_count_ignores_name: options.total_count_ignores_name,
            max_per_page: options.max_per_page.max(1) as u64,
            latency: Mutex::new(options.latency),
            rate: Mutex::new(RateState {
                limit: options.rate_limit,
                windows: HashMap::new(),
            }),
            transient_failure_rate: Mutex::new(options.transient_failure_rate),
            account: Mutex::new(Account::default()),
            rng: Mutex::new(Rng(options.seed)),
            query_failures: Mutex::new(Vec::new()),
            request_failures: Mutex::new(VecDeque::new()),
            stats: Mutex::new(Stats::default()),
            in_flight: AtomicUsize::new(0),
            clock_offset: Mutex::new(Duration::ZERO),
            graphql_rate: Mutex::new(RateState {
                limit: options.graphql_rate_limit,
                windows: HashMap::new(),
            }),
            analytics: Mutex::new(Analytics::default()),
            origin: format!("http://127.0.0.1:{port}"),
            secret: format!("{:016x}", Rng(options.seed ^ 0x005e_c2e7).next_u64()),
            objects: Mutex::new(Objects::default()),
            time_travel_retention_ms: i64::try_from(options.time_travel_retention.as_millis())
                .unwrap_or(i64::MAX),
            time_travel_snapshots: options.time_travel_snapshots,
            export_polls: options.export_polls,
            import_polls: options.import_polls,
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..options.threads.max(1))
            .map(|i| {
                let (server, shared, stopping) = (
                    Arc::clone(&server),
                    Arc::clone(&shared),
                    Arc::clone(&stopping),
                );
                std::thread::Builder::new()
                    .name(format!("d1-fake-{i}"))
                    .spawn(move || loop {
                        match server.recv() {
                            Ok(request) => handle(&shared, request),
                            // `unblock` (from Drop), or a failed accept: stop only when asked.
                            Err(_) if stopping.load(Ordering::SeqCst) => break,
                            Err(_) => std::thread::sleep(Duration::from_millis(1)),
                        }
                    })
                    .expect("d1-fake: spawn a worker thread")
            })
            .collect();
        FakeD1 {
            shared,
            server,
            stopping,
            workers,
            port,
        }
    }

    /// `http://127.0.0.1:PORT/client/v4`, the counterpart of
    /// `https://api.cloudflare.com/client/v4`: a client appends
    /// `/accounts/{account_id}/d1/database…`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/client/v4", self.port)
    }

    /// `{base_url}/accounts/{account_id}/d1/database`, the collection every endpoint is under.
    pub fn databases_url(&self) -> String {
        format!(
            "{}/accounts/{}/d1/database",
            self.base_url(),
            self.shared.account_id
        )
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account id the fake serves.
    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Creates a database directly (no request, no name rule, no limit), e.g. to test that a
    /// client adopts an existing database; returns its uuid.
    ///
    /// # Panics
    /// If a database of that name exists.
    pub fn add_database(&self, name: &str) -> String {
        match self.shared.create_database(name, None, None, usize::MAX) {
            Ok(db) => db.uuid.clone(),
            Err(_) => panic!("d1-fake: add_database: a database named {name:?} exists"),
        }
    }

    /// Every database of the account, in creation order.
    pub fn databases(&self) -> Vec<DatabaseEntry> {
        lock(&self.shared.account)
            .by_seq
            .values()
            .map(|db| DatabaseEntry {
                uuid: db.uuid.clone(),
                name: db.name.clone(),
                created_at: db.created_at.clone(),
            })
            .collect()
    }

    /// Runs `f` on the SQLite connection of database `uuid` (holding that database's lock, so
    /// no request runs on it meanwhile), e.g. to inspect rows or to prepare a schema; `None`
    /// if no database has that uuid. Outside a request the connection is in autocommit mode.
    ///
    /// A change made there (a row or the schema) is recorded as a Time Travel snapshot, as a
    /// write request's would be (not in the analytics: it is no query batch).
    pub fn with_connection<R>(&self, uuid: &str, f: impl FnOnce(&Connection) -> R) -> Option<R> {
        let db = self.shared.find(&uuid.to_ascii_lowercase())?;
        let mut conn = lock(&db.conn);
        let version = |conn: &Connection| {
            conn.query_row("PRAGMA schema_version", [], |row| row.get::<_, i64>(0))
                .unwrap_or(0)
        };
        let before = (conn.total_changes(), version(&conn));
        let result = f(&conn);
        if conn.is_autocommit() && (conn.total_changes(), version(&conn)) != before {
            db.record_state(&self.shared, &mut conn);
            self.shared.record_size(&db.uuid, database_size(&conn));
        }
        Some(result)
    }

    /// The bookmark of database `uuid`'s current state (what `GET …/time_travel/bookmark`
    /// answers without a timestamp), `None` if no database has that uuid.
    pub fn bookmark(&self, uuid: &str) -> Option<String> {
        let db = self.shared.find(&uuid.to_ascii_lowercase())?;
        let bookmark = db.current_bookmark();
        Some(bookmark)
    }

    /// Makes the next `times` `/query` or `/raw` requests whose SQL (any statement of it, or
    /// of its batch) contains `sql_contains` fail as a D1 query error (HTTP 400, code 7500,
    /// `message` verbatim) without executing anything. Rules accumulate; the oldest matching
    /// rule with uses left applies. Checked after authentication, rate limiting, the lookup
    /// of the database and the decoding of the body.
    pub fn fail_next_query(&self, sql_contains: &str, times: usize, message: &str) {
        if times > 0 {
            lock(&self.shared.query_failures).push(QueryFailure {
                needle: sql_contains.to_owned(),
                remaining: times,
                message: message.to_owned(),
            });
        }
    }

    /// Makes the next `times` requests (any endpoint, authenticated or not) fail as `failure`
    /// before anything else is looked at; they do not count against the rate limit window.
    /// Queued after any failures still pending. [`Failure::TransientAfterEffect`] is the
    /// exception: its request goes through every check and takes effect as any other (the
    /// rate limit counts it), and only its answer, whatever it was, becomes the 500.
    pub fn fail_next_requests(&self, times: usize, failure: Failure) {
        let mut queue = lock(&self.shared.request_failures);
        queue.extend(std::iter::repeat_n(failure, times));
    }

    /// The request counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Zeroes the request counters (`max_concurrent` restarts from the requests in flight).
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats {
            max_concurrent: self.shared.in_flight.load(Ordering::SeqCst),
            ..Stats::default()
        };
    }

    /// Changes the latency of requests received from now on.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    /// Changes (or removes) the rate limit; the requests already accepted stay in the window.
    pub fn set_rate_limit(&self, rate_limit: Option<RateLimit>) {
        lock(&self.shared.rate).limit = rate_limit;
    }

    /// Changes (or removes) GraphQL's own rate limit.
    pub fn set_graphql_rate_limit(&self, rate_limit: Option<RateLimit>) {
        lock(&self.shared.graphql_rate).limit = rate_limit;
    }

    /// `http://127.0.0.1:PORT/client/v4/graphql`, the counterpart of
    /// `https://api.cloudflare.com/client/v4/graphql`.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.base_url())
    }

    /// Moves the fake's clock forward by `by`. The fake's clock starts as the real one and runs
    /// with it; it dates databases (`created_at`), Time Travel bookmarks and timestamps,
    /// signed URLs' expiry, export timeouts, restore limits and the analytics' buckets. (The
    /// API's rate limit windows and latency stay on the real clock.)
    pub fn advance_clock(&self, by: Duration) {
        self.shared.advance_clock(by);
    }

    /// The fake's clock: the real one plus every [`FakeD1::advance_clock`] so far.
    pub fn now(&self) -> SystemTime {
        self.shared.now()
    }

    /// What the fake recorded of database `uuid`'s query batches, over all time (also after
    /// the database was deleted; zero for a uuid it never saw): the figures GraphQL's
    /// `d1AnalyticsAdaptiveGroups` adds up.
    pub fn usage(&self, uuid: &str) -> Usage {
        self.shared.usage(&uuid.to_ascii_lowercase())
    }

    /// Changes the probability of a transient failure (HTTP 500 before any effect).
    pub fn set_transient_failure_rate(&self, rate: f64) {
        *lock(&self.shared.transient_failure_rate) = rate;
    }
}

impl Drop for FakeD1 {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Each `unblock` wakes exactly one `recv`, so one per worker.
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
