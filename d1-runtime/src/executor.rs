//! What a query is ([`Query`]), what running one gives ([`RunResult`], [`Results`]), and what
//! runs them ([`Executor`]): the same code on every backend.

use crate::row::{FromRow, OwnedRow, Row};
use crate::{Result, Value};
use std::borrow::Cow;
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

    /// Every row.
    async fn all<E: Executor + ?Sized>(self, db: &E) -> Result<Vec<Self::Row>> {
        db.all(self).await
    }

    /// The first row, if any.
    async fn first<E: Executor + ?Sized>(self, db: &E) -> Result<Option<Self::Row>> {
        db.first(self).await
    }

    /// Runs it for its effect: changes, last row id, rows read and written.
    async fn run<E: Executor + ?Sized>(self, db: &E) -> Result<RunResult> {
        db.run(self).await
    }
}

/// The query value `sql!` and `sql_as!` build: a `'static` SQL string, bound values, a row type.
pub struct Sql<R> {
    sql: &'static str,
    params: Vec<Value>,
    row: PhantomData<fn() -> R>,
}

impl<R> Sql<R> {
    /// A query of `sql` (numbered parameters only) with `params` for `?1`, `?2`...
    pub fn new(sql: &'static str, params: impl Into<Vec<Value>>) -> Sql<R> {
        Sql {
            sql,
            params: params.into(),
            row: PhantomData,
        }
    }

    /// The SQL as it is sent.
    pub fn sql(&self) -> &'static str {
        self.sql
    }

    /// The bound values.
    pub fn params(&self) -> &[Value] {
        &self.params
    }
}

// Inherent, so `sql!(..).all(&db)` needs no `use d1kit::Query`.
impl<R: FromRow> Sql<R> {
    /// Every row.
    pub async fn all<E: Executor + ?Sized>(self, db: &E) -> Result<Vec<R>> {
        db.all(self).await
    }

    /// The first row, if any.
    pub async fn first<E: Executor + ?Sized>(self, db: &E) -> Result<Option<R>> {
        db.first(self).await
    }

    /// Runs it for its effect: changes, last row id, rows read and written.
    pub async fn run<E: Executor + ?Sized>(self, db: &E) -> Result<RunResult> {
        db.run(self).await
    }
}

impl<R> std::fmt::Debug for Sql<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("sql", &self.sql)
            .field("params", &self.params)
            .finish()
    }
}

impl<R: FromRow> Query for Sql<R> {
    type Row = R;
    fn into_statement(self) -> Statement {
        Statement {
            sql: Cow::Borrowed(self.sql),
            params: self.params,
        }
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
}
