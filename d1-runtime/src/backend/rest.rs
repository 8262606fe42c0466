//! The REST backend (feature `rest`): D1 through Cloudflare's v4 API, with no binding.
//!
//! - [`Client`]: one account and API token. It manages databases ([`Client::create_database`],
//!   [`Client::create_or_adopt`], [`Client::list_databases`], [`Client::delete_database`]) and
//!   opens any of them by id as a [`Database`], an [`Executor`]: every typed query, `batch`
//!   included, runs over `POST .../raw` (a batch is one request, one transaction).
//! - [`Tenants`]: one database per tenant, created the first time the tenant shows up
//!   (`<prefix>-<tenant>`), migrated with the embedded migrations, and recorded in a
//!   [`DatabaseDirectory`](crate::route::DatabaseDirectory).
//!
//! Values are bound and decoded by d1kit with the Worker backend's rules: D1 writes its JSON
//! from JavaScript values, so only integers within ±(2^53 − 1) cross, both ways; a larger
//! one is an error, never a rounded number. The API has no BLOB parameter (JSON has no bytes,
//! and D1 refuses arrays): binding a BLOB is an error that says to bind hex text and write
//! `unhex(?N)`. A BLOB result arrives as an array of byte values and is decoded as bytes.
//!
//! Requests are retried: HTTP 429 after its `retry-after` (and every request of the same
//! [`Client`], clones included, waits with it: the token's budget is shared), 5xx and
//! connection failures with exponential backoff and jitter. A statement that may write is
//! retried after a 5xx only with [`Retry::writes`] (D1 may have applied it before failing);
//! migrations are always retried, since their `d1_migrations` row makes a second application
//! fail as a whole. [`Client::with_request_budget`] also paces requests on the client side.
//!
//! Natively the HTTP client is ureq (blocking, rustls): run the futures with
//! [`crate::block_on`], or from a blocking thread of an async runtime. On wasm32 (with the
//! `worker` feature too) requests go through the Workers fetch API.

use crate::database::Database as DatabaseDef;
use crate::js_number;
use crate::route::DatabaseDirectory;
use crate::row::{OwnedRow, Row};
use crate::{
    Batch, Error, Executor, FromRow, Query, RawResults, Result, RunResult, Statement, Value,
};
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Cloudflare's API, version 4.
pub const API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// A D1 error code: a database with that name already exists.
pub const NAME_TAKEN: u32 = 7502;
/// A D1 error code: the account has reached its maximum number of databases.
pub const DATABASE_LIMIT: u32 = 7406;

/// How requests are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Attempts in all for a request that fails transiently (5xx, connection failure).
    pub attempts: u32,
    /// Attempts in all for a request answered with HTTP 429.
    pub rate_limited_attempts: u32,
    /// The first backoff; each retry doubles it, with jitter ([`crate::backoff`]), up to `max_delay`.
    pub base_delay: Duration,
    /// The longest backoff, and the longest `retry-after` honoured as is.
    pub max_delay: Duration,
    /// Whether a statement that may write is retried after a 5xx or a lost connection. D1 may
    /// have applied it before failing, so this is off by default; reads are always retried.
    pub writes: bool,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 5,
            rate_limited_attempts: 10,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(60),
            writes: false,
        }
    }
}

/// Options of a new database: where it lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// `primary_location_hint`: `wnam`, `enam`, `weur`, `eeur`, `apac` or `oc`.
    pub location_hint: Option<String>,
    /// `jurisdiction`: `eu` or `fedramp`.
    pub jurisdiction: Option<String>,
}

/// A database of the account, as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// Its id (`database_id` in wrangler files).
    pub uuid: String,
    /// Its name.
    pub name: String,
    /// When it was created (RFC 3339), when the API says.
    pub created_at: Option<String>,
}

/// Whether [`Client::create_or_adopt`] made the database or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Created now.
    New,
    /// A database of that name already existed (error 7502): it is used as is.
    Adopted,
}

/// One Cloudflare account reached with one API token. Cheap to clone; clones share the
/// token's request budget (a 429 pauses them all).
#[derive(Clone)]
pub struct Client {
    account_id: Arc<str>,
    token: Arc<str>,
    base_url: Arc<str>,
    retry: Retry,
    gate: Arc<Gate>,
    http: http::Http,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("account_id", &self.account_id)
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be sent again after a failure that may have followed its effect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    Safe,
    Unsafe,
}

