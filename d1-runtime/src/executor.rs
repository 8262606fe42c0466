//! What a query is ([`Query`]), what running one gives ([`RunResult`], [`Results`]), and what
//! runs them ([`Executor`]): the same code on every backend.

use crate::row::{FromRow, OwnedRow, Row};
use crate::{Result, Value};
use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;

/// A statement ready to send: SQL with numbered parameters (`?1`..) and their values.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL, with every parameter written `?NNN` (D1 takes only numbered ones).
    pub sql: Cow<'static, str>,
    /// The value of `?1`, `?2`...
    pub params: Vec<Value>,
}

/// A typed query: its SQL, its parameters' values and the Rust type of its rows.
///
/// `sql!`, `sql_as!` and `#[derive(Query)]` implement it; its methods run it on any executor.
#[allow(async_fn_in_trait)] // executors are not Send (workers-rs types are !Send)
pub trait Query: Sized {
    /// One result row.
    type Row: FromRow;

    /// The statement to send.
    fn into_statement(self) -> Statement;

    /// Hands the SQL and the parameters' values to `f` without building a [`Statement`]: what
    /// an executor that only reads them (the local backend) calls, so that a query whose values
    /// live inline (`sql!`'s) costs no allocation. The default builds the statement.
    fn with_statement<T>(self, f: impl FnOnce(&Cow<'static, str>, &[Value]) -> T) -> T {
        let statement = self.into_statement();
        f(&statement.sql, &statement.params)
    }

    // These three return the executor's own future rather than wrapping it in another
    // (`async fn`): a wrapper moves the query into a second state machine, which cost a point
    // select on the local backend 6% (benches/local.rs).

    /// Every row.
    fn all<E: Executor + ?Sized>(self, db: &E) -> impl Future<Output = Result<Vec<Self::Row>>> {
        db.all(self)
    }

    /// The first row, if any.
    fn first<E: Executor + ?Sized>(
        self,
        db: &E,
    ) -> impl Future<Output = Result<Option<Self::Row>>> {
        db.first(self)
    }

    /// Runs it for its effect: changes, last row id, rows read and written.
    fn run<E: Executor + ?Sized>(self, db: &E) -> impl Future<Output = Result<RunResult>> {
        db.run(self)
    }
}

/// The query value `sql!` and `sql_as!` build: a `'static` SQL string, its parameters' values
/// (`A`, see [`Args`]) and the Rust type of its rows (`R`).
///
/// [`Sql::new`] makes one from [`Value`]s. The macros build it from their arguments as written
/// (each checked against its parameter's SQL type) and convert them to values when the query
/// runs: declaring a query calls no code of d1kit's, so a crate pays to compile and link the
/// runtime for the queries it runs, not for each one it declares.
pub struct Sql<R, A = Params> {
    #[doc(hidden)]
    pub __sql: &'static str,
    #[doc(hidden)]
    pub __args: A,
    #[doc(hidden)]
    pub __row: PhantomData<fn() -> R>,
}

/// A query's parameter values as [`Sql`] holds them until it runs: [`Params`] (values), `()`
/// (none), or a tuple of up to 12 arguments as `sql!` and `sql_as!` take them.
pub trait Args {
    /// Hands the values, in order (`?1` first), to `f`.
    fn with_values<T>(self, f: impl FnOnce(&[Value]) -> T) -> T;

    /// The values as a `Vec`, in order.
    fn into_values(self) -> Vec<Value>;
}

impl Args for Params {
    #[inline]
    fn with_values<T>(self, f: impl FnOnce(&[Value]) -> T) -> T {
        f(self.as_slice())
    }

    fn into_values(self) -> Vec<Value> {
        self.into_vec()
    }
}

impl Args for () {
    #[inline]
    fn with_values<T>(self, f: impl FnOnce(&[Value]) -> T) -> T {
        f(&[])
    }

    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
}

/// One argument of a query, kept as the caller wrote it until the query runs (`sql!` makes
/// them with [`__private::bind`](crate::__private::bind), which checks its type).
pub trait Arg {
    /// Its value.
    fn into_value(self) -> Value;
}

macro_rules! tuple_args {
    ($($name:ident)+) => {
        impl<$($name: Arg),+> Args for ($($name,)+) {
            #[inline]
            #[allow(non_snake_case)]
            fn with_values<T>(self, f: impl FnOnce(&[Value]) -> T) -> T {
                let ($($name,)+) = self;
                f(&[$($name.into_value()),+])
            }

            #[allow(non_snake_case)]
            fn into_values(self) -> Vec<Value> {
                let ($($name,)+) = self;
                vec![$($name.into_value()),+]
            }
        }
    };
}
tuple_args!(A);
tuple_args!(A B);
tuple_args!(A B C);
tuple_args!(A B C D);
tuple_args!(A B C D E);
tuple_args!(A B C D E F);
tuple_args!(A B C D E F G);
tuple_args!(A B C D E F G H);
tuple_args!(A B C D E F G H I);
tuple_args!(A B C D E F G H I J);
tuple_args!(A B C D E F G H I J K);
tuple_args!(A B C D E F G H I J K L);

/// A query's parameter values: up to [`Params::INLINE`] of them in place (most queries), more
/// on the heap. [`Sql::new`] takes an array, a `Vec` or a slice; `sql!` uses it only for a
/// query of more than 12 arguments (with fewer, they stay a tuple until the query runs).
#[derive(Clone)]
pub struct Params(Repr);

#[derive(Clone)]
enum Repr {
    Inline(u8, [Value; Params::INLINE]),
    Heap(Vec<Value>),
}

impl Params {
    /// How many values are kept without an allocation.
    pub const INLINE: usize = 4;

