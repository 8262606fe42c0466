//! `d1-fake`: an in-process fake of the Cloudflare D1 REST API (v4), for tests only.
//!
//! [`FakeD1::start`] binds a real HTTP server on `127.0.0.1` (a random port) and serves the D1
//! part of `https://api.cloudflare.com/client/v4` from worker threads, each database being a
//! real in-memory SQLite database (rusqlite's bundled SQLite). A client under test points its
//! base URL at [`FakeD1::base_url`] and talks HTTP to it exactly as it would to Cloudflare, so
//! its real request building, JSON decoding, error mapping, retries and concurrency are all
//! exercised. The test then inspects or alters the state through [`FakeD1::databases`],
//! [`FakeD1::with_connection`] and [`FakeD1::stats`], and injects faults with
//! [`FakeD1::fail_next_query`], [`FakeD1::fail_next_requests`] and [`Options`].
//!
//! ```no_run
//! let fake = d1_fake::FakeD1::start(d1_fake::Options::default());
//! let url = format!("{}/accounts/{}/d1/database", fake.base_url(), fake.account_id());
//! // POST `url` with `Authorization: Bearer {fake.token()}` and `{"name": "tenant-1"}` ...
//! ```
//!
//! # What it reproduces
//!
//! Endpoints, all under `/client/v4/accounts/{account_id}/d1/database`:
//!
//! | request | fake's answer |
//! | --- | --- |
//! | `POST …/database` `{"name", "primary_location_hint"?, "jurisdiction"?}` | `result: {uuid, name, created_at, version: "production", num_tables, file_size, created_in_region[, jurisdiction]}` |
//! | `GET …/database?name=&page=&per_page=` | `result: [{uuid, name, created_at, version, num_tables, file_size}]`, `result_info: {page, per_page, count, total_count}` |
//! | `GET …/database/{uuid}` | one database, as in the list (plus `running_in_region`) |
//! | `DELETE …/database/{uuid}` | `result: null` |
//! | `POST …/database/{uuid}/query` `{"sql", "params"?}` or `{"batch": [{"sql", "params"?}, …]}` | `result: [{results: [{col: value}], success, meta}]`, one element per statement |
//! | `POST …/database/{uuid}/raw` (same bodies) | `result: [{results: {columns, rows}, success, meta}]`, one element per statement |
//!
//! Every JSON answer, successes and failures alike, is Cloudflare's envelope
//! `{"result", "success", "errors": [{"code", "message"}], "messages": []}` with
//! `Content-Type: application/json`; a failure has `"result": null`.
//!
//! Reproduced behaviours, with the HTTP status and Cloudflare error code:
//!
//! - **Authentication**: `Authorization: Bearer <token>` must equal [`Options::token`], else
//!   403 / 10000 "Authentication error". An account id in the path other than
//!   [`Options::account_id`]: 403 / 7403 "The given account is not valid or is not authorized
//!   to access this service".
//! - **Creation rules**: the name must match D1's published pattern `^[a-z0-9][a-z0-9-_]*$`
//!   and be at most 64 characters (the length bound is an assumption), else 400 / 7400 with a
//!   message naming the rule; `primary_location_hint` one of `wnam enam weur eeur apac oc`
//!   and `jurisdiction` one of `eu fedramp`, else 400 / 7400 naming the field. A name in use:
//!   400 / 7502 "A database with that name already exists". An account holding
//!   [`Options::database_limit`] databases: 400 / 7406 "System limit reached: databases per
//!   account (N)" (the API's wording, as wrangler shows it).
//! - **Listing**: in creation order (oldest first). `name` filters by **substring** (the API
//!   documents it only as "a database name to search for"; the clients seen in the wild all
//!   filter the answer for the exact name afterwards, which a substring search forces them to
//!   do). `page` from 1 (default 1; 0 or not a number: 400 / 7400); `per_page` default 1000,
//!   clamped into the documented 10..=10000. `total_count` counts every match.
//! - **Lookup**: a well-formed uuid that names no database: 404 / 7404 "The database {uuid}
//!   could not be found" (the API's wording); a path id that is not a uuid at all:
//!   400 / 7400 (as the API answers for e.g. `…/database/placeholder/query`).
//! - **Queries**: `params` bind as D1 binds JavaScript values: integral numbers → INTEGER,
//!   other numbers → REAL, strings → TEXT, `null` → NULL, booleans → 1 / 0; an array or an
//!   object → 400 / 7500 "D1_TYPE_ERROR: Type 'object' not supported for value '…'" with the
//!   value as JavaScript's `String()` prints it. The request body is read as JavaScript reads
//!   JSON, so an integer parameter beyond ±(2^53 − 1) is rounded to the nearest double first.
//!   A `sql` may hold several `;`-separated statements: all run, with one result each; only
//!   the last one may have parameters ("When executing multiple SQL statements in a single
//!   call, only the last statement can have parameters."), and the count must match ("Wrong
//!   number of parameter bindings for SQL query."); no statement at all: "No SQL statements
//!   detected.".
//! - **Atomicity**: one request (a multi-statement `sql`, or a whole `batch`) is one
//!   transaction: if any statement fails, nothing of the request stays.
//! - **SQL errors**: 400 / 7500, message = SQLite's message + `": SQLITE_<PRIMARY CODE>"`, as
//!   D1 words them (`no such table: x: SQLITE_ERROR`, `UNIQUE constraint failed: t.a:
//!   SQLITE_CONSTRAINT`, `near "x": syntax error at offset 7: SQLITE_ERROR`).
//! - **No SQL transactions**: `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `RELEASE` are refused
//!   (400 / 7500) with the message D1's storage gives ("To execute a transaction, please use
//!   the state.storage.transaction() … : SQLITE_AUTH"); `ATTACH` / `DETACH`: "not authorized:
//!   SQLITE_AUTH".
//! - **`PRAGMA foreign_keys = ON`** on every database, as on D1 (deferred violations fail the
//!   request at its end and roll it back).
//! - **Values out**, as D1's JavaScript serialises them: INTEGER → a JSON number, an integer
//!   beyond ±(2^53 − 1) becoming the double it rounds to; REAL → a JSON number written as
//!   JavaScript writes it (`1.0` → `1`, `0.5` → `0.5`, ±infinity → `null`); TEXT → a string;
//!   NULL → `null`; BLOB → a JSON array of byte values (an assumption: it is how a JavaScript
//!   `Array` of bytes serialises). `/query` rows are objects in column order; a duplicate
//!   column name keeps its first position and its last value (as a JavaScript object does),
//!   while `/raw` keeps every column.
//! - **`meta`** per statement: `served_by`, `served_by_region`, `served_by_primary`,
//!   `duration` (ms, float), `changes`, `last_row_id`, `changed_db`, `size_after` (the
//!   database's bytes after the statement), `rows_read`, `rows_written`, `timings`.
//! - **Rate limiting** ([`Options::rate_limit`]): a sliding window of *accepted* requests per
//!   token (Cloudflare's is 1,200 per 5 minutes). Over it: 429 with `retry-after: <seconds>`
//!   (when the window next frees a slot, rounded up, at least 1) and error 971 "More than N
//!   requests per S seconds reached. Please wait and consider throttling your request
//!   speed". A rejected request does not count against the window, and is answered at once,
//!   without [`Options::latency`] (Cloudflare rejects at its edge, before the service).
//! - **Latency** ([`Options::latency`]): slept before the request is processed (outside any
//!   lock, so concurrent requests overlap) on every answer but a 429.
//! - **Transient failures** ([`Options::transient_failure_rate`], [`Failure`]): answered before
//!   the request has any effect (a "failed" create created nothing, a "failed" query ran
//!   nothing), so a retry is always safe.
//! - Anything else: 404 / 7000 "No route for that URI"; a known path with another method:
//!   405 / 7001 "Method not allowed" (status and code are a guess).
//!
//! # What it does not reproduce
//!
//! - A failure **after** the effect (a timeout or 5xx on a create or a write that did happen),
//!   which the real API can produce: a client must make creation idempotent (adopt the
//!   database by name) and may see a write applied twice if it blindly retries one. The fake
//!   fails only before the effect.
//! - The per-IP limit (200 requests/s), request body size limits, D1's per-database limits
//!   (size, columns, bound parameters beyond SQLite's own), query timeouts, "D1 DB is
//!   overloaded" and storage-exceeded errors.
//! - Read replication, sessions and bookmarks, `/export`, `/import`, `/time_travel/*`, the
//!   `PUT`/`PATCH` of a database, and the legacy `X-Auth-Email` / `X-Auth-Key` headers.
//! - D1's own restrictions on PRAGMAs and on `_cf_`-prefixed tables, and its hidden tables.
//! - `meta` numbers are approximations: `rows_read` is the rows returned plus SQLite's
//!   full-scan steps, `rows_written` equals `changes`, `duration` is the fake's own time.
//! - Persistence: databases live in memory and vanish with the [`FakeD1`].
//! - Exact wording where Cloudflare's was not found: the name-rule, location, jurisdiction and
//!   body-shape messages (all 7400), the 405 answer, and the 500 envelope of a transient
//!   failure (7500 "internal error"; the real API answers 5xx with varied bodies).

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, StatementStatus};
use serde_json::{json, Value};

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
    /// Probability (0..=1) that an accepted request fails with HTTP 500 before any effect
    /// (default 0).
    pub transient_failure_rate: f64,
    /// Seed of the fake's PRNG, which draws transient failures and database uuids (default:
    /// random). The same seed and the same request sequence give the same uuids and failures.
    pub seed: u64,
    /// HTTP worker threads, i.e. requests processed (and sleeping their latency) at once
    /// (default 32).
    pub threads: usize,
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
            transient_failure_rate: 0.0,
            seed: hasher.finish(),
            threads: 32,
        }
    }
}