impl Client {
    /// A client of account `account_id` with API token `api_token` (it needs D1 edit
    /// permission), talking to Cloudflare's API.
    pub fn new(account_id: impl Into<String>, api_token: impl Into<String>) -> Client {
        Client {
            account_id: account_id.into().into(),
            token: api_token.into().into(),
            base_url: API_BASE.into(),
            retry: Retry::default(),
            gate: Arc::new(Gate::default()),
            http: http::Http::new(),
        }
    }

    /// A client from `CLOUDFLARE_ACCOUNT_ID` and `CLOUDFLARE_API_TOKEN` (wrangler's
    /// variables); an error names the variable that is missing.
    pub fn from_env() -> Result<Client> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    Error::Backend(format!(
                        "{name} is not set: the REST API needs an account id and an API token \
                         (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN with D1 edit permission)"
                    ))
                })
        };
        Ok(Client::new(
            var("CLOUDFLARE_ACCOUNT_ID")?,
            var("CLOUDFLARE_API_TOKEN")?,
        ))
    }

    /// The same client talking to another API root (a test server); `url` is what
    /// `/accounts/...` is appended to.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Client {
        self.base_url = url.into().trim_end_matches('/').into();
        self
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    /// The same client, pacing its requests (and its clones') to at most `requests` in any
    /// `per` window, so a fleet stays within the token's budget instead of running into 429s
    /// (Cloudflare allows 1,200 requests per 5 minutes per token).
    pub fn with_request_budget(self, requests: u32, per: Duration) -> Client {
        let mut state = self.gate.state.lock().unwrap_or_else(|e| e.into_inner());
        state.budget = Some((requests.max(1) as usize, per.as_secs_f64() * 1000.0));
        drop(state);
        self
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The retry policy.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// Database `uuid` of the account, as an [`Executor`].
    pub fn database(&self, uuid: impl Into<String>) -> Database {
        Database {
            client: self.clone(),
            uuid: uuid.into().into(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/accounts/{}/d1/database{path}",
            self.base_url, self.account_id
        )
    }

    /// Creates database `name`. A name already taken is [`Error::Api`] with code 7502
    /// ([`NAME_TAKEN`]); a full account, code 7406 ([`DATABASE_LIMIT`]).
    pub async fn create_database(
        &self,
        name: &str,
        options: &CreateOptions,
    ) -> Result<DatabaseInfo> {
        let mut body = Map::new();
        body.insert("name".into(), name.into());
        if let Some(hint) = &options.location_hint {
            body.insert("primary_location_hint".into(), hint.as_str().into());
        }
        if let Some(jurisdiction) = &options.jurisdiction {
            body.insert("jurisdiction".into(), jurisdiction.as_str().into());
        }
        // Safe to replay: a create that happened makes the second one fail with 7502.
        let reply = self
            .request(
                "POST",
                &self.url(""),
                Some(Json::Object(body)),
                Replay::Safe,
            )
            .await?;
        database_info(&reply.result)
    }

    /// Database `name`, created now or, when the name is taken (7502), the existing one: the
    /// same name always ends as the same database, however many callers race for it.
    pub async fn create_or_adopt(
        &self,
        name: &str,
        options: &CreateOptions,
    ) -> Result<(DatabaseInfo, Created)> {
        match self.create_database(name, options).await {
            Ok(info) => Ok((info, Created::New)),
            Err(e) if e.api_code() == Some(NAME_TAKEN) => match self.find_database(name).await? {
                Some(info) => Ok((info, Created::Adopted)),
                None => Err(Error::Backend(format!(
                    "creating D1 database `{name}`: the API says the name is taken, but no \
                     database of the account has it (deleted meanwhile?); try again"
                ))),
            },
            Err(e) => Err(e),
        }
    }

    /// Every database of the account (every page), or those whose name contains `name`.
    pub async fn list_databases(&self, name: Option<&str>) -> Result<Vec<DatabaseInfo>> {
        let mut out = Vec::new();
        for page in 1u32.. {
            let mut url = format!("{}?page={page}&per_page=1000", self.url(""));
            if let Some(name) = name {
                url.push_str("&name=");
                url.push_str(&percent_encode(name));
            }
            let reply = self.request("GET", &url, None, Replay::Safe).await?;
            let items = reply.result.as_array().ok_or_else(|| {
                Error::Backend(format!(
                    "listing databases: the API returned no list: {}",
                    reply.result
                ))
            })?;
            for item in items {
                out.push(database_info(item)?);
            }
            let info = reply.result_info.as_ref();
            let total = info
                .and_then(|i| i.get("total_count"))
                .and_then(Json::as_u64);
            let done = match total {
                Some(total) => out.len() as u64 >= total,
                None => items.len() < 1000,
            };
            if done || items.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    /// The database named exactly `name`, if the account has one.
    pub async fn find_database(&self, name: &str) -> Result<Option<DatabaseInfo>> {
        let all = self.list_databases(Some(name)).await?;
        Ok(all.into_iter().find(|d| d.name == name))
    }

    /// Deletes database `uuid` and everything in it.
    pub async fn delete_database(&self, uuid: &str) -> Result<()> {
        let url = self.url(&format!("/{}", percent_encode(uuid)));
        self.request("DELETE", &url, None, Replay::Safe)
            .await
            .map(drop)
    }

    /// Sends one request, retrying as [`Retry`] says, and unwraps Cloudflare's envelope.
    async fn request(
        &self,
        method: &'static str,
        url: &str,
        body: Option<Json>,
        replay: Replay,
    ) -> Result<Reply> {
        let body = body.map(|b| b.to_string());
        let (mut transient, mut limited) = (0u32, 0u32);
        loop {
            self.gate.wait().await;
            let response = self
                .http
                .send(method, url, &self.token, body.as_deref())
                .await;
            // A 429 did not count against the budget; anything else (even no answer) may have.
            self.gate
                .finish(!matches!(&response, Ok(r) if r.status == 429));
            let failure = match response {
                Ok(r) if r.status == 429 => {
                    limited += 1;
                    let wait = r
                        .retry_after
                        .unwrap_or(self.retry.base_delay)
                        .min(self.retry.max_delay);
                    if limited >= self.retry.rate_limited_attempts {
                        return Err(envelope_error(&r).unwrap_or_else(|| Error::Api {
                            status: 429,
                            code: None,
                            message: format!(
                                "rate limited {limited} times in a row (HTTP 429); giving up"
                            ),
                        }));
                    }
                    self.gate.pause(wait);
                    continue;
                }
                Ok(r) if r.status >= 500 => envelope_error(&r).unwrap_or_else(|| Error::Api {
                    status: r.status,
                    code: None,
                    message: format!("HTTP {}: {}", r.status, excerpt(&r.body)),
                }),
                Ok(r) => return Reply::of(&r),
                Err(message) => Error::Api {
                    status: 0,
                    code: None,
                    message: format!("{method} {url}: {message}"),
                },
            };
            transient += 1;
            let replayable = replay == Replay::Safe || self.retry.writes;
            if !replayable || transient >= self.retry.attempts {
                return Err(failure);
            }
            sleep(crate::backoff(
                self.retry.base_delay,
                transient,
                self.retry.max_delay,
            ))
            .await;
        }
    }
}

/// An API reply that succeeded: its `result` and `result_info`.
struct Reply {
    result: Json,
    result_info: Option<Json>,
}

impl Reply {
    fn of(r: &Response) -> Result<Reply> {
        if let Some(e) = envelope_error(r) {
            return Err(e);
        }
        if !(200..300).contains(&r.status) {
            return Err(Error::Api {
                status: r.status,
                code: None,
                message: format!("HTTP {}: {}", r.status, excerpt(&r.body)),
            });
        }
        let mut envelope: Json = serde_json::from_str(&r.body).map_err(|e| Error::Api {
            status: r.status,
            code: None,
            message: format!("the API's reply is not JSON ({e}): {}", excerpt(&r.body)),
        })?;
        Ok(Reply {
            result: envelope
                .get_mut("result")
                .map(Json::take)
                .unwrap_or(Json::Null),
            result_info: envelope.get_mut("result_info").map(Json::take),
        })
    }
}

/// The error a reply carries: `success: false` with its first error (code and message), or
/// `None` for a successful or non-JSON reply.
fn envelope_error(r: &Response) -> Option<Error> {
    let envelope: Json = serde_json::from_str(&r.body).ok()?;
    if envelope.get("success").and_then(Json::as_bool) != Some(false) {
        return None;
    }
    let errors = envelope.get("errors").and_then(Json::as_array);
    let first = errors.and_then(|e| e.first());
    let code = first
        .and_then(|e| e.get("code"))
        .and_then(Json::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    let message = errors
        .map(|all| {
            all.iter()
                .filter_map(|e| e.get("message").and_then(Json::as_str))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {} without a message", r.status));
    Some(Error::Api {
        status: r.status,
        code,
        message,
    })
}

fn excerpt(body: &str) -> String {
    let text: String = body.chars().take(200).collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text
    }
}

fn database_info(item: &Json) -> Result<DatabaseInfo> {
    let field = |key: &str| item.get(key).and_then(Json::as_str).map(str::to_owned);
    match (field("uuid"), field("name")) {
        (Some(uuid), Some(name)) => Ok(DatabaseInfo {
            uuid,
            name,
            created_at: field("created_at"),
        }),
        _ => Err(Error::Backend(format!(
            "the API described a database without uuid or name: {item}"
        ))),
    }
}

/// Percent-encodes a query or path component (RFC 3986 unreserved characters kept).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One database reached over the REST API: an [`Executor`].
#[derive(Debug, Clone)]
pub struct Database {
    client: Client,
    uuid: Arc<str>,
}

impl Database {
    /// The database's id.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The client it goes through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends statements to `/raw`: one as `{sql, params}`, several as one `{batch: [...]}`
    /// (one transaction), and reads one result per statement.
    async fn raw(&self, statements: &[Statement], replay: Replay) -> Result<Vec<RawResults>> {
        let mut bodies = Vec::with_capacity(statements.len());
        for statement in statements {
            bodies.push(statement_body(statement)?);
        }
        let body = match bodies.len() {
            1 => bodies.pop().unwrap_or_default(),
            _ => json!({ "batch": bodies }),
        };
        let url = self
            .client
            .url(&format!("/{}/raw", percent_encode(&self.uuid)));
        let reply = match self.client.request("POST", &url, Some(body), replay).await {
            Ok(reply) => reply,
            Err(Error::Api {
                status: 400..=499,
                code: Some(7500),
                message,
            }) => return Err(query_error(message, statements)),
            Err(e) => return Err(e),
        };
        let results = reply.result.as_array().ok_or_else(|| {
            Error::Backend(format!(
                "D1 returned no list of results: {}",
                excerpt(&reply.result.to_string())
            ))
        })?;
        if results.len() != statements.len() {
            return Err(Error::Backend(format!(
                "D1 returned {} results for {} statements",
                results.len(),
                statements.len()
            )));
        }
        results.iter().map(raw_results).collect()
    }

    async fn one(&self, statement: Statement) -> Result<RawResults> {
        let replay = replay_of(std::slice::from_ref(&statement));
        let mut results = self.raw(std::slice::from_ref(&statement), replay).await?;
        Ok(results.pop().unwrap_or_default())
    }
}

fn query_error(message: String, statements: &[Statement]) -> Error {
    let sql = statements
        .iter()
        .map(|s| s.sql.as_ref())
        .collect::<Vec<_>>()
        .join(";\n");
    Error::query(message, &sql)
}

/// Whether statements only read: then a request that failed midway can be sent again.
fn replay_of(statements: &[Statement]) -> Replay {
    let reads = statements.iter().all(|s| {
        let head = s.sql.trim_start();
        let word: String = head.chars().take_while(char::is_ascii_alphabetic).collect();
        // A WITH may end in INSERT/UPDATE/DELETE; only a plain SELECT is surely a read.
        word.eq_ignore_ascii_case("SELECT")
    });
    if reads {
        Replay::Safe
    } else {
        Replay::Unsafe
    }
}

fn statement_body(statement: &Statement) -> Result<Json> {
    let mut params = Vec::with_capacity(statement.params.len());
    for (i, value) in statement.params.iter().enumerate() {
        params.push(param_json(value).map_err(|message| Error::Bind {
            index: i + 1,
            message,
        })?);
    }
    Ok(json!({ "sql": statement.sql.as_ref(), "params": params }))
}

/// A parameter as the API takes it.
fn param_json(value: &Value) -> std::result::Result<Json, String> {
    if let Some(why) = js_number::unsendable(value) {
        return Err(why);
    }
    Ok(match value {
        Value::Null => Json::Null,
        Value::Integer(i) => Json::from(*i),
        Value::Real(r) => match serde_json::Number::from_f64(*r) {
            Some(n) => Json::Number(n),
            None => return Err(format!("{r} cannot be sent in JSON (only finite numbers)")),
        },
        Value::Text(s) => Json::String(s.clone()),
        Value::Blob(_) => {
            return Err(
                "the D1 REST API has no BLOB parameter (JSON carries no bytes and D1 \
                 refuses arrays): bind the bytes as hex text and write `unhex(?N)` in the SQL"
                    .to_owned(),
            )
        }
    })
}

/// One statement's entry of a `/raw` reply.
fn raw_results(entry: &Json) -> Result<RawResults> {
    let results = entry.get("results");
    let columns: Vec<String> = results
        .and_then(|r| r.get("columns"))
        .and_then(Json::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| c.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    if let Some(list) = results.and_then(|r| r.get("rows")).and_then(Json::as_array) {
        rows.reserve(list.len());
        for row in list {
            let cells = row.as_array().ok_or_else(|| {
                Error::Backend(format!("D1 returned a row that is not a list: {row}"))
            })?;
            let mut values = Vec::with_capacity(cells.len());
            for (i, cell) in cells.iter().enumerate() {
                let column = columns.get(i).map_or("?", String::as_str);
                values.push(value_of(cell, column)?);
            }
            rows.push(values);
        }
    }
    Ok(RawResults {
        columns,
        rows,
        meta: entry.get("meta").map(meta_of).unwrap_or_default(),
    })
}

/// A JSON value of a result row as a [`Value`].
fn value_of(cell: &Json, column: &str) -> Result<Value> {
    Ok(match cell {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => js_number::number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(items) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Value::Blob(bytes.ok_or_else(|| Error::Decode {
                column: column.to_owned(),
                message: "the REST API returned a list that is not bytes".to_owned(),
            })?)
        }
        Json::Object(_) => {
            return Err(Error::Decode {
                column: column.to_owned(),
                message: format!(
                    "the REST API returned an object ({}), not a SQL value; a BLOB that JSON \
                     cannot carry? select hex(..) of it instead",
                    excerpt(&cell.to_string())
                ),
            })
        }
    })
}

fn meta_of(meta: &Json) -> RunResult {
    let count = |key: &str| {
        meta.get(key)
            .and_then(Json::as_f64)
            .map_or(0, |n| n.max(0.0) as u64)
    };
    RunResult {
        changes: count("changes"),
        last_row_id: meta
            .get("last_row_id")
            .and_then(Json::as_f64)
            .map_or(0, |n| n as i64),
        rows_read: count("rows_read"),
        rows_written: count("rows_written"),
        duration: meta
            .get("duration")
            .and_then(Json::as_f64)
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
    }
}

impl Executor for Database {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        Ok(self.one(q.into_statement()).await?.decode::<Q::Row>()?.rows)
    }

    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        let raw = self.one(q.into_statement()).await?;
        let names = raw.columns;
        raw.rows
            .into_iter()
            .next()
            .map(|values| {
                let mut src = OwnedRow {
                    names: &names,
                    values,
                };
                Q::Row::from_row(&mut Row::new(&mut src))
            })
            .transpose()
    }

    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        Ok(self.one(q.into_statement()).await?.meta)
    }

    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        let statements = b.into_statements();
        if statements.is_empty() {
            return B::decode(Vec::new());
        }
        let results = self.raw(&statements, replay_of(&statements)).await?;
        B::decode(results)
    }
}

/// A migration-safe view of a database: its writes are replayed after a 5xx, because every
/// migration batch carries its `d1_migrations` row (a second application fails whole).
struct Migrating<'a>(&'a Database);

