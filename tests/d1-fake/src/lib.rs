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
//! | `GET …/database/{uuid or name}` (`?fields=` accepted, ignored) | one database's details: as in the list, plus `running_in_region` and `read_replication: {mode}` |
//! | `DELETE …/database/{uuid}` | `result: null` |
//! | `PUT …/database/{uuid}` `{"read_replication": {"mode": "auto" \| "disabled"}}`, or `PATCH` (the body optional) | the database's details, as `GET` gives them |
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
//! - **Creation rules**: the name must match D1's published pattern `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`
//!   (upper case allowed) and be at most 64 characters (the length bound is an assumption),
//!   else 400 / 7400 with a message naming the rule; `primary_location_hint` one of `wnam enam
//!   weur eeur apac oc` and `jurisdiction` one of `eu fedramp us`, else 400 / 7400 naming the
//!   field. Names are compared exactly: `Tenant` and `tenant` are two names (an assumption:
//!   whether D1 compares them without case is not known). A name in use:
//!   400 / 7502 "A database with that name already exists". An account holding
//!   [`Options::database_limit`] databases: 400 / 7406 "System limit reached: databases per
//!   account (N)" (the API's wording, as wrangler shows it).
//! - **Listing**: in creation order (oldest first). `name` filters by **substring** (the API
//!   documents it only as "a database name to search for"; the clients seen in the wild all
//!   filter the answer for the exact name afterwards, which a substring search forces them to
//!   do). `page` from 1 (default 1; 0 or not a number: 400 / 7400); `per_page` default 1000,
//!   clamped into the documented 10..=10000, and lowered to [`Options::max_per_page`] (to
//!   make a client page with few databases). `total_count` counts every match, or with
//!   [`Options::total_count_ignores_name`] every database of the account, as the real API
//!   may (a client must stop at a page shorter than `per_page`, not at `total_count`).
//! - **Lookup**: `GET …/database/{x}` takes a uuid (any case) or, failing that, a database's
//!   exact name, as wrangler uses it; nothing of either: 404 / 7404 "The database {x} could not
//!   be found" (the API's wording). The other endpoints take only a uuid: a well-formed uuid
//!   that names no database is the same 404 / 7404; a path id that is not a uuid at all is
//!   400 / 7400 (as the API answers for e.g. `…/database/placeholder/query`).
//! - **Read replication**: a database's `read_replication.mode` is `disabled` when created;
//!   `PUT` (which needs `read_replication`) or `PATCH` (where it is optional) sets it to `auto`
//!   or `disabled`, else 400 / 7400 naming the field; the mode is only recorded (no replicas,
//!   no sessions).
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
//!   nothing), so a retry is always safe; except an injected
//!   [`Failure::TransientAfterEffect`], a 500 answered after the request took effect (a
//!   "failed" delete deleted, and its retry gets 404 / 7404).
//! - Anything else: 404 / 7000 "No route for that URI"; a known path with another method:
//!   405 / 7001 "Method not allowed" (status and code are a guess).
//!
//! # What it does not reproduce
//!
//! - A failure **after** the effect (a timeout or 5xx on a create or a write that did happen),
//!   which the real API can produce at any time: a client must make creation idempotent
//!   (adopt the database by name) and may see a write applied twice if it blindly retries
//!   one. The fake fails after the effect only when a test injects
//!   [`Failure::TransientAfterEffect`]; random failures come before it.
//! - The per-IP limit (200 requests/s), request body size limits, D1's per-database limits
//!   (size, columns, bound parameters beyond SQLite's own), query timeouts, "D1 DB is
//!   overloaded" and storage-exceeded errors.
//! - Read replicas themselves (the mode is only recorded), sessions and bookmarks, `/export`,
//!   `/import`, `/time_travel/*`, and the legacy `X-Auth-Email` / `X-Auth-Key` headers.
//! - The meaning of `GET …/database/{x}?fields=` (which fields it selects is not known here).
//! - D1's own restrictions on PRAGMAs and on `_cf_`-prefixed tables, and its hidden tables.
//! - `meta` numbers are approximations: `rows_read` is the rows returned plus SQLite's
//!   full-scan steps, `rows_written` equals `changes`, `duration` is the fake's own time.
//! - Persistence: databases live in memory and vanish with the [`FakeD1`].
//! - Exact wording where Cloudflare's was not found: the name-rule, location, jurisdiction,
//!   read replication and body-shape messages (all 7400), the 405 answer, and the 500 envelope of a transient
//!   failure (7500 "internal error"; the real API answers 5xx with varied bodies).

#![forbid(unsafe_code)]

mod faults;
mod format;
mod http;
mod js;
mod manage;
mod query;
mod rate;
mod reply;
mod server;
mod state;

pub use faults::Failure;
pub use rate::RateLimit;
pub use server::{DatabaseEntry, FakeD1, Options, Stats};
