//! The REST backend (feature `rest`): D1 through Cloudflare's v4 API, with no binding.
//!
//! - [`Client`]: one account and API token. It manages databases ([`Client::create_database`],
//!   [`Client::create_or_adopt`], [`Client::list_databases`], [`Client::get_database`] by id
//!   or name, [`Client::find_database`], [`Client::delete_database`],
//!   [`Client::set_read_replication`]), backs them up and restores them with D1's own API
//!   ([`Client::export`], [`Client::import`], Time Travel's [`Client::bookmark`] and
//!   [`Client::restore`]), and opens any of them by id as a [`Database`], an
//!   [`Executor`](crate::Executor): every typed query, `batch` included, runs over
//!   `POST .../raw` (a batch is one request, one transaction).
//! - [`Client::analytics`]: queries and rows read and written per database over a period, from
//!   Cloudflare's GraphQL analytics, as [`DatabaseUsage`].
//! - [`Tenants`]: one database per tenant, created the first time the tenant shows up
//!   (`<prefix>-<tenant>`), migrated with the embedded migrations, and recorded in a
//!   [`DatabaseDirectory`](crate::route::DatabaseDirectory); [`Tenants::delete`] deletes a
//!   tenant's database and its record in a crash-safe order.
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
//! A delete retried after a 5xx that then finds no database (7404) succeeds: the failed
//! attempt deleted it.
//!
//! Natively the HTTP client is ureq (blocking, rustls): run the futures with
//! [`crate::block_on`], or from a blocking thread of an async runtime. On wasm32 (with the
//! `worker` feature too) requests go through the Workers fetch API.

// One job per file: `client` (the account: database management, the retry loop), `backup`
// (export, import, Time Travel), `analytics`
// (GraphQL: usage per database), `executor`
// (one database as an `Executor`), `tenants` (a database per tenant), `wire` (the API's JSON:
// envelopes, parameters, results, URL components), `gate` (the shared request budget) and
// `transport` (HTTP, the clock and sleeping, per platform).
mod analytics;
mod backup;
mod client;
mod executor;
mod gate;
mod tenants;
mod transport;
mod wire;

pub use analytics::DatabaseUsage;
pub use backup::{Export, ExportOptions, Imported, RestorePoint, Restored};
pub use client::{Client, CreateOptions, Created, DatabaseInfo, ReadReplication, Retry};
pub use executor::Database;
pub use tenants::{database_name, delete_database_of, TenantDeletion, Tenants};

/// Cloudflare's API, version 4.
pub const API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// A D1 error code: a database with that name already exists.
pub const NAME_TAKEN: u32 = 7502;
/// A D1 error code: the account has reached its maximum number of databases.
pub const DATABASE_LIMIT: u32 = 7406;
/// A D1 error code: the account has no database of that id (or name).
pub const NO_SUCH_DATABASE: u32 = 7404;