/// A sliding-window rate limit: at most `requests` accepted requests per token within any
/// `per` (Cloudflare's: 1,200 per 5 minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests accepted within one window.
    pub requests: usize,
    /// The window's length.
    pub per: Duration,
}

/// How an injected request failure ([`FakeD1::fail_next_requests`]) answers. Every kind
/// answers before the request has any effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 500 with the envelope error 7500 "internal error" (after the latency).
    Transient,
    /// HTTP 429 with `retry-after: <retry_after_secs>` and error 971 (at once).
    RateLimited {
        /// The `retry-after` header's value.
        retry_after_secs: u64,
    },
    /// HTTP 502 with an HTML body and `Content-Type: text/html`, as a proxy in front of the
    /// API sends it (after the latency): a client must not require a JSON body.
    BadGateway,
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
    /// `GET …/database/{uuid}` requests.
    pub get: u64,
    /// `DELETE …/database/{uuid}` requests.
    pub delete: u64,
    /// `POST …/database/{uuid}/query` requests.
    pub query: u64,
    /// `POST …/database/{uuid}/raw` requests.
    pub raw: u64,
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
    pub fn with_connection<R>(&self, uuid: &str, f: impl FnOnce(&Connection) -> R) -> Option<R> {
        let db = self.shared.find(&uuid.to_ascii_lowercase())?;
        let conn = lock(&db.conn);
        Some(f(&conn))
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
    /// Queued after any failures still pending.
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

// ---------------------------------------------------------------------------------------------
// State

struct Shared {
    account_id: String,
    token: String,
    database_limit: usize,
    latency: Mutex<Duration>,
    rate: Mutex<RateState>,
    transient_failure_rate: Mutex<f64>,
    account: Mutex<Account>,
    rng: Mutex<Rng>,
    query_failures: Mutex<Vec<QueryFailure>>,
    request_failures: Mutex<VecDeque<Failure>>,
    stats: Mutex<Stats>,
    in_flight: AtomicUsize,
}

struct RateState {
    limit: Option<RateLimit>,
    /// Per token: when each request still in the window was accepted, oldest first.
    windows: HashMap<String, VecDeque<Instant>>,
}

struct QueryFailure {
    needle: String,
    remaining: usize,
    message: String,
}

#[derive(Default)]
struct Account {
    next_seq: u64,
    by_seq: BTreeMap<u64, Arc<Database>>,
    by_uuid: HashMap<String, u64>,
    by_name: HashMap<String, u64>,
}

struct Database {
    uuid: String,
    name: String,
    created_at: String,
    region: String,
    jurisdiction: Option<String>,
    conn: Mutex<Connection>,
}

enum CreateError {
    Exists,
    Limit,
}

impl Shared {
    fn find(&self, uuid: &str) -> Option<Arc<Database>> {
        let account = lock(&self.account);
        let seq = account.by_uuid.get(uuid)?;
        account.by_seq.get(seq).cloned()
    }

    fn create_database(
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
        let db = Arc::new(Database {
            uuid: uuid.clone(),
            name: name.to_owned(),
            created_at: rfc3339(SystemTime::now()),
            region: hint.unwrap_or("wnam").to_ascii_uppercase(),
            jurisdiction: jurisdiction.map(str::to_owned),
            conn: Mutex::new(conn),
        });
        let seq = account.next_seq;
        account.next_seq += 1;
        account.by_seq.insert(seq, Arc::clone(&db));
        account.by_uuid.insert(uuid, seq);
        account.by_name.insert(name.to_owned(), seq);
        Ok(db)
    }

    fn sleep_latency(&self) {
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
    }

    /// Accepts a request into `token`'s window, or says in how many seconds one would be.
    fn admit(&self, token: &str) -> Result<(), (u64, RateLimit)> {
        let mut state = lock(&self.rate);
        let Some(limit) = state.limit else {
            return Ok(());
        };
        let now = Instant::now();
        let window = state.windows.entry(token.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|&t| now.duration_since(t) >= limit.per)
        {
            window.pop_front();
        }
        if window.len() < limit.requests {
            window.push_back(now);
            return Ok(());
        }
        // A slot frees when `len - requests + 1` entries have aged out.
        let wait = match window.get(window.len() - limit.requests) {
            Some(&t) => (t + limit.per).saturating_duration_since(now),
            None => limit.per,
        };
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err((secs.max(1), limit))
    }

    fn take_query_failure(&self, sqls: &[&str]) -> Option<String> {
        let mut rules = lock(&self.query_failures);
        let index = rules
            .iter()
            .position(|r| sqls.iter().any(|sql| sql.contains(&r.needle)))?;
        rules[index].remaining -= 1;
        let message = rules[index].message.clone();
        if rules[index].remaining == 0 {
            rules.remove(index);
        }
        Some(message)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SplitMix64: small, seedable, good enough for uuids and coin flips.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uuid_v4(&mut self) -> String {
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

// ---------------------------------------------------------------------------------------------
// HTTP

struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    retry_after: Option<u64>,
}

impl Reply {
    fn ok_raw(result: &str) -> Reply {
        Reply::json(
            200,
            format!(r#"{{"result":{result},"success":true,"errors":[],"messages":[]}}"#),
        )
    }

    fn ok(result: Value) -> Reply {
        Reply::ok_raw(&result.to_string())
    }

    fn error(status: u16, code: u32, message: &str) -> Reply {
        let body = json!({
            "result": null,
            "success": false,
            "errors": [{"code": code, "message": message}],
            "messages": [],
        });
        Reply::json(status, body.to_string())
    }

    fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
            retry_after: None,
        }
    }

    fn rate_limited(retry_after: u64, message: &str) -> Reply {
        Reply {
            retry_after: Some(retry_after),
            ..Reply::error(429, 971, message)
        }
    }

    fn internal_error() -> Reply {
        Reply::error(500, 7500, "internal error")
    }

    fn bad_gateway() -> Reply {
        Reply {
            status: 502,
            body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                   <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n\
                   </body>\r\n</html>\r\n"
                .to_owned(),
            content_type: "text/html",
            retry_after: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    List,
    Get,
    Delete,
    Query,
    Raw,
    Other,
}

enum Route {
    Create,
    List,
    Get(String),
    Delete(String),
    Query(String, bool),
    MethodNotAllowed,
    Unrouted,
}

impl Route {
    fn kind(&self) -> Kind {
        match self {
            Route::Create => Kind::Create,
            Route::List => Kind::List,
            Route::Get(_) => Kind::Get,
            Route::Delete(_) => Kind::Delete,
            Route::Query(_, false) => Kind::Query,
            Route::Query(_, true) => Kind::Raw,
            Route::MethodNotAllowed | Route::Unrouted => Kind::Other,
        }
    }
}

/// Splits `/client/v4/accounts/{account}/d1/database…` into the account and the route.
fn route(method: &tiny_http::Method, path: &str) -> (Option<String>, Route) {
    use tiny_http::Method::{Delete, Get, Post};
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let ["client", "v4", "accounts", account, "d1", "database", rest @ ..] = segments.as_slice()
    else {
        return (None, Route::Unrouted);
    };
    let account = Some(percent_decode(account));
    let route = match (rest, method) {
        ([], Post) => Route::Create,
        ([], Get) => Route::List,
        ([id], Get) => Route::Get(percent_decode(id)),
        ([id], Delete) => Route::Delete(percent_decode(id)),
        ([id, "query"], Post) => Route::Query(percent_decode(id), false),
        ([id, "raw"], Post) => Route::Query(percent_decode(id), true),
        ([] | [_] | [_, "query" | "raw"], _) => Route::MethodNotAllowed,
        _ => Route::Unrouted,
    };
    (account, route)
}

fn handle(shared: &Shared, mut request: tiny_http::Request) {
    let received = Instant::now();
    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let (account, route) = route(request.method(), path);
    {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        stats.first_request.get_or_insert(received);
        stats.last_request = Some(received);
        stats.max_concurrent = stats.max_concurrent.max(in_flight);
        match route.kind() {
            Kind::Create => stats.create += 1,
            Kind::List => stats.list += 1,
            Kind::Get => stats.get += 1,
            Kind::Delete => stats.delete += 1,
            Kind::Query => stats.query += 1,
            Kind::Raw => stats.raw += 1,
            Kind::Other => stats.other += 1,
        }
    }

    let reply = process(shared, &mut request, account, route, query);

    {
        let mut stats = lock(&shared.stats);
        match reply.status {
            429 => stats.responses_429 += 1,
            500.. => stats.responses_5xx += 1,
            400.. => stats.responses_4xx += 1,
            _ => {}
        }
    }
    let mut response = tiny_http::Response::from_data(reply.body.into_bytes())
        .with_status_code(reply.status)
        .with_header(header("Content-Type", reply.content_type));
    if let Some(secs) = reply.retry_after {
        response.add_header(header("retry-after", &secs.to_string()));
    }
    // Out of flight before the client can see the answer, so a client sending its requests one
    // after another never looks concurrent.
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("d1-fake: a header")
}

fn process(
    shared: &Shared,
    request: &mut tiny_http::Request,
    account: Option<String>,
    route: Route,
    query: &str,
) -> Reply {
    // Injected failures come first: before auth, the window and any effect.
    let injected = lock(&shared.request_failures).pop_front();
    match injected {
        Some(Failure::RateLimited { retry_after_secs }) => {
            return Reply::rate_limited(
                retry_after_secs,
                "More than 1200 requests per 300 seconds reached. Please wait and consider \
                 throttling your request speed",
            );
        }
        Some(Failure::Transient) => {
            shared.sleep_latency();
            return Reply::internal_error();
        }
        Some(Failure::BadGateway) => {
            shared.sleep_latency();
            return Reply::bad_gateway();
        }
        None => {}
    }

    let token = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let Some(account) = account else {
        shared.sleep_latency();
        return Reply::error(404, 7000, "No route for that URI");
    };
    if token.as_deref() != Some(shared.token.as_str()) {
        shared.sleep_latency();
        return Reply::error(403, 10000, "Authentication error");
    }
    if account != shared.account_id {
        shared.sleep_latency();
        return Reply::error(
            403,
            7403,
            "The given account is not valid or is not authorized to access this service",
        );
    }
    if let Err((retry_after, limit)) = shared.admit(&shared.token) {
        let per = limit.per.as_secs_f64();
        return Reply::rate_limited(
            retry_after,
            &format!(
                "More than {} requests per {per} seconds reached. Please wait and consider \
                 throttling your request speed",
                limit.requests
            ),
        );
    }
    let rate = *lock(&shared.transient_failure_rate);
    let fail = rate > 0.0 && lock(&shared.rng).next_f64() < rate;
    shared.sleep_latency();
    if fail {
        return Reply::internal_error();
    }

    let mut body = Vec::new();
    if matches!(route, Route::Create | Route::Query(..))
        && request.as_reader().read_to_end(&mut body).is_err()
    {
        return Reply::error(400, 7400, "The request body could not be read");
    }
    match route {
        Route::Create => create(shared, &body),
        Route::List => list(shared, query),
        Route::Get(id) => match lookup(shared, &id) {
            Ok(db) => Reply::ok(describe(&db, true)),
            Err(reply) => reply,
        },
        Route::Delete(id) => match lookup(shared, &id) {
            Ok(db) => {
                let mut account = lock(&shared.account);
                if let Some(seq) = account.by_uuid.remove(&db.uuid) {
                    account.by_seq.remove(&seq);
                    account.by_name.remove(&db.name);
                }
                Reply::ok(Value::Null)
            }
            Err(reply) => reply,
        },
        Route::Query(id, raw) => match lookup(shared, &id) {
            Ok(db) => run_query(shared, &db, &body, raw),
            Err(reply) => reply,
        },
        Route::MethodNotAllowed => Reply::error(405, 7001, "Method not allowed"),
        Route::Unrouted => Reply::error(404, 7000, "No route for that URI"),
    }
}

// ---------------------------------------------------------------------------------------------
// Database management

const LOCATION_HINTS: [&str; 6] = ["wnam", "enam", "weur", "eeur", "apac", "oc"];
const JURISDICTIONS: [&str; 2] = ["eu", "fedramp"];
const NAME_MAX: usize = 64;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= NAME_MAX
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn optional_choice<'a>(
    body: &'a serde_json::Map<String, Value>,
    field: &str,
    choices: &[&str],
) -> Result<Option<&'a str>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if choices.contains(&s.as_str()) => Ok(Some(s)),
        Some(other) => Err(Reply::error(
            400,
            7400,
            &format!(
                "Invalid {field}: {other} is not one of {}",
                choices.join(", ")
            ),
        )),
    }
}

fn create(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(
            400,
            7400,
            "The request body must be a JSON object with a \"name\"",
        );
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return Reply::error(
            400,
            7400,
            "Invalid name: a database name (a string) is required",
        );
    };
    if !valid_name(name) {
        return Reply::error(
            400,
            7400,
            &format!(
                "Invalid name {name:?}: a database name is 1 to {NAME_MAX} characters, lowercase \
                 letters, digits, '-' and '_', starting with a letter or a digit"
            ),
        );
    }
    let hint = match optional_choice(&body, "primary_location_hint", &LOCATION_HINTS) {
        Ok(hint) => hint,
        Err(reply) => return reply,
    };
    let jurisdiction = match optional_choice(&body, "jurisdiction", &JURISDICTIONS) {
        Ok(jurisdiction) => jurisdiction,
        Err(reply) => return reply,
    };
    match shared.create_database(name, hint, jurisdiction, shared.database_limit) {
        Ok(db) => Reply::ok(describe(&db, false)),
        Err(CreateError::Exists) => {
            Reply::error(400, 7502, "A database with that name already exists")
        }
        Err(CreateError::Limit) => Reply::error(
            400,
            7406,
            &format!(
                "System limit reached: databases per account ({})",
                shared.database_limit
            ),
        ),
    }
}