impl Executor for Migrating<'_> {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        self.0.all(q).await
    }
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        self.0.first(q).await
    }
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        self.0.run(q).await
    }
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        let statements = b.into_statements();
        let results = self.0.raw(&statements, Replay::Safe).await?;
        B::decode(results)
    }
}

impl Database {
    /// Applies the migrations it lacks ([`crate::migrate::migrate`]). Migration batches are
    /// replayed after transient failures whatever [`Retry::writes`] says: a migration that did
    /// apply makes its replay fail as a whole on the `d1_migrations` row, and the next run
    /// sees it applied.
    pub async fn migrate(
        &self,
        migrations: &[crate::Migration],
    ) -> Result<crate::migrate::MigrateReport> {
        crate::migrate::migrate(&Migrating(self), migrations).await
    }
}

/// One database per tenant of `D`, created on first use.
///
/// [`Tenants::open`] looks the tenant up in the directory; a tenant seen for the first time
/// gets database `<prefix>-<tenant>` (created, or adopted when the name exists: error 7502),
/// migrated with `D`'s embedded migrations, and only then recorded, so a failure leaves no
/// record and the next call tries again. Concurrent first calls for one tenant in a process
/// wait for one creation; across processes the name makes them meet on one database.
pub struct Tenants<D, Dir> {
    client: Client,
    directory: Dir,
    prefix: String,
    options: CreateOptions,
    known: Mutex<HashMap<String, Arc<str>>>,
    flights: Mutex<HashMap<String, Arc<futures_util::lock::Mutex<()>>>>,
    database: PhantomData<fn() -> D>,
}

