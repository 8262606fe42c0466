//! `d1-fake`: an in-process fake of the Cloudflare D1 REST API (v4), for tests only.
//!
//! [`FakeD1::start`] binds a real HTTP server on `127.0.0.1` (a random port) and serves the D1
//! part of `https://api.cloudflare.com/client/v4` from worker threads, each database being a
//! real in-memory SQLite database (rusqlite's bundled SQLite). A client under test points its
//! base URL at [`FakeD1::base_url`] and talks HTTP to it exactly as it would to Cloudflare, so
//! its real request building, JSON decoding, error mapping, retries and concurrency are all
//! exercised. The test then inspects or alters the state through [`FakeD1::databases`],
//! [`FakeD1::with_connection`], [`FakeD1::bookmark`], [`FakeD1::usage`] and
//! [`FakeD1::stats`], moves time on with [`FakeD1::advance_clock`], and injects faults with
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
//! | `GET …/database/{uuid}/time_travel/bookmark?timestamp=` (optional) | `result: {bookmark}` |
//! | `POST …/database/{uuid}/time_travel/restore?bookmark=` or `?timestamp=` (no body) | `result: {bookmark, previous_bookmark, message}` |
//! | `POST …/database/{uuid}/export` `{"output_format": "polling", "current_bookmark"?, "dump_options"?: {no_data?, no_schema?, tables?}}` | 202 `result: {at_bookmark, messages: [string], status: "active", success: true, type: "export"}`; at the end 200 with `status: "complete"` and `result: {filename, signed_url}`, or `status: "error"` and `error` |
//! | `POST …/database/{uuid}/import` `{"action": "init", "etag"}` | `result: {success: true, type: "import", filename, upload_url, messages}`, or (file already uploaded) the import starts: as `ingest` |
//! | `POST …/database/{uuid}/import` `{"action": "ingest", "etag", "filename"}` | 202 `result: {at_bookmark, messages, status: "active", success: true, type: "import"}` |
//! | `POST …/database/{uuid}/import` `{"action": "poll", "current_bookmark"}` | 202 as above, then 200 `result: {at_bookmark, messages, status: "complete", success: true, type: "import", result: {final_bookmark, num_queries, meta}}` or `status: "error"` with `error` |
//!
//! And outside the accounts:
//!
//! | request | fake's answer |
//! | --- | --- |
//! | `POST /client/v4/graphql` `{"query", "variables"?, "operationName"?}` ([`FakeD1::graphql_url`]) | plain GraphQL: `{"data": …, "errors": null}`, or `{"data": null, "errors": [{"message", "path"?}]}` |
//! | `GET` an export's `signed_url`, `PUT` an import's `upload_url` (no token) | the dump (`Content-Type: application/sql`); the upload stored, 200 with `ETag: "<md5 hex>"` |
//!
//! Every JSON answer of the v4 API, successes and failures alike, is Cloudflare's envelope
//! `{"result", "success", "errors": [{"code", "message"}], "messages": []}` with
//! `Content-Type: application/json`; a failure has `"result": null`. GraphQL and the signed
//! URLs answer in their own shapes (below).
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
//! ## The fake's clock
//!
//! The fake's notion of now is the real clock plus what [`FakeD1::advance_clock`] added
//! ([`FakeD1::now`]). It dates `created_at`, bookmarks and the timestamps they are looked up
//! by, the Time Travel window and restore limit, export timeouts, signed URLs' expiry and the
//! analytics' minutes and days. The API's rate limit windows (and GraphQL's) and latency stay
//! on the real clock.
//!
//! ## Usage and GraphQL analytics
//!
//! - **Recording**: every *successful* `/query` or `/raw` request is one query batch of its
//!   database (a failed one is not recorded: an assumption). It is a write query when one of
//!   its statements changed the database (`meta.changed_db`: a row changed, or the schema; an
//!   `UPDATE` matching nothing is a read query: an assumption), else a read query; its
//!   `rowsRead` / `rowsWritten` are the sums of its statements' `meta.rows_read` /
//!   `meta.rows_written`, its `queryBatchResponseBytes` the bytes of the whole answer, its
//!   `queryBatchTimeMs` the time the fake took to run it. Batches are bucketed by minute of the
//!   fake's clock. `databaseSizeBytes` is recorded at creation and after every change (write
//!   request, import, restore, a change through [`FakeD1::with_connection`]); a day keeps its
//!   largest. Imports are not query batches (an assumption). A deleted database's figures
//!   stay, as on Cloudflare. [`FakeD1::usage`] gives a database's totals ([`Usage`]).
//! - **Authentication**: the same bearer token as the API; a bad one gets the API's 403 /
//!   10000 envelope (an assumption: Cloudflare's GraphQL may answer otherwise). Its own rate
//!   limit, [`Options::graphql_rate_limit`] (Cloudflare's: 320 per 5 minutes), answered as the
//!   API's (429, `retry-after`, 971); GraphQL requests do not count against
//!   [`Options::rate_limit`].
//! - **Interpretation**: the query is parsed (`graphql-parser`) and interpreted, not matched:
//!   the operation (by `operationName` when there are several; queries only), variables and
//!   their defaults (declared types are not checked: wrangler declares made-up ones), aliases,
//!   fragments and inline fragments, `@skip` / `@include`, `__typename` (type names
//!   `Query`, `viewer`, `account`, `AccountD1AnalyticsAdaptiveGroups`, …`Sum`, …`Avg`,
//!   …`Quantiles`, …`Dimensions`, `AccountD1StorageAdaptiveGroups`, …`Max`: assumptions).
//!   The answer holds exactly the fields selected, in their order, under their aliases.
//! - **Schema**: `viewer { accounts(filter: {accountTag}) { … } }`: the fake's account as a
//!   list of one; another `accountTag` is an error "not authorized for that account" (an
//!   assumption; a missing filter is an error too). Its datasets:
//!   - `d1AnalyticsAdaptiveGroups(limit, filter, orderBy)`: `sum {readQueries writeQueries
//!     rowsRead rowsWritten queryBatchResponseBytes}`, `avg {queryBatchTimeMs
//!     queryBatchResponseBytes sampleInterval}` (`sampleInterval` is always 1),
//!     `quantiles {queryBatchTimeMsP25 … P50 P75 P90 P95 P99 P999, queryBatchResponseBytesP25
//!     …}` (nearest rank), `count` (query batches), `dimensions {databaseId date datetime
//!     datetimeMinute datetimeFiveMinutes datetimeFifteenMinutes datetimeHour}`;
//!   - `d1StorageAdaptiveGroups(limit, filter, orderBy)`: `max {databaseSizeBytes}`,
//!     `dimensions {databaseId date}`.
//! - **Groups**: the selected `dimensions` fields are the GROUP BY (no dimension: one group).
//!   `date` is `YYYY-MM-DD`, the `datetime*` dimensions `YYYY-MM-DDTHH:MM:SSZ` (the start of
//!   the minute, 5 or 15 minutes or hour: the fake records by the minute, so `datetime` is the
//!   minute). Sums and counts are JSON integers, averages and quantiles floats.
//! - **Arguments**: `limit` is required, 0 to 10,000 (an assumption). `filter` takes a
//!   dimension of the dataset, alone (equality) or with `_gt _geq _lt _leq _neq` (one value)
//!   or `_in _notin` (a list), and `AND` / `OR` lists of filters; a key with a null value is
//!   ignored; times compare as instants (any RFC 3339 form), dates as dates; a coarse time
//!   dimension compares its rounded value (`datetimeHour_geq` the hour's start). `orderBy`
//!   takes `<field>_ASC|_DESC` for a selected dimension (`date_ASC`), an aggregate
//!   (`sum_rowsRead_DESC`, `avg_queryBatchTimeMs_ASC`, `quantiles_queryBatchTimeMsP90_DESC`,
//!   `max_databaseSizeBytes_DESC`) or `count`; as an enum or a string. Without `orderBy`
//!   (and to break ties) groups come in ascending order of their dimensions. Data older than
//!   31 days of the fake's clock (GraphQL's retention) is left out.
//! - **Errors**: a query error is answered HTTP 200 `{"data": null, "errors": [{"message",
//!   "path"?}]}`, the path made of response keys (and `0` for the account): an unknown field
//!   (`Cannot query field "x" on type "T".`), argument, filter field or order, a missing
//!   `limit`, a leaf with a selection or an object without one, an undefined variable or
//!   fragment, a syntax error (`Syntax error: …`). A body that is no GraphQL request (not a
//!   JSON object with a string `query`): HTTP 400 in the same shape.
//!
//! ## Time Travel
//!
//! - **History**: each database keeps real snapshots of its whole content (schema and rows;
//!   SQLite's serialize API, unchanged pages shared between snapshots): one at creation and
//!   one after every request that changed it (a write query, an import, a restore, a change
//!   through [`FakeD1::with_connection`]). A read changes nothing and makes no bookmark.
//! - **Bookmarks** look like D1's (`00000185-d5f3e2a0-00000003-<32 hex>`, 8-8-8-32 lowercase
//!   hex digits): the fake's clock in ms (high, low 32 bits), the database's snapshot number,
//!   an md5; they sort in time order as strings. `GET …/bookmark` without a timestamp gives the
//!   current state's ([`FakeD1::bookmark`] too); with one (RFC 3339 / ISO 8601 with any
//!   offset, a bare date, or Unix seconds), the latest state at or before it (a future
//!   timestamp: the current state).
//! - **Refusals**, all 400 / 7400 (the code is a guess) with a message naming the culprit: a
//!   timestamp that does not parse; one older than [`Options::time_travel_retention`]
//!   (default 30 days) or before the database was created; a malformed bookmark; a bookmark
//!   this database never had ("was not found"); a state replaced before the retention window
//!   began, or dropped because [`Options::time_travel_snapshots`] (default 1,000 per
//!   database) were kept since ("outside the Time Travel retention period"); a restore with
//!   both or neither of `bookmark` and `timestamp`.
//! - **Restore** replaces the whole content by the snapshot's and records a new state (so the
//!   current bookmark changes). It answers `bookmark` = the bookmark restored to (wrangler
//!   prints it as such), `previous_bookmark` = the state just before the restore (restoring
//!   to it undoes the restore) and `message` = "Database {name} restored to bookmark {b}"
//!   (the wording is a guess). More than 10 restores of a database within 10 minutes of the
//!   fake's clock: 429 / 7429 with `retry-after` (status, code and wording are guesses).
//!   Refused while an export or import runs (400 / 7500, as queries).
//!
//! ## Export
//!
//! - The first call (no `current_bookmark`) takes the dump at once, at the current bookmark
//!   (`at_bookmark`), and answers 202 "active"; the database then refuses queries, restores,
//!   imports and another export: 400 / 7500 "Currently processing a long-running export."
//!   (D1's wording as its binding reports it), a second export "…Cannot start a new export
//!   until that completes or times out." Polls (`current_bookmark` = `at_bookmark`) answer 202
//!   "active" [`Options::export_polls`] times (default 1), then 200 "complete" with
//!   `result: {filename: "<db name>-<at_bookmark>.sql", signed_url}`, or "error" with `error`;
//!   the database serves again, and a later poll of that bookmark gets the same answer. An
//!   export not polled for 60 s of the fake's clock is cancelled (the database serves again;
//!   its bookmark is then unknown). A poll of a bookmark no export has: 400 / 7400.
//!   `output_format` must be `"polling"`, `dump_options` an object of booleans and a list of
//!   names: else 400 / 7400 naming the field.
//! - **The dump** is D1's (its `dumpSql`, ported): `PRAGMA defer_foreign_keys=TRUE;`, each
//!   table of `sqlite_schema` in order with its `CREATE TABLE …;` (`CREATE TABLE IF NOT
//!   EXISTS` when the name was quoted) and its rows as `INSERT INTO "t" ("a","b")
//!   VALUES(…);`, `sqlite_sequence` as `DELETE FROM sqlite_sequence;` and its rows, other
//!   `sqlite_*` and `_cf_*` tables skipped, then indexes, triggers and views; lines joined by
//!   `\n`. `no_data`, `no_schema` and `tables` as D1 (which filters indexes, triggers and
//!   views by their own name); a `tables` entry naming no table: "error" (an assumption); a
//!   virtual table: "error" "D1 Export error: cannot export databases with Virtual Tables
//!   (fts5)". Values are written exactly (unlike D1, whose JavaScript rounds integers beyond
//!   2^53 and writes `1.0` as `1`): integers in full, reals in the shortest form that reads
//!   back as the same REAL (`1.0`, `0.1`, `1e300`; ±infinity as `±1e999`), text quoted with
//!   `''`, newlines and carriage returns as SQLite's shell writes them
//!   (`replace('a\nb','\n',char(10))`), text holding a NUL or invalid UTF-8 as
//!   `CAST(X'…' AS TEXT)`, BLOBs as `X'…'`, `NULL`.
//!
//! ## Import
//!
//! - `init` with `etag` (32 hex digits, else 400 / 7400): 200 `{success: true, type:
//!   "import", filename: "<etag>.sql", upload_url, messages}` (no `status`: an assumption,
//!   after wrangler's types); when a file with that md5 was uploaded to the account before,
//!   no upload: the import starts at once and `init` answers as `ingest` does (wrangler
//!   expects this).
//! - `ingest` with `etag` and `filename` (the one `init` gave, else 400 / 7400 naming it):
//!   nothing uploaded, or an upload whose md5 is not the etag: 200 `{success: false, type:
//!   "import", status: "error", error, messages}`. Else the file runs at once, as one
//!   transaction with foreign keys deferred (an error leaves nothing: an assumption), with
//!   D1's refusals (transactions, ATTACH); the answer is 202 "active" with `at_bookmark` (the
//!   bookmark before), and the database refuses queries, restores and exports ("Currently
//!   processing a long-running import.", a guess of the wording) until the import completes.
//! - `poll` with `current_bookmark`: 202 "active" [`Options::import_polls`] times (default
//!   1), then 200 "complete" with `result: {final_bookmark, num_queries, meta: {served_by,
//!   duration, changes, last_row_id, changed_db, size_after, rows_read, rows_written}}`, or
//!   "error" (`success: true`) with `error` = D1's wording of the SQL error (`no such table:
//!   x: SQLITE_ERROR`); later polls repeat it. An import not polled for 60 s completes. A
//!   successful import is a Time Travel state (`final_bookmark` is the current bookmark).
//!
//! ## Signed URLs (the fake's object store, standing for R2)
//!
//! - Served by the fake on its own port, outside `/client/v4`:
//!   `http://127.0.0.1:PORT/presigned/{export|import}/<token>/<filename>?X-Amz-Algorithm=…
//!   &X-Amz-Date=…&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=<hex>`, valid
//!   one hour of the fake's clock; the GET of an export's (`application/sql`), the PUT of an
//!   import's (answered 200 with `ETag: "<md5 hex>"`, quoted, whatever was sent).
//! - As a presigned R2 URL: no token needed, and none accepted: an `Authorization` header
//!   gets 400 `InvalidArgument` "Only one auth mechanism allowed"; a URL altered in any
//!   signed part, or used with another method: 403 `SignatureDoesNotMatch`; expired: 403
//!   `AccessDenied` "Request has expired"; an object the store lacks: 403 `AccessDenied`.
//!   Errors are S3's XML (`<Error><Code>…</Code><Message>…</Message></Error>`,
//!   `application/xml`).
//! - They go through none of the API's checks: no injected or transient failure, rate limit
//!   or latency. A deleted database's export stays downloadable for its hour (R2 keeps it),
//!   and uploads stay in the account (any database may import them).
//!
//! ## Deletion
//!
//! Deleting a database drops its running export or import (polls get 404 / 7404, as every
//! endpoint of a deleted database) and its Time Travel history; its analytics stay.
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
//! - Read replicas themselves (the mode is only recorded), sessions and their bookmarks, and
//!   the legacy `X-Auth-Email` / `X-Auth-Key` headers.
//! - GraphQL beyond D1's two datasets: `d1QueriesAdaptiveGroups` (per-query statistics) and
//!   every other dataset are unknown fields; no introspection (`__schema`, `__type`), no
//!   variable type checking, no `extensions` in errors; analytics are exact (no sampling).
//! - Time Travel's real granularity (D1 can restore to any minute; the fake to the states
//!   its requests made), databases of `version: "alpha"` (every fake database is
//!   `production`), the free plan's 7 days (set [`Options::time_travel_retention`]).
//! - Exports in several parts, large files' timing, imports of files D1's splitter would
//!   reject (the fake runs any SQL SQLite takes), and a file uploaded in parts.
//! - Restoring a snapshot into a database whose page size changed since (`PRAGMA page_size`
//!   then `VACUUM`): SQLite's backup refuses it and the restore answers 500.
//! - The meaning of `GET …/database/{x}?fields=` (which fields it selects is not known here).
//! - D1's own restrictions on PRAGMAs and on `_cf_`-prefixed tables, and its hidden tables.
//! - `meta` numbers are approximations: `rows_read` is the rows returned plus SQLite's
//!   full-scan steps, `rows_written` equals `changes`, `duration` is the fake's own time.
//! - Persistence: databases live in memory and vanish with the [`FakeD1`].
//! - Exact wording where Cloudflare's was not found: the name-rule, location, jurisdiction,
//!   read replication and body-shape messages (all 7400), the 405 answer, and the 500 envelope of a transient
//!   failure (7500 "internal error"; the real API answers 5xx with varied bodies); the
//!   Time Travel, export and import messages (`messages` lines, refusals, the restore's
//!   `message`), GraphQL's error messages, and the codes 7400 / 7429 of Time Travel's
//!   refusals.

#![forbid(unsafe_code)]

mod analytics;
mod dump;
mod export;
mod faults;
mod format;
mod graphql;
mod http;
mod import;
mod jobs;
mod js;
mod manage;
mod presigned;
mod query;
mod rate;
mod reply;
mod server;
mod snapshot;
mod state;
mod time;
mod timetravel;
mod usage;

pub use faults::Failure;
pub use rate::RateLimit;
pub use server::{DatabaseEntry, FakeD1, Options, Stats};
pub use usage::Usage;
