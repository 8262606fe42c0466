//! d1kit: typed, checked SQL for applications that give every user their own Cloudflare D1
//! database. The macros check each query against the schema the migrations build; the runtime
//! runs them locally (SQLite) or on Workers, and routes each tenant to its database.
//!
//! See the README for a tour, and docs/TYPING.md for the typing rules.

#![forbid(unsafe_code)]
// docs.rs (`--cfg docsrs`, nightly): each feature-gated item is marked with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use d1_macros::{sql, sql_as, Database, Query, Row};
pub use d1_runtime::*;

#[doc(hidden)]
pub use d1_macros::__sql_as;

/// What a query needs in scope, in one line: `use d1kit::prelude::*;` brings the macros
/// (`sql!`, `sql_as!`), the derives (`Database`, `Query`, `Row`) with their traits, the
/// [`Executor`] whose `all`, `first`, `run` and `batch` every backend has, and the common
/// types.
///
/// ```
/// use d1kit::prelude::*;
///
/// // Any backend: a local SQLite file, a Worker's binding, a database over the REST API.
/// async fn count<E: Executor>(db: &E) -> Result<Option<(i64,)>> {
///     db.first(Sql::<(i64,)>::new("SELECT count(*) FROM sqlite_master", Vec::<Value>::new()))
///         .await
/// }
/// # #[cfg(feature = "local")]
/// # {
/// let db = d1kit::local::Database::open_in_memory()?;
/// assert_eq!(d1kit::block_on(count(&db))?, Some((0,)));
/// # }
/// # Ok::<(), d1kit::Error>(())
/// ```
pub mod prelude {
    pub use crate::{sql, sql_as, Database, Query, Row};
    pub use crate::{
        Batch, Error, Executor, FromRow, Migration, Result, RunResult, Sql, TenantKey, TenantQuery,
        Value,
    };
}