impl<D: DatabaseDef, Dir: DatabaseDirectory> Tenants<D, Dir> {
    /// Tenants of `D` in the account of `client`, recorded in `directory`; database names
    /// start with `D::NAME` (see [`Tenants::prefix`]); location hint and jurisdiction come
    /// from `D`'s configuration.
    pub fn new(client: Client, directory: Dir) -> Self {
        Tenants {
            client,
            directory,
            prefix: D::NAME.to_owned(),
            options: CreateOptions {
                location_hint: D::LOCATION_HINT.map(str::to_owned),
                jurisdiction: D::JURISDICTION.map(str::to_owned),
            },
            known: Mutex::default(),
            flights: Mutex::default(),
            database: PhantomData,
        }
    }

    /// Names new databases `<prefix>-<tenant>` (e.g. the Worker's name and the database's).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Where new databases live, overriding the configuration.
    pub fn options(mut self, options: CreateOptions) -> Self {
        self.options = options;
        self
    }

    /// The directory.
    pub fn directory(&self) -> &Dir {
        &self.directory
    }

    /// The name of `tenant`'s database: `<prefix>-<tenant>`, with the tenant key lower-cased
    /// and anything but letters, digits, `-` and `_` replaced; a key that had to change, or
    /// is too long for D1's 64 characters, also gets a hash of itself, so two tenants never
    /// share a name.
    pub fn database_name(&self, tenant: &str) -> String {
        database_name(&self.prefix, tenant)
    }

