//! The account: [`Client`], its options, database management and the retry loop.

use super::executor::Database;
use super::gate::Gate;
use super::transport::{self, sleep, Method, Response};
use super::wire::{database_info, envelope_error, excerpt, is_database_name, is_uuid};
use super::wire::{percent_encode, Reply};
use super::{API_BASE, NAME_TAKEN, NO_SUCH_DATABASE};
use crate::{Error, Result};
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;
use std::time::Duration;

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
    /// `jurisdiction`: `eu`, `fedramp` or `us`.
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
    /// Its read replication mode (`read_replication.mode`: `auto` or `disabled`), when the
    /// reply says: one database's details do ([`Client::get_database`],
    /// [`Client::set_read_replication`]).
    pub read_replication: Option<String>,
    /// Its size in bytes (`file_size`), when the reply says (the list and one database's
    /// details do).
    pub file_size: Option<u64>,
}

/// A database's read replication mode, as [`Client::set_read_replication`] sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReplication {
    /// `auto`: D1 serves reads from replicas (through sessions), as it sees fit.
    Auto,
    /// `disabled`: every query goes to the primary (a new database's mode).
    Disabled,
}

impl ReadReplication {
    /// The mode as the API words it: `auto` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadReplication::Auto => "auto",
            ReadReplication::Disabled => "disabled",
        }
    }
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
    http: transport::Http,
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
pub(super) enum Replay {
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
            http: transport::Http::new(),
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
        self.gate.set_budget(requests, per);
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

    /// Database `uuid` of the account, as an [`Executor`](crate::Executor).
    pub fn database(&self, uuid: impl Into<String>) -> Database {
        Database {
            client: self.clone(),
            uuid: uuid.into().into(),
        }
    }

    /// The API root (`https://api.cloudflare.com/client/v4`, or [`Client::with_base_url`]'s):
    /// what `/graphql` is appended to.
    pub(super) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The HTTP layer (for the token-free requests to signed URLs).
    pub(super) fn http(&self) -> &transport::Http {
        &self.http
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!(
            "{}/accounts/{}/d1/database{path}",
            self.base_url, self.account_id
        )
    }

    /// Creates database `name`. A name already taken is [`Error::Api`] with code 7502
    /// ([`NAME_TAKEN`]); a full account, code 7406 ([`DATABASE_LIMIT`](super::DATABASE_LIMIT)).
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
                Method::Post,
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
    ///
    /// Pages are read until one holds fewer databases than its `per_page`;
    /// `result_info.total_count` is not used, since it may count databases the `name` filter
    /// leaves out.
    pub async fn list_databases(&self, name: Option<&str>) -> Result<Vec<DatabaseInfo>> {
        const PER_PAGE: u64 = 1000;
        let mut out = Vec::new();
        for page in 1u32.. {
            let mut url = format!("{}?page={page}&per_page={PER_PAGE}", self.url(""));
            if let Some(name) = name {
                url.push_str("&name=");
                url.push_str(&percent_encode(name));
            }
            let reply = self.request(Method::Get, &url, None, Replay::Safe).await?;
            let items = reply.result.as_array().ok_or_else(|| {
                Error::Backend(format!(
                    "listing databases: the API returned no list: {}",
                    reply.result
                ))
            })?;
            for item in items {
                out.push(database_info(item)?);
            }
            // The page size the API used: a server may lower what was asked, and a page of
            // that many is full, not the last.
            let per_page = reply
                .result_info
                .as_ref()
                .and_then(|i| i.get("per_page"))
                .and_then(Json::as_u64)
                .filter(|n| *n > 0)
                .map_or(PER_PAGE, |n| n.min(PER_PAGE));
            if (items.len() as u64) < per_page {
                break;
            }
        }
        Ok(out)
    }