fn describe(db: &Database, region: bool) -> Value {
    let (num_tables, file_size) = {
        let conn = lock(&db.conn);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
                [],
                |row| row.get(0),
            )
            .unwrap_or(0);
        (tables, database_size(&conn))
    };
    let mut value = json!({
        "uuid": db.uuid,
        "name": db.name,
        "created_at": db.created_at,
        "version": "production",
        "num_tables": num_tables,
        "file_size": file_size,
    });
    if region {
        value["running_in_region"] = json!(db.region);
    } else {
        value["created_in_region"] = json!(db.region);
    }
    if let Some(jurisdiction) = &db.jurisdiction {
        value["jurisdiction"] = json!(jurisdiction);
    }
    value
}

fn database_size(conn: &Connection) -> i64 {
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .unwrap_or(0)
    };
    pragma("page_count") * pragma("page_size")
}

fn list(shared: &Shared, query: &str) -> Reply {
    let mut name = None;
    let mut page = 1u64;
    let mut per_page = 1000u64;
    for (key, value) in parse_query(query) {
        match key.as_str() {
            "name" => name = Some(value).filter(|v| !v.is_empty()),
            "page" => match value.parse::<u64>() {
                Ok(p) if p >= 1 => page = p,
                _ => return Reply::error(400, 7400, "Invalid page: a number from 1 is expected"),
            },
            "per_page" => match value.parse::<u64>() {
                Ok(p) => per_page = p.clamp(10, 10_000),
                _ => {
                    return Reply::error(
                        400,
                        7400,
                        "Invalid per_page: a number from 10 to 10000 is expected",
                    )
                }
            },
            _ => {}
        }
    }
    let (total_count, on_page) = {
        let account = lock(&shared.account);
        let matching = account
            .by_seq
            .values()
            .filter(|db| name.as_deref().is_none_or(|n| db.name.contains(n)));
        let total = matching.clone().count();
        let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let page_dbs: Vec<Arc<Database>> = matching
            .skip(skip)
            .take(per_page as usize)
            .cloned()
            .collect();
        (total, page_dbs)
    };
    // Each database is described outside the account lock.
    let result: Vec<Value> = on_page.iter().map(|db| describe(db, false)).collect();
    let count = result.len();
    let body = json!({
        "result": result,
        "result_info": {
            "page": page,
            "per_page": per_page,
            "count": count,
            "total_count": total_count,
        },
        "success": true,
        "errors": [],
        "messages": [],
    });
    Reply::json(200, body.to_string())
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn lookup(shared: &Shared, id: &str) -> Result<Arc<Database>, Reply> {
    if !is_uuid(id) {
        return Err(Reply::error(
            400,
            7400,
            &format!("The database id {id:?} is not a valid uuid"),
        ));
    }
    shared
        .find(&id.to_ascii_lowercase())
        .ok_or_else(|| Reply::error(404, 7404, &format!("The database {id} could not be found")))
}

// ---------------------------------------------------------------------------------------------
// Queries

const TRANSACTION_REFUSED: &str = "To execute a transaction, please use the \
    state.storage.transaction() or state.storage.transactionSync() APIs instead of the SQL \
    BEGIN TRANSACTION or SAVEPOINT statements. The JavaScript API is safer because it will \
    automatically roll back on exceptions, and because it interacts correctly with Durable \
    Objects' automatic atomic write coalescing.: SQLITE_AUTH";
const ONLY_LAST_PARAMETERS: &str = "When executing multiple SQL statements in a single call, \
    only the last statement can have parameters.";
const WRONG_BINDINGS: &str = "Wrong number of parameter bindings for SQL query.";
const NO_STATEMENTS: &str = "No SQL statements detected.";

/// One `{sql, params}` of a request.
struct Group {
    sql: String,
    params: Vec<SqlValue>,
}

fn decode_group(value: &Value) -> Result<Group, Reply> {
    let bad = || {
        Reply::error(
            400,
            7400,
            "The request body must be {\"sql\": string, \"params\"?: array} or \
             {\"batch\": [{\"sql\": string, \"params\"?: array}, ...]}",
        )
    };
    let object = value.as_object().ok_or_else(bad)?;
    let sql = object.get("sql").and_then(Value::as_str).ok_or_else(bad)?;
    let params = match object.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(bind_value)
            .collect::<Result<_, _>>()
            .map_err(|message| Reply::error(400, 7500, &message))?,
        Some(_) => return Err(bad()),
    };
    Ok(Group {
        sql: sql.to_owned(),
        params,
    })
}