    /// `tenant`'s database, created, migrated and recorded on first use.
    pub async fn open(&self, tenant: &str) -> Result<Database> {
        if let Some(uuid) = self.known(tenant) {
            return Ok(self.client.database(uuid.to_string()));
        }
        if let Some(uuid) = self.directory.database_of(tenant).await? {
            return Ok(self.remember(tenant, &uuid));
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(tenant.to_owned()).or_default().clone()
        };
        let guard = flight.lock().await;
        let result = self.first_use(tenant).await;
        drop(guard);
        {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            // Only this call and the map hold it: nobody waits, forget the entry.
            if Arc::strong_count(&flight) == 2 {
                flights.remove(tenant);
            }
        }
        result
    }

    /// Under the tenant's lock: another call may have finished meanwhile.
    async fn first_use(&self, tenant: &str) -> Result<Database> {
        if let Some(uuid) = self.known(tenant) {
            return Ok(self.client.database(uuid.to_string()));
        }
        if let Some(uuid) = self.directory.database_of(tenant).await? {
            return Ok(self.remember(tenant, &uuid));
        }
        let name = self.database_name(tenant);
        let (info, _) = self
            .client
            .create_or_adopt(&name, &self.options)
            .await
            .map_err(|e| e.context(&format!("creating database `{name}` for tenant `{tenant}`")))?;
        let db = self.client.database(info.uuid.clone());
        db.migrate(D::MIGRATIONS)
            .await
            .map_err(|e| e.context(&format!("migrating database `{name}` of tenant `{tenant}`")))?;
        let recorded = self.directory.record(tenant, &info.uuid).await?;
        Ok(self.remember(tenant, &recorded))
    }