    /// Database `id`, a uuid or a name (`GET …/database/{id}` takes either), with its details;
    /// `None` when the account has no such database (error 7404, [`NO_SUCH_DATABASE`]). An
    /// `id` that can be neither (empty, or with characters no name has) is `None` at once.
    pub async fn get_database(&self, id: &str) -> Result<Option<DatabaseInfo>> {
        if !is_database_name(id) {
            return Ok(None);
        }
        let url = self.url(&format!("/{}", percent_encode(id)));
        match self.request(Method::Get, &url, None, Replay::Safe).await {
            Ok(reply) => database_info(&reply.result).map(Some),
            Err(e) if e.api_code() == Some(NO_SUCH_DATABASE) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The database named exactly `name`, if the account has one: one request
    /// (`GET …/database/{name}`). A name shaped like a uuid, which the API would read as an
    /// id, is looked for in the list instead (`name=` search, then the exact name).
    pub async fn find_database(&self, name: &str) -> Result<Option<DatabaseInfo>> {
        if !is_uuid(name) {
            match self.get_database(name).await? {
                Some(info) if info.name == name => return Ok(Some(info)),
                // Another name (matched without case?): only the list tells exactly.
                Some(_) => {}
                None => return Ok(None),
            }
        }
        let all = self.list_databases(Some(name)).await?;
        Ok(all.into_iter().find(|d| d.name == name))
    }

    /// Deletes database `uuid` and everything in it.
    ///
    /// A database the account does not have is an error with code 7404
    /// ([`NO_SUCH_DATABASE`]), except on a retry: when an attempt failed transiently (a 5xx,
    /// or no answer) and the next one gets 7404, the failed attempt is what deleted the
    /// database, and the delete succeeds.
    pub async fn delete_database(&self, uuid: &str) -> Result<()> {
        let url = self.url(&format!("/{}", percent_encode(uuid)));
        match self
            .exchange(Method::Delete, &url, None, Replay::Safe)
            .await
        {
            (Ok(_), _) => Ok(()),
            (Err(e), Retried::AfterFailure) if e.api_code() == Some(NO_SUCH_DATABASE) => Ok(()),
            (Err(e), _) => Err(e),
        }
    }

    /// Sets database `uuid`'s read replication mode (`PUT …/database/{uuid}` with
    /// `{"read_replication": {"mode": …}}`) and returns its details as the API gives them
    /// back, [`DatabaseInfo::read_replication`] included.
    pub async fn set_read_replication(
        &self,
        uuid: &str,
        mode: ReadReplication,
    ) -> Result<DatabaseInfo> {
        let url = self.url(&format!("/{}", percent_encode(uuid)));
        let body = json!({ "read_replication": { "mode": mode.as_str() } });
        // Safe to replay: setting a mode twice is setting it once.
        let reply = self
            .request(Method::Put, &url, Some(body), Replay::Safe)
            .await?;
        database_info(&reply.result)
    }

    /// Sends one request, retrying as [`Retry`] says, and unwraps Cloudflare's envelope.
    pub(super) async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<Json>,
        replay: Replay,
    ) -> Result<Reply> {
        self.exchange(method, url, body, replay).await.0
    }

    /// [`Client::request`], also saying whether an attempt before the one that gave the
    /// result failed transiently (after which the result may reflect that attempt's effect).
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<Json>,
        replay: Replay,
    ) -> (Result<Reply>, Retried) {
        let (response, retried) = self.send(method, url, body, replay).await;
        (response.and_then(|r| Reply::of(&r)), retried)
    }

    /// Sends one request with the token, retrying 429s, 5xx and connection failures as
    /// [`Retry`] says, and returns the first other answer as it came (any status, the body
    /// unread), for endpoints outside the v4 envelope (GraphQL).
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Json>,
        replay: Replay,
    ) -> (Result<Response>, Retried) {
        let body = body.map(|b| b.to_string());
        let (mut transient, mut limited) = (0u32, 0u32);
        loop {
            let retried = if transient > 0 {
                Retried::AfterFailure
            } else {
                Retried::No
            };
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
                        let error = envelope_error(&r).unwrap_or_else(|| Error::Api {
                            status: 429,
                            code: None,
                            message: format!(
                                "rate limited {limited} times in a row (HTTP 429); giving up"
                            ),
                        });
                        return (Err(error), retried);
                    }
                    self.gate.pause(wait);
                    continue;
                }
                Ok(r) if r.status >= 500 => envelope_error(&r).unwrap_or_else(|| Error::Api {
                    status: r.status,
                    code: None,
                    message: format!("HTTP {}: {}", r.status, excerpt(&r.body)),
                }),
                Ok(r) => return (Ok(r), retried),
                Err(message) => Error::Api {
                    status: 0,
                    code: None,
                    message: format!("{method} {url}: {message}"),
                },
            };
            transient += 1;
            let replayable = replay == Replay::Safe || self.retry.writes;
            if !replayable || transient >= self.retry.attempts {
                return (Err(failure), retried);
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

/// Whether the answer a request ended with came after a transient failure of the same request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Retried {
    /// It is the answer to the first attempt, or came after 429s only (no effect).
    No,
    /// An earlier attempt failed with a 5xx or no answer, and may have taken effect.
    AfterFailure,
}