/// A JSON parameter as D1 binds the JavaScript value it parses to.
fn bind_value(value: &Value) -> Result<SqlValue, String> {
    const SAFE: u64 = (1 << 53) - 1;
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) if i.unsigned_abs() <= SAFE => SqlValue::Integer(i),
            // JavaScript's JSON.parse rounds it to a double.
            _ => number_value(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Array(_) | Value::Object(_) => {
            return Err(format!(
                "D1_TYPE_ERROR: Type 'object' not supported for value '{}'",
                js_string(value)
            ))
        }
    })
}

/// 2^63: the integral doubles below it in magnitude fit an i64.
const TWO_POW_63: f64 = (1u64 << 63) as f64;

/// A JavaScript number as D1 binds it: INTEGER when integral (and in range), else REAL.
fn number_value(f: f64) -> SqlValue {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < TWO_POW_63 {
        SqlValue::Integer(f as i64)
    } else {
        SqlValue::Real(f)
    }
}

/// JavaScript's `String(value)`.
fn js_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// A double as JavaScript writes it in JSON: integral values without a fraction, non-finite
/// ones as `null` (the notation of very large or small values may differ, not the value).
fn js_number(f: f64) -> String {
    if !f.is_finite() {
        "null".to_owned()
    } else if f.fract() == 0.0 && f.abs() < TWO_POW_63 {
        (f as i64).to_string()
    } else {
        serde_json::Number::from_f64(f).map_or_else(|| "null".to_owned(), |n| n.to_string())
    }
}