    fn known(&self, tenant: &str) -> Option<Arc<str>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(tenant).cloned()
    }

    fn remember(&self, tenant: &str, uuid: &str) -> Database {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(tenant.to_owned(), uuid.into());
        self.client.database(uuid)
    }
}

/// `<prefix>-<tenant>` as a D1 database name (see [`Tenants::database_name`]).
pub fn database_name(prefix: &str, tenant: &str) -> String {
    const MAX: usize = 64;
    let slug: String = tenant
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '_') => c,
            _ => '-',
        })
        .collect();
    let plain = format!("{prefix}-{slug}");
    if slug == tenant && !tenant.is_empty() && plain.len() <= MAX {
        return plain;
    }
    let hash = format!("{:016x}", crate::route::stable_hash(tenant.as_bytes()));
    let room = MAX.saturating_sub(prefix.len() + 2 + 8);
    let short: String = slug.chars().take(room).collect();
    format!("{prefix}-{short}-{}", &hash[..8])
}

/// A shared request budget: a pause after a 429, and an optional pace.
///
/// The pace counts a request from when its answer came back (always after the API counted
/// it), and a request in flight as taking a slot already: so however late a thread sends
/// what it was allowed to, the API's window never holds more than the budget. This costs
/// one round trip per window (50 ms in a 5-minute window: nothing).
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    /// No request before this time (ms on [`now_ms`]'s clock).
    paused_until: f64,
    /// `(requests, window in ms)`.
    budget: Option<(usize, f64)>,
    /// Requests sent and not answered yet.
    in_flight: usize,
    /// When the answers of the requests within the window came back.
    answered: std::collections::VecDeque<f64>,
}

