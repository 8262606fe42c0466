//! d1kit's runtime: typed queries run on an [`Executor`] (`local`: embedded SQLite, the
//! default feature; `worker`: workers-rs D1 bindings on wasm32), rows decoded without panics, tenants
//! routed to their database, migrations applied as wrangler applies them.

// The one module with unsafe code is `row::layout` (generated rows decoded through generic
// code), which allows it for itself.
#![deny(unsafe_code)]
// docs.rs (`--cfg docsrs`, nightly): each feature-gated item is marked with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod database;
mod decode;
mod encode;
mod error;
mod executor;
#[cfg(not(target_arch = "wasm32"))]
pub mod fleet;
#[cfg(any(feature = "worker", feature = "rest"))]
mod js_number;
pub mod meter;
pub mod migrate;
pub mod reshard;
pub mod route;
mod row;
#[cfg(feature = "state-files")]
pub mod state_file;
pub mod tenant;
mod value;

#[cfg(feature = "local")]
#[path = "backend/local.rs"]
pub mod local;

#[cfg(feature = "worker")]
#[path = "backend/worker.rs"]
pub mod worker;

#[cfg(feature = "durable")]
#[path = "backend/durable.rs"]
pub mod durable;

/// What `#[derive(Database)]` adds to a Durable Object database without the `durable`
/// feature: an error that says to enable it.
#[cfg(not(feature = "durable"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __durable_runtime {
    ($db:ident) => {
        compile_error!(concat!(
            "`",
            stringify!($db),
            "` is kept in a Durable Object (`durable_object` in Cargo.toml): enable d1kit's `durable` feature"
        ));
    };
}

#[cfg(all(feature = "rest", any(not(target_arch = "wasm32"), feature = "worker")))]
#[path = "backend/rest/mod.rs"]
pub mod rest;

#[cfg(all(feature = "rest", target_arch = "wasm32", not(feature = "worker")))]
compile_error!("d1kit's `rest` feature on wasm32 needs the `worker` feature too (it sends requests with the Workers fetch API)");

/// What `#[derive(Database)]` adds with the `worker` feature (`connect`, `connect_via`,
/// `fan_out`): nothing without it.
#[cfg(not(feature = "worker"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __database_runtime {
    ($($any:tt)*) => {};
}

pub use backoff::backoff;
pub use database::{Database, Migration, TenantKey, TenantQuery};
pub use decode::Decode;
pub use encode::{param, Bind};
pub use error::{Error, Result};
pub use executor::{
    Arg, Args, Batch, Executor, Params, Query, RawResults, Results, RunResult, Sql, Statement,
};
pub use row::{FromRow, OwnedRow, Row, RowSource, Values};
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

/// Runs a future to completion on this thread, parking it while the future waits. The local
/// backend's futures are ready at once; the REST backend's do blocking HTTP natively, so this
/// is all the executor a command-line tool or a test needs.
///
/// ```
/// let answer = d1_runtime::block_on(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// ```
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut future = std::pin::pin!(future);
    // The local backend's futures are ready at the first poll: try that without building a
    // waker. A future that is not ready is polled again below with a real one.
    if let Poll::Ready(out) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return out;
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// What the macros' expansions call; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::encode::param;
    pub use crate::row::layout::*;
    use crate::{Bind, Value};
    use std::marker::PhantomData;

    /// Formats a generated row as `#[derive(Debug)]` would (`Row { id: 1, .. }`): the one call
    /// of its `Debug` impl, which is `#[inline]` so that rustc generates code for it only in
    /// crates that print the row (a derived impl costs every rebuild code for each row).
    pub fn debug_row(
        f: &mut std::fmt::Formatter<'_>,
        name: &str,
        fields: &[(&str, &dyn std::fmt::Debug)],
    ) -> std::fmt::Result {
        let mut s = f.debug_struct(name);
        for (field, value) in fields {
            s.field(field, value);
        }
        s.finish()
    }

    /// One argument of a query, checked against the parameter's SQL type `M`: what `sql!`
    /// passes for each argument, kept as written and converted to a [`Value`] only when the
    /// query runs, by the function [`bind`] took from `T`'s [`Bind<M>`] impl where it checked
    /// the argument. So no impl of `Bound` requires `T: Bind<M>`: a query whose argument was
    /// rejected still has a type that runs (`.all(&db)`, a batch), and the wrong argument is
    /// one error, at the argument, rather than a second one at the call that runs the query.
    pub struct Bound<M, T>(T, fn(T) -> Value, PhantomData<fn() -> M>);

    /// Checks one argument against the parameter's SQL type `M` (a wrong type is an error at
    /// the argument) and keeps it for when the query runs.
    #[inline]
    pub fn bind<M, T: Bind<M>>(value: T) -> Bound<M, T> {
        Bound(value, <T as Bind<M>>::bind, PhantomData)
    }

    impl<M, T> crate::Arg for Bound<M, T> {
        #[inline]
        fn into_value(self) -> Value {
            (self.1)(self.0)
        }
    }

    /// The argument as written.
    impl<M, T: std::fmt::Debug> std::fmt::Debug for Bound<M, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }

    /// Compiles only for a row type: what `sql_as!(Type, ..)` asks of `Type`, so that a type
    /// without `#[derive(Row)]` is named as such, beside rustc's "cannot find macro".
    pub const fn assert_row<R: crate::FromRow>() {}

    /// A value of the query's row type, for type assertions in generated tests; never called.
    pub fn row_of<Q: crate::Query>(_: &Q) -> Q::Row {
        unreachable!("row_of is only for type checking")
    }
}