fn run_query(shared: &Shared, db: &Database, body: &[u8], raw: bool) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(400, 7400, "The request body is not valid JSON");
    };
    let groups: Vec<Group> = match body.get("batch") {
        Some(Value::Array(items)) => match items.iter().map(decode_group).collect() {
            Ok(groups) => groups,
            Err(reply) => return reply,
        },
        Some(_) => {
            return Reply::error(
                400,
                7400,
                "\"batch\" must be an array of {\"sql\", \"params\"}",
            )
        }
        None => match decode_group(&body) {
            Ok(group) => vec![group],
            Err(reply) => return reply,
        },
    };
    let sqls: Vec<&str> = groups.iter().map(|g| g.sql.as_str()).collect();
    if let Some(message) = shared.take_query_failure(&sqls) {
        return Reply::error(400, 7500, &message);
    }
    let outcome = {
        let mut conn = lock(&db.conn);
        execute(&mut conn, &groups)
    };
    match outcome {
        Ok(statements) => {
            let mut out = String::from("[");
            for (i, statement) in statements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                statement.write(&mut out, raw);
            }
            out.push(']');
            Reply::ok_raw(&out)
        }
        Err(message) => Reply::error(400, 7500, &message),
    }
}

/// A value read from SQLite.
enum Out {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Out {
    fn read(value: ValueRef<'_>) -> Out {
        match value {
            ValueRef::Null => Out::Null,
            ValueRef::Integer(i) => Out::Integer(i),
            ValueRef::Real(f) => Out::Real(f),
            ValueRef::Text(t) => Out::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Out::Blob(b.to_vec()),
        }
    }

