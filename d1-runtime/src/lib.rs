//! d1kit's runtime: typed queries run on an [`Executor`] (`local`: embedded SQLite, the
//! default feature; `worker`: workers-rs D1 bindings on wasm32), rows decoded without panics, tenants
//! routed to their database, migrations applied as wrangler applies them.

mod database;
mod decode;
mod encode;
mod error;
mod executor;
pub mod route;
mod row;
mod value;

#[cfg(feature = "local")]
#[path = "backend/local.rs"]
pub mod local;

#[cfg(feature = "worker")]
#[path = "backend/worker.rs"]
pub mod worker;

/// What `#[derive(Database)]` adds with the `worker` feature (`connect`, `connect_via`,
/// `fan_out`): nothing without it.
#[cfg(not(feature = "worker"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __database_runtime {
    ($db:ident) => {};
}

pub use database::{Database, Migration, TenantKey, TenantQuery};
pub use decode::Decode;
pub use encode::{param, Bind};
pub use error::{Error, Result};
pub use executor::{Batch, Executor, Query, RawResults, Results, RunResult, Sql, Statement};
pub use row::{FromRow, OwnedRow, Row, RowSource};
pub use value::Value;

macro_rules! value_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$v(v.into())
            }
        }
    )*};
}
value_from!(i64 => Integer, i32 => Integer, f64 => Real, String => Text, &str => Text, Vec<u8> => Blob);

/// What the macros' expansions call; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::encode::param;
    use crate::{Bind, Value};

    /// Binds one argument, checked against the parameter's SQL type `M`.
    #[inline]
    pub fn bind<M, T: Bind<M>>(value: T) -> Value {
        value.bind()
    }

    /// A value of the query's row type, for type assertions in generated tests; never called.
    pub fn row_of<Q: crate::Query>(_: &Q) -> Q::Row {
        unreachable!("row_of is only for type checking")
    }
}
