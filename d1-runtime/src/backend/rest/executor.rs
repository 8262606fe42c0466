//! One database reached over the REST API: [`Database`], an [`Executor`], and its migrations.

use super::client::{Client, Replay};
use super::transport::Method;
use super::wire::{excerpt, percent_encode, query_error, raw_results, statement_body};
use crate::row::{OwnedRow, Row};
use crate::{Batch, Error, Executor, FromRow, Query, RawResults, Result, RunResult, Statement};
use serde_json::json;
use std::sync::Arc;

/// One database reached over the REST API: an [`Executor`].
#[derive(Debug, Clone)]
pub struct Database {
    pub(super) client: Client,
    pub(super) uuid: Arc<str>,
}

impl Database {
    /// The database's id.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The client it goes through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends statements to `/raw`: one as `{sql, params}`, several as one `{batch: [...]}`
    /// (one transaction), and reads one result per statement.
    async fn raw(&self, statements: &[Statement], replay: Replay) -> Result<Vec<RawResults>> {
        let mut bodies = Vec::with_capacity(statements.len());
        for statement in statements {
            bodies.push(statement_body(statement)?);
        }
        let body = match bodies.len() {
            1 => bodies.pop().unwrap_or_default(),
            _ => json!({ "batch": bodies }),
        };
        let url = self
            .client
            .url(&format!("/{}/raw", percent_encode(&self.uuid)));
        let reply = match self
            .client
            .request(Method::Post, &url, Some(body), replay)
            .await
        {
            Ok(reply) => reply,
            Err(Error::Api {
                status: 400..=499,
                code: Some(7500),
                message,
            }) => return Err(query_error(message, statements)),
            Err(e) => return Err(e),
        };
        let results = reply.result.as_array().ok_or_else(|| {
            Error::Backend(format!(
                "D1 returned no list of results: {}",
                excerpt(&reply.result.to_string())
            ))
        })?;
        if results.len() != statements.len() {
            return Err(Error::Backend(format!(
                "D1 returned {} results for {} statements",
                results.len(),
                statements.len()
            )));
        }
        results.iter().map(raw_results).collect()
    }

    async fn one(&self, statement: Statement) -> Result<RawResults> {
        let replay = replay_of(std::slice::from_ref(&statement));
        let mut results = self.raw(std::slice::from_ref(&statement), replay).await?;
        Ok(results.pop().unwrap_or_default())
    }
}

/// Whether statements only read: then a request that failed midway can be sent again.
fn replay_of(statements: &[Statement]) -> Replay {
    let reads = statements.iter().all(|s| {
        let head = s.sql.trim_start();
        let word: String = head.chars().take_while(char::is_ascii_alphabetic).collect();
        // A WITH may end in INSERT/UPDATE/DELETE; only a plain SELECT is surely a read.
        word.eq_ignore_ascii_case("SELECT")
    });
    if reads {
        Replay::Safe
    } else {
        Replay::Unsafe
    }
}

impl Executor for Database {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        Ok(self.one(q.into_statement()).await?.decode::<Q::Row>()?.rows)
    }

    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        let raw = self.one(q.into_statement()).await?;
        let names = raw.columns;
        raw.rows
            .into_iter()
            .next()
            .map(|values| {
                let mut src = OwnedRow {
                    names: &names,
                    values,
                };
                Q::Row::from_row(&mut Row::new(&mut src))
            })
            .transpose()
    }

    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        Ok(self.one(q.into_statement()).await?.meta)
    }

    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        let statements = b.into_statements();
        if statements.is_empty() {
            return B::decode(Vec::new());
        }
        let results = self.raw(&statements, replay_of(&statements)).await?;
        B::decode(results)
    }
}

/// A migration-safe view of a database: its writes are replayed after a 5xx, because every
/// migration batch carries its `d1_migrations` row (a second application fails whole).
struct Migrating<'a>(&'a Database);

impl Executor for Migrating<'_> {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        self.0.all(q).await
    }
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        self.0.first(q).await
    }
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        self.0.run(q).await
    }
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        let statements = b.into_statements();
        let results = self.0.raw(&statements, Replay::Safe).await?;
        B::decode(results)
    }
}

impl Database {
    /// Applies the migrations it lacks ([`crate::migrate::migrate`]). Migration batches are
    /// replayed after transient failures whatever [`Retry::writes`] says: a migration that did
    /// apply makes its replay fail as a whole on the `d1_migrations` row, and the next run
    /// sees it applied.
    ///
    /// [`Retry::writes`]: super::Retry::writes
    pub async fn migrate(
        &self,
        migrations: &[crate::Migration],
    ) -> Result<crate::migrate::MigrateReport> {
        crate::migrate::migrate(&Migrating(self), migrations).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_selects_are_replayed() {
        let st = |sql: &'static str| Statement {
            sql: sql.into(),
            params: vec![],
        };
        assert!(replay_of(&[st("  select 1")]) == Replay::Safe);
        assert!(replay_of(&[st("INSERT INTO t VALUES (1)")]) == Replay::Unsafe);
        assert!(replay_of(&[st("WITH x AS (SELECT 1) DELETE FROM t")]) == Replay::Unsafe);
        assert!(replay_of(&[st("SELECT 1"), st("UPDATE t SET x = 1")]) == Replay::Unsafe);
    }
}