    fn write(&self, out: &mut String) {
        const SAFE: u64 = (1 << 53) - 1;
        match self {
            Out::Null => out.push_str("null"),
            Out::Integer(i) if i.unsigned_abs() <= SAFE => out.push_str(&i.to_string()),
            Out::Integer(i) => out.push_str(&js_number(*i as f64)),
            Out::Real(f) => out.push_str(&js_number(*f)),
            Out::Text(s) => push_json_string(out, s),
            Out::Blob(bytes) => {
                out.push('[');
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&b.to_string());
                }
                out.push(']');
            }
        }
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&Value::from(s).to_string());
}

/// One executed statement.
struct StatementResult {
    columns: Vec<String>,
    rows: Vec<Vec<Out>>,
    meta: Value,
}

impl StatementResult {
    fn write(&self, out: &mut String, raw: bool) {
        out.push_str(r#"{"results":"#);
        if raw {
            out.push_str(r#"{"columns":"#);
            out.push_str(&json!(self.columns).to_string());
            out.push_str(r#","rows":["#);
            for (i, row) in self.rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                for (j, value) in row.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    value.write(out);
                }
                out.push(']');
            }
            out.push_str("]}");
        } else {
            // A JavaScript object: a repeated column keeps its first place and its last value.
            let mut keys: Vec<(&str, usize)> = Vec::new();
            for (i, column) in self.columns.iter().enumerate() {
                match keys.iter_mut().find(|(name, _)| *name == column) {
                    Some(entry) => entry.1 = i,
                    None => keys.push((column, i)),
                }
            }
            out.push('[');
            for (i, row) in self.rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                for (j, (name, index)) in keys.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_json_string(out, name);
                    out.push(':');
                    row[*index].write(out);
                }
                out.push('}');
            }
            out.push(']');
        }
        out.push_str(r#","success":true,"meta":"#);
        out.push_str(&self.meta.to_string());
        out.push('}');
    }
}