impl Gate {
    /// Waits until a request may go, and counts it as in flight.
    async fn wait(&self) {
        loop {
            let wait_ms = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = now_ms();
                let mut wait: f64 = (state.paused_until - now).max(0.0);
                if let Some((requests, window)) = state.budget {
                    while state.answered.front().is_some_and(|t| *t <= now - window) {
                        state.answered.pop_front();
                    }
                    if state.in_flight + state.answered.len() >= requests {
                        // The oldest answer leaves the window then; an answer may come sooner.
                        let oldest = state.answered.front().map_or(window, |t| t + window - now);
                        wait = wait.max(oldest.min(10.0));
                    }
                }
                if wait <= 0.0 {
                    state.in_flight += 1;
                    return;
                }
                wait
            };
            sleep(Duration::from_secs_f64(wait_ms / 1000.0)).await;
        }
    }

    /// The answer to a request came back; `counted`: the API counted it (not a 429).
    fn finish(&self, counted: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.in_flight = state.in_flight.saturating_sub(1);
        if counted && state.budget.is_some() {
            state.answered.push_back(now_ms());
        }
    }

    /// Holds every request back for `wait` (a 429's retry-after).
    fn pause(&self, wait: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = now_ms() + wait.as_secs_f64() * 1000.0;
        if until > state.paused_until {
            state.paused_until = until;
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    ::worker::js_sys::Date::now()
}

#[cfg(not(target_arch = "wasm32"))]
async fn sleep(d: Duration) {
    std::thread::sleep(d);
}

#[cfg(target_arch = "wasm32")]
async fn sleep(d: Duration) {
    ::worker::Delay::from(d).await;
}

/// An HTTP answer, whatever the transport.
struct Response {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

#[cfg(not(target_arch = "wasm32"))]
mod http {
    //! Native HTTP: ureq, blocking, rustls.

    use std::time::Duration;

    use super::Response;

    #[derive(Clone)]
    pub struct Http {
        agent: ureq::Agent,
    }

    impl Http {
        pub fn new() -> Http {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .user_agent(concat!("d1kit/", env!("CARGO_PKG_VERSION")))
                .build();
            Http {
                agent: ureq::Agent::new_with_config(config),
            }
        }

        pub async fn send(
            &self,
            method: &str,
            url: &str,
            token: &str,
            body: Option<&str>,
        ) -> Result<Response, String> {
            let auth = format!("Bearer {token}");
            let result = match (method, body) {
                ("GET", _) => self.agent.get(url).header("Authorization", &auth).call(),
                ("DELETE", _) => self.agent.delete(url).header("Authorization", &auth).call(),
                (_, body) => self
                    .agent
                    .post(url)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(body.unwrap_or("{}")),
            };
            let mut response = result.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(super::retry_after);
            let body = response
                .body_mut()
                .with_config()
                .limit(256 * 1024 * 1024)
                .read_to_string()
                .map_err(|e| format!("reading the reply: {e}"))?;
            Ok(Response {
                status,
                retry_after,
                body,
            })
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod http {
    //! Workers: the fetch API.

    use worker::{Fetch, Headers, Method, Request, RequestInit};

    use super::Response;

    #[derive(Clone)]
    pub struct Http;

    impl Http {
        pub fn new() -> Http {
            Http
        }

        pub async fn send(
            &self,
            method: &str,
            url: &str,
            token: &str,
            body: Option<&str>,
        ) -> Result<Response, String> {
            let headers = Headers::new();
            let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
            set("Authorization", &format!("Bearer {token}"))?;
            let mut init = RequestInit::new();
            init.with_method(match method {
                "GET" => Method::Get,
                "DELETE" => Method::Delete,
                _ => Method::Post,
            });
            if let Some(body) = body {
                set("Content-Type", "application/json")?;
                init.with_body(Some(body.into()));
            }
            init.with_headers(headers);
            let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
            let mut response = Fetch::Request(request)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let retry_after = response
                .headers()
                .get("retry-after")
                .ok()
                .flatten()
                .and_then(|v| super::retry_after(&v));
            Ok(Response {
                status: response.status_code(),
                retry_after,
                body: response.text().await.map_err(|e| e.to_string())?,
            })
        }
    }
}

/// A `retry-after` header: seconds (fractions accepted), or an HTTP date (not read: `None`,
/// so the backoff applies).
fn retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_d1_names_and_never_collide() {
        assert_eq!(database_name("users", "alice"), "users-alice");
        assert_eq!(database_name("users", "u_42"), "users-u_42");
        let a = database_name("users", "Alice");
        let b = database_name("users", "alice!");
        assert!(
            a.starts_with("users-alice-") && b.starts_with("users-alice--"),
            "{a} {b}"
        );
        assert_ne!(a, database_name("users", "alice"));
        let long = database_name("users", &"x".repeat(200));
        assert!(long.len() <= 64, "{long}");
        assert_ne!(long, database_name("users", &"x".repeat(201)));
        assert!(database_name("users", "").starts_with("users--"));
    }

    #[test]
    fn parameters_follow_the_worker_rules() {
        assert_eq!(
            param_json(&Value::Integer((1 << 53) - 1)).unwrap(),
            json!((1u64 << 53) - 1)
        );
        assert!(param_json(&Value::Integer(1 << 53))
            .unwrap_err()
            .contains("2^53"));
        assert!(param_json(&Value::Real(f64::NAN)).is_err());
        assert!(param_json(&Value::Real(f64::INFINITY)).is_err());
        assert!(param_json(&Value::Blob(vec![1]))
            .unwrap_err()
            .contains("unhex"));
        assert_eq!(param_json(&Value::Text("a".into())).unwrap(), json!("a"));
    }

    #[test]
    fn values_decode_like_javascript_numbers() {
        assert_eq!(value_of(&json!(1), "c").unwrap(), Value::Integer(1));
        assert_eq!(value_of(&json!(0.5), "c").unwrap(), Value::Real(0.5));
        // 2^53 + 1 as a literal is what JavaScript cannot hold: a REAL, so i64 decoding fails.
        let big: Json = serde_json::from_str("9007199254740993").unwrap();
        assert!(matches!(value_of(&big, "c").unwrap(), Value::Real(_)));
        assert_eq!(
            value_of(&json!([0, 255]), "c").unwrap(),
            Value::Blob(vec![0, 255])
        );
        assert!(value_of(&json!([256]), "c").is_err());
        let e = value_of(&json!({}), "photo").unwrap_err().to_string();
        assert!(e.contains("photo") && e.contains("hex"), "{e}");
    }

    #[test]
    fn only_plain_selects_are_replayed() {
        let st = |sql: &'static str| Statement {
            sql: sql.into(),
            params: vec![],
        };
        assert!(replay_of(&[st("  select 1")]) == Replay::Safe);
        assert!(replay_of(&[st("INSERT INTO t VALUES (1)")]) == Replay::Unsafe);
        assert!(replay_of(&[st("WITH x AS (SELECT 1) DELETE FROM t")]) == Replay::Unsafe);
        assert!(replay_of(&[st("SELECT 1"), st("UPDATE t SET x = 1")]) == Replay::Unsafe);
    }

    #[test]
    fn retry_after_reads_seconds() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
