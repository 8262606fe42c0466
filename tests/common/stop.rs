//! A local database whose writes stop at a chosen one, as if the process died there: what the
//! tests of operations that a rerun must finish (tenant delete, tenant import) share.

use d1kit::local::{block_on, Database};
use d1kit::{Batch, Executor, Query, Result, RunResult};
use std::cell::Cell;

/// The local database, failing at its `n`-th write (`batch` or `run`): after running it, or
/// without running it.
pub struct StopsAt<'a> {
    db: &'a Database,
    writes: Cell<u32>,
    n: u32,
    runs_it: bool,
}

impl<'a> StopsAt<'a> {
    /// The `n`-th write runs (committed), then the caller hears an error.
    pub fn after(db: &'a Database, n: u32) -> StopsAt<'a> {
        StopsAt {
            db,
            writes: Cell::new(0),
            n,
            runs_it: true,
        }
    }

    /// The `n`-th write does not run: the caller hears an error instead.
    pub fn before(db: &'a Database, n: u32) -> StopsAt<'a> {
        StopsAt {
            runs_it: false,
            ..StopsAt::after(db, n)
        }
    }

    fn write<T>(&self, write: impl FnOnce() -> Result<T>) -> Result<T> {
        self.writes.set(self.writes.get() + 1);
        let stop = self.writes.get() == self.n;
        let stopped = || Err(d1kit::Error::Backend("stopped here".into()));
        if stop && !self.runs_it {
            return stopped();
        }
        let result = write();
        if stop {
            return stopped();
        }
        result
    }
}

impl Executor for StopsAt<'_> {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        self.db.all(q).await
    }
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        self.db.first(q).await
    }
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        self.write(|| block_on(self.db.run(q)))
    }
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        self.write(|| block_on(self.db.batch(b)))
    }
}