/// Runs a request's groups as one transaction: every statement's result, or the first error
/// (and nothing of the request stays).
fn execute(conn: &mut Connection, groups: &[Group]) -> Result<Vec<StatementResult>, String> {
    conn.execute_batch("BEGIN").map_err(|e| sql_message(&e))?;
    let refused_transaction = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&refused_transaction);
    let installed = conn.authorizer(Some(move |context: AuthContext<'_>| match context.action {
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            flag.store(true, Ordering::SeqCst);
            Authorization::Deny
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        _ => Authorization::Allow,
    }));
    let outcome = installed.map_err(|e| sql_message(&e)).and_then(|()| {
        let mut results = Vec::new();
        for group in groups {
            run_group(conn, group, &mut results).map_err(|error| match error {
                RunError::Sql(e)
                    if refused_transaction.load(Ordering::SeqCst)
                        && e.sqlite_error_code()
                            == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) =>
                {
                    TRANSACTION_REFUSED.to_owned()
                }
                RunError::Sql(e) => sql_message(&e),
                RunError::D1(message) => message.to_owned(),
            })?;
        }
        Ok(results)
    });
    let _ = conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    let outcome = outcome.and_then(|results| {
        conn.execute_batch("COMMIT")
            .map(|()| results)
            .map_err(|e| sql_message(&e))
    });
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