    /// The values, in order (`?1` first).
    #[inline]
    pub fn as_slice(&self) -> &[Value] {
        match &self.0 {
            Repr::Inline(len, values) => &values[..usize::from(*len)],
            Repr::Heap(values) => values,
        }
    }

    /// The values as a `Vec`.
    pub fn into_vec(self) -> Vec<Value> {
        match self.0 {
            Repr::Inline(len, values) => values.into_iter().take(usize::from(len)).collect(),
            Repr::Heap(values) => values,
        }
    }
}

impl std::ops::Deref for Params {
    type Target = [Value];
    #[inline]
    fn deref(&self) -> &[Value] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl From<Vec<Value>> for Params {
    fn from(values: Vec<Value>) -> Params {
        Params(Repr::Heap(values))
    }
}

impl From<&[Value]> for Params {
    fn from(values: &[Value]) -> Params {
        values.to_vec().into()
    }
}

impl<const N: usize> From<[Value; N]> for Params {
    fn from(values: [Value; N]) -> Params {
        if N > Params::INLINE {
            return Params(Repr::Heap(values.into()));
        }
        let mut inline: [Value; Params::INLINE] = Default::default();
        for (slot, value) in inline.iter_mut().zip(values) {
            *slot = value;
        }
        Params(Repr::Inline(N as u8, inline))
    }
}

impl<R> Sql<R> {
    /// A query of `sql` (numbered parameters only) with `params` for `?1`, `?2`... (an array,
    /// a `Vec` or a slice of [`Value`]s).
    pub fn new(sql: &'static str, params: impl Into<Params>) -> Sql<R> {
        Sql {
            __sql: sql,
            __args: params.into(),
            __row: PhantomData,
        }
    }

    /// The bound values.
    pub fn params(&self) -> &[Value] {
        &self.__args
    }
}

impl<R, A> Sql<R, A> {
    /// The SQL as it is sent.
    pub fn sql(&self) -> &'static str {
        self.__sql
    }
}

impl<R, A: Args> Sql<R, A> {
    /// The query with its arguments converted to values now: a `Sql<R>`, one type for every
    /// query of row type `R` whatever its arguments, so that different statements can share
    /// a `Vec` (for [`Executor::batch`], say). `sql!` values otherwise differ in type by their
    /// arguments'.
    ///
    /// ```
    /// # use d1_runtime::{Sql, Value};
    /// let q: Sql<()> = Sql::<()>::new("DELETE FROM t WHERE id = ?1", [Value::Integer(1)]).bind();
    /// assert_eq!(q.params(), [Value::Integer(1)]);
    /// ```
    pub fn bind(self) -> Sql<R> {
        Sql::new(self.__sql, self.__args.into_values())
    }
}

// Inherent, so `sql!(..).all(&db)` needs no `use d1kit::Query`.
impl<R: FromRow, A: Args> Sql<R, A> {
    /// Every row.
    pub fn all<'e, E: Executor + ?Sized>(
        self,
        db: &'e E,
    ) -> impl Future<Output = Result<Vec<R>>> + use<'e, E, R, A> {
        db.all(self)
    }

    /// The first row, if any.
    pub fn first<'e, E: Executor + ?Sized>(
        self,
        db: &'e E,
    ) -> impl Future<Output = Result<Option<R>>> + use<'e, E, R, A> {
        db.first(self)
    }

    /// Runs it for its effect: changes, last row id, rows read and written.
    pub fn run<'e, E: Executor + ?Sized>(
        self,
        db: &'e E,
    ) -> impl Future<Output = Result<RunResult>> + use<'e, E, R, A> {
        db.run(self)
    }
}

/// Shows the SQL and the parameters: [`Value`]s for [`Sql::new`]'s, the arguments as written
/// for the macros'.
impl<R, A: std::fmt::Debug> std::fmt::Debug for Sql<R, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("sql", &self.__sql)
            .field("params", &self.__args)
            .finish()
    }
}

impl<R: FromRow, A: Args> Query for Sql<R, A> {
    type Row = R;
    fn into_statement(self) -> Statement {
        Statement {
            sql: Cow::Borrowed(self.__sql),
            params: self.__args.into_values(),
        }
    }

