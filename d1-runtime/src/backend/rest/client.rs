//! The account: [`Client`], its options, database management and the retry loop.

use super::executor::Database;
use super::gate::Gate;
use super::transport::{self, sleep};
use super::wire::{database_info, envelope_error, excerpt, percent_encode, Reply};
use super::{API_BASE, NAME_TAKEN};
use crate::{Error, Result};
use serde_json::{Map, Value as Json};
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
    pub(super) async fn request(
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