enum RunError {
    Sql(rusqlite::Error),
    D1(&'static str),
}

impl From<rusqlite::Error> for RunError {
    fn from(e: rusqlite::Error) -> Self {
        RunError::Sql(e)
    }
}

fn run_group(
    conn: &Connection,
    group: &Group,
    results: &mut Vec<StatementResult>,
) -> Result<(), RunError> {
    let mut batch = rusqlite::Batch::new(conn, &group.sql);
    let mut statements = 0;
    let mut bound = false;
    while let Some(mut statement) = batch.next()? {
        if bound {
            return Err(RunError::D1(ONLY_LAST_PARAMETERS));
        }
        statements += 1;
        let wanted = statement.parameter_count();
        if wanted > 0 {
            if wanted != group.params.len() {
                return Err(RunError::D1(WRONG_BINDINGS));
            }
            for (i, value) in group.params.iter().enumerate() {
                statement.raw_bind_parameter(i + 1, value)?;
            }
            bound = true;
        }
        let readonly = statement.readonly();
        let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let total_before = conn.total_changes();
        let schema_before = if readonly { 0 } else { schema_version(conn) };
        let started = Instant::now();
        let mut rows = Vec::new();
        {
            let mut cursor = statement.raw_query();
            while let Some(row) = cursor.next()? {
                let values = (0..columns.len())
                    .map(|i| row.get_ref(i).map(Out::read))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(values);
            }
        }
        let duration = started.elapsed().as_secs_f64() * 1000.0;
        // `changes()` is stale after a statement that changed nothing (DDL, a read).
        let changes = if conn.total_changes() == total_before {
            0
        } else {
            conn.changes()
        };
        let changed_db = changes > 0 || (!readonly && schema_version(conn) != schema_before);
        let rows_read = rows.len() as u64
            + u64::try_from(statement.get_status(StatementStatus::FullscanStep)).unwrap_or(0);
        let meta = json!({
            "served_by": "v3-prod",
            "served_by_region": "WNAM",
            "served_by_primary": true,
            "duration": duration,
            "changes": changes,
            "last_row_id": conn.last_insert_rowid(),
            "changed_db": changed_db,
            "size_after": database_size(conn),
            "rows_read": rows_read,
            "rows_written": changes,
            "timings": {"sql_duration_ms": duration},
        });
        results.push(StatementResult {
            columns,
            rows,
            meta,
        });
    }
    if statements == 0 {
        return Err(RunError::D1(NO_STATEMENTS));
    }
    if !bound && !group.params.is_empty() {
        return Err(RunError::D1(WRONG_BINDINGS));
    }
    Ok(())
}

fn schema_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA schema_version", [], |row| row.get(0))
        .unwrap_or(0)
}

/// An SQLite error as D1 words it: the message, then `: SQLITE_<primary code>`.
fn sql_message(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqlInputError {
            error, msg, offset, ..
        } => format!(
            "{msg} at offset {offset}: {}",
            code_name(error.extended_code)
        ),
        rusqlite::Error::SqliteFailure(error, Some(msg)) => {
            format!("{msg}: {}", code_name(error.extended_code))
        }
        rusqlite::Error::SqliteFailure(error, None) => {
            format!("{error}: {}", code_name(error.extended_code))
        }
        other => format!("{other}: SQLITE_ERROR"),
    }
}

fn code_name(extended: i32) -> &'static str {
    const NAMES: [&str; 27] = [
        "SQLITE_OK",
        "SQLITE_ERROR",
        "SQLITE_INTERNAL",
        "SQLITE_PERM",
        "SQLITE_ABORT",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_NOMEM",
        "SQLITE_READONLY",
        "SQLITE_INTERRUPT",
        "SQLITE_IOERR",
        "SQLITE_CORRUPT",
        "SQLITE_NOTFOUND",
        "SQLITE_FULL",
        "SQLITE_CANTOPEN",
        "SQLITE_PROTOCOL",
        "SQLITE_EMPTY",
        "SQLITE_SCHEMA",
        "SQLITE_TOOBIG",
        "SQLITE_CONSTRAINT",
        "SQLITE_MISMATCH",
        "SQLITE_MISUSE",
        "SQLITE_NOLFS",
        "SQLITE_AUTH",
        "SQLITE_FORMAT",
        "SQLITE_RANGE",
        "SQLITE_NOTADB",
    ];
    NAMES
        .get((extended & 0xff) as usize)
        .copied()
        .unwrap_or("SQLITE_ERROR")
}

// ---------------------------------------------------------------------------------------------
// Small formats

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high * 16 + low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// RFC 3339 in UTC with milliseconds, as the API writes `created_at`.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn javascript_numbers() {
        assert_eq!(js_number(1.0), "1");
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(js_number(0.5), "0.5");
        assert_eq!(js_number(f64::INFINITY), "null");
        assert_eq!(
            js_number(9_007_199_254_740_993_i64 as f64),
            "9007199254740992"
        );
        assert_eq!(
            js_string(&json!([1, null, "a", {"b": 1}])),
            "1,,a,[object Object]"
        );
    }

    #[test]
    fn uuids_are_v4() {
        let mut rng = Rng(7);
        let uuid = rng.uuid_v4();
        assert!(is_uuid(&uuid), "{uuid}");
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid, rng.uuid_v4());
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            parse_query("name=a%2Db+c&page=2&x"),
            vec![
                ("name".to_owned(), "a-b c".to_owned()),
                ("page".to_owned(), "2".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
