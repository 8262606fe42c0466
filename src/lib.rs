//! d1kit: typed, checked SQL for applications that give every user their own Cloudflare D1
//! database. The macros check each query against the schema the migrations build; the runtime
//! runs them locally (SQLite) or on Workers, and routes each tenant to its database.
//!
//! See the README for a tour, and docs/TYPING.md for the typing rules.

#![forbid(unsafe_code)]

pub use d1_macros::{sql, sql_as, Database, Query, Row};
pub use d1_runtime::*;

#[doc(hidden)]
pub use d1_macros::__sql_as;