    #[inline]
    fn with_statement<T>(self, f: impl FnOnce(&Cow<'static, str>, &[Value]) -> T) -> T {
        let sql = Cow::Borrowed(self.__sql);
        self.__args.with_values(|values| f(&sql, values))
    }
}

/// What running a statement did (D1's result `meta`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunResult {
    /// Rows inserted, updated or deleted.
    pub changes: u64,
    /// The rowid of the last inserted row (0 if none).
    pub last_row_id: i64,
    /// Rows read, as D1 bills them. The local backend counts rows returned plus rows stepped
    /// through by full scans: an estimate, not D1's exact figure.
    pub rows_read: u64,
    /// Rows written, as D1 bills them. The local backend reports `changes`.
    pub rows_written: u64,
    /// How long the database took, as D1 reports it (`meta.duration`); the local backend
    /// measures statements it reports on (`run`, `batch`), and leaves reads unmeasured.
    pub duration: Option<std::time::Duration>,
}

/// One statement's result inside a batch: its rows and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Results<R> {
    /// The rows it returned (empty for a statement without RETURNING).
    pub rows: Vec<R>,
    /// Changes, last row id, rows read and written.
    pub meta: RunResult,
}

/// A statement's result as a backend returns it, before decoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawResults {
    /// The result column names.
    pub columns: Vec<String>,
    /// The rows' values, in column order.
    pub rows: Vec<Vec<Value>>,
    /// Changes, last row id, rows read and written.
    pub meta: RunResult,
}

impl RawResults {
    /// Decodes every row into `R`.
    pub fn decode<R: FromRow>(self) -> Result<Results<R>> {
        let names = self.columns;
        let rows = self
            .rows
            .into_iter()
            .map(|values| {
                let mut src = OwnedRow {
                    names: &names,
                    values,
                };
                R::from_row(&mut Row::new(&mut src))
            })
            .collect::<Result<_>>()?;
        Ok(Results {
            rows,
            meta: self.meta,
        })
    }
}

/// Several queries run as one atomic unit (D1's `batch`: all of them or none).
///
/// Implemented for tuples of up to 8 queries (the output is the tuple of their [`Results`]) and
/// for `Vec<Q>` of one query type.
pub trait Batch {
    /// The tuple (or `Vec`) of results.
    type Output;
    /// The statements, in order.
    fn into_statements(self) -> Vec<Statement>;
    /// Decodes the backend's results, one per statement in order.
    fn decode(results: Vec<RawResults>) -> Result<Self::Output>;
}

impl<Q: Query> Batch for Vec<Q> {
    type Output = Vec<Results<Q::Row>>;
    fn into_statements(self) -> Vec<Statement> {
        self.into_iter().map(Query::into_statement).collect()
    }
    fn decode(results: Vec<RawResults>) -> Result<Self::Output> {
        results.into_iter().map(RawResults::decode).collect()
    }
}

macro_rules! batch_tuple {
    ($($q:ident),+) => {
        impl<$($q: Query),+> Batch for ($($q,)+) {
            type Output = ($(Results<$q::Row>,)+);
            #[allow(non_snake_case)]
            fn into_statements(self) -> Vec<Statement> {
                let ($($q,)+) = self;
                vec![$($q.into_statement()),+]
            }
            fn decode(results: Vec<RawResults>) -> Result<Self::Output> {
                let count = results.len();
                let mut results = results.into_iter();
                Ok(($(
                    results
                        .next()
                        .ok_or_else(|| crate::Error::Backend(format!(
                            "the batch returned {count} results for more statements"
                        )))?
                        .decode::<$q::Row>()?,
                )+))
            }
        }
    };
}
batch_tuple!(A);
batch_tuple!(A, B);
batch_tuple!(A, B, C);
batch_tuple!(A, B, C, D);
batch_tuple!(A, B, C, D, E);
batch_tuple!(A, B, C, D, E, F);
batch_tuple!(A, B, C, D, E, F, G);
batch_tuple!(A, B, C, D, E, F, G, H);

/// Something that runs queries: a local SQLite database, a Worker's D1 binding, the REST API.
///
/// Not `Send`-bound, because workers-rs types are not `Send`.
#[allow(async_fn_in_trait)]
pub trait Executor {
    /// Every row of `q`.
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>>;
    /// The first row of `q`, if any.
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>>;
    /// Runs `q` for its effect.
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult>;
    /// Runs every statement of `b` in one transaction: if one fails, none has any effect.
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output>;
    /// Every row of `q`, with what running it did (D1's `meta`: rows read and written), as
    /// [`Metered`](crate::meter::Metered) counts them. By default `q` alone in a
    /// [`batch`](Executor::batch), which every backend answers with its `meta`; the local
    /// backend measures the statement itself instead (no transaction).
    async fn all_meta<Q: Query>(&self, q: Q) -> Result<Results<Q::Row>> {
        let (results,) = self.batch((q,)).await?;
        Ok(results)
    }
}

/// A reference runs queries as what it points to does (so a wrapper such as
/// [`Metered`](crate::meter::Metered) can hold an executor or borrow one).
impl<E: Executor + ?Sized> Executor for &E {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        (**self).all(q).await
    }
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        (**self).first(q).await
    }
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        (**self).run(q).await
    }
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        (**self).batch(b).await
    }
    async fn all_meta<Q: Query>(&self, q: Q) -> Result<Results<Q::Row>> {
        (**self).all_meta(q).await
    }
}
