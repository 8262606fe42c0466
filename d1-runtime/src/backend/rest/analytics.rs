//! D1's analytics, through Cloudflare's GraphQL API: queries and rows per database over a
//! period ([`Client::analytics`]).
//!
//! GraphQL is not the v4 envelope: the request is `POST {base}/graphql` with
//! `{query, variables}`, and the reply is plain GraphQL `{data, errors}`, decoded here. The
//! request goes through [`Client::send`], so a 429, a 5xx or a lost connection is retried as
//! any read is.

use super::client::{Client, Replay};
use super::transport::{Method, Response};
use super::wire::excerpt;
use crate::{Error, Result};
use serde_json::{json, Value as Json};
use std::collections::HashMap;

/// Database ids asked about in one GraphQL request: each comes back as at most one group (the
/// query groups by `databaseId` only), well under the API's 10,000 groups per answer, and the
/// request stays small. Cloudflare allows 320 GraphQL requests per 5 minutes.
const IDS_PER_REQUEST: usize = 500;

/// The most groups one answer may hold (`limit`, the API's maximum).
const GROUP_LIMIT: usize = 10_000;

/// The query: `d1AnalyticsAdaptiveGroups` since `$since` for the databases `$databaseIds`,
/// summed per database.
const QUERY: &str =
    "query D1kitUsage($accountTag: string!, $since: Time!, $databaseIds: [string!]) {
  viewer {
    accounts(filter: {accountTag: $accountTag}) {
      d1AnalyticsAdaptiveGroups(
        limit: 10000
        filter: {datetime_geq: $since, databaseId_in: $databaseIds}
        orderBy: [databaseId_ASC]
      ) {
        sum { readQueries writeQueries rowsRead rowsWritten }
        dimensions { databaseId }
      }
    }
  }
}";

/// One database's activity over a period, as D1's analytics count it
/// (`d1AnalyticsAdaptiveGroups`'s `sum`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseUsage {
    /// The database's id.
    pub database_id: String,
    /// Read queries (`readQueries`; not billed).
    pub read_queries: u64,
    /// Write queries (`writeQueries`; not billed).
    pub write_queries: u64,
    /// Rows read, i.e. scanned (`rowsRead`; billed).
    pub rows_read: u64,
    /// Rows written (`rowsWritten`; billed).
    pub rows_written: u64,
}

impl DatabaseUsage {
    /// Queries of either kind.
    pub fn queries(&self) -> u64 {
        self.read_queries.saturating_add(self.write_queries)
    }
}

impl Client {
    /// What databases `database_ids` of the account did from `since` (an RFC 3339 time, e.g.
    /// `2026-08-01T00:00:00Z`; Cloudflare keeps 31 days) until now, from
    /// `d1AnalyticsAdaptiveGroups`: one [`DatabaseUsage`] per id asked, in the order asked and
    /// as written (ids compared without case; a database that did nothing, or is unknown to
    /// the analytics, has zeros). Ids are asked about 500 per request; the API allows 320
    /// requests per 5 minutes.
    ///
    /// A GraphQL error (a bad token, a malformed time, an account the token cannot see) is
    /// [`Error::Api`] with the API's messages.
    pub async fn analytics(
        &self,
        since: &str,
        database_ids: &[String],
    ) -> Result<Vec<DatabaseUsage>> {
        let mut found: HashMap<String, DatabaseUsage> = HashMap::new();
        let url = format!("{}/graphql", self.base_url());
        // Ids are uuids, which the API writes in lower case.
        let lower: Vec<String> = database_ids
            .iter()
            .map(|id| id.to_ascii_lowercase())
            .collect();
        for ids in lower.chunks(IDS_PER_REQUEST) {
            let body = json!({
                "query": QUERY,
                "variables": {
                    "accountTag": self.account_id(),
                    "since": since,
                    "databaseIds": ids,
                },
            });
            // A read: always safe to send again.
            let (response, _) = self
                .send(Method::Post, &url, Some(body), Replay::Safe)
                .await;
            for group in decode(&response?)? {
                let entry = found
                    .entry(group.database_id.to_ascii_lowercase())
                    .or_default();
                entry.read_queries = entry.read_queries.saturating_add(group.read_queries);
                entry.write_queries = entry.write_queries.saturating_add(group.write_queries);
                entry.rows_read = entry.rows_read.saturating_add(group.rows_read);
                entry.rows_written = entry.rows_written.saturating_add(group.rows_written);
            }
        }
        Ok(database_ids
            .iter()
            .zip(&lower)
            .map(|(id, key)| DatabaseUsage {
                database_id: id.clone(),
                ..found.get(key).cloned().unwrap_or_default()
            })
            .collect())
    }
}

/// The groups of a GraphQL answer to [`QUERY`]: `data.viewer.accounts[0]
/// .d1AnalyticsAdaptiveGroups`, each `{sum, dimensions: {databaseId}}`. Any `errors` (or an
/// answer that is not GraphQL) is an error with the API's messages.
fn decode(response: &Response) -> Result<Vec<DatabaseUsage>> {
    let fail = |message: String| Error::Api {
        status: response.status,
        code: None,
        message: format!("GraphQL analytics: {message}"),
    };
    let reply: Json = serde_json::from_str(&response.body).map_err(|e| {
        fail(format!(
            "HTTP {}, the reply is not JSON ({e}): {}",
            response.status,
            excerpt(&response.body)
        ))
    })?;
    // GraphQL's `errors: [{message, path?, extensions?}]`, or the v4 envelope's
    // `errors: [{code, message}]` that an error at Cloudflare's edge may carry.
    let messages: Vec<String> = reply
        .get("errors")
        .and_then(Json::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| match e.get("message").and_then(Json::as_str) {
                    Some(m) => m.to_owned(),
                    None => e.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    if !messages.is_empty() {
        return Err(fail(messages.join("; ")));
    }
    if !(200..300).contains(&response.status) {
        return Err(fail(format!(
            "HTTP {}: {}",
            response.status,
            excerpt(&response.body)
        )));
    }
    let accounts = reply
        .get("data")
        .and_then(|d| d.get("viewer"))
        .and_then(|v| v.get("accounts"))
        .and_then(Json::as_array)
        .ok_or_else(|| {
            fail(format!(
                "no data.viewer.accounts in the reply: {}",
                excerpt(&response.body)
            ))
        })?;
    let Some(account) = accounts.first() else {
        return Err(fail(
            "the reply holds no account: the token cannot read this account's analytics \
             (it needs the Account Analytics read permission)"
                .to_owned(),
        ));
    };
    let groups = match account.get("d1AnalyticsAdaptiveGroups") {
        Some(Json::Array(groups)) => groups,
        Some(Json::Null) | None => return Ok(Vec::new()),
        Some(other) => {
            return Err(fail(format!(
                "d1AnalyticsAdaptiveGroups is not a list: {}",
                excerpt(&other.to_string())
            )))
        }
    };
    if groups.len() >= GROUP_LIMIT {
        return Err(fail(format!(
            "the answer holds {} groups, the most one answer may: some were left out",
            groups.len()
        )));
    }
    groups.iter().map(|g| group(g).map_err(fail)).collect()
}

/// One group: its database id and its sums.
fn group(g: &Json) -> std::result::Result<DatabaseUsage, String> {
    let database_id = g
        .get("dimensions")
        .and_then(|d| d.get("databaseId"))
        .and_then(Json::as_str)
        .ok_or_else(|| format!("a group without dimensions.databaseId: {g}"))?
        .to_owned();
    let sum = g.get("sum").unwrap_or(&Json::Null);
    let count = |field: &str| {
        count(sum.get(field).unwrap_or(&Json::Null))
            .map_err(|why| format!("database {database_id}: sum.{field} {why}"))
    };
    Ok(DatabaseUsage {
        read_queries: count("readQueries")?,
        write_queries: count("writeQueries")?,
        rows_read: count("rowsRead")?,
        rows_written: count("rowsWritten")?,
        database_id,
    })
}

/// A count as the API may write it: a JSON integer, a float (rounded), a string of digits (as
/// GraphQL servers may write 64-bit integers), or null (zero).
fn count(value: &Json) -> std::result::Result<u64, String> {
    match value {
        Json::Null => Ok(0),
        Json::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(n), _) => Ok(n),
            (None, Some(f)) if f.is_finite() && f >= 0.0 => Ok(f.round() as u64),
            _ => Err(format!("is not a count: {n}")),
        },
        Json::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("is not a count: {s:?}")),
        other => Err(format!("is not a count: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: Json) -> Response {
        Response {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    fn groups(list: Json) -> Json {
        json!({ "data": { "viewer": { "accounts": [ { "d1AnalyticsAdaptiveGroups": list } ] } }, "errors": null })
    }

    #[test]
    fn groups_decode_with_integer_float_and_string_counts() {
        let reply = groups(json!([
            {
                "sum": { "readQueries": 3, "writeQueries": 2, "rowsRead": 120, "rowsWritten": 7 },
                "dimensions": { "databaseId": "a" }
            },
            {
                "sum": { "readQueries": 1.0, "writeQueries": 0, "rowsRead": 1e10, "rowsWritten": "18446744073709551615" },
                "dimensions": { "databaseId": "b" }
            },
            {
                "sum": { "readQueries": null, "rowsRead": 4 },
                "dimensions": { "databaseId": "c" }
            }
        ]));
        let got = decode(&response(200, reply)).unwrap();
        assert_eq!(
            got,
            vec![
                DatabaseUsage {
                    database_id: "a".into(),
                    read_queries: 3,
                    write_queries: 2,
                    rows_read: 120,
                    rows_written: 7,
                },
                DatabaseUsage {
                    database_id: "b".into(),
                    read_queries: 1,
                    write_queries: 0,
                    rows_read: 10_000_000_000,
                    rows_written: u64::MAX,
                },
                DatabaseUsage {
                    database_id: "c".into(),
                    rows_read: 4,
                    ..DatabaseUsage::default()
                },
            ]
        );
        assert_eq!(got[0].queries(), 5);
        // No activity at all: no groups.
        assert_eq!(decode(&response(200, groups(json!([])))).unwrap(), vec![]);
        assert_eq!(decode(&response(200, groups(Json::Null))).unwrap(), vec![]);
    }

    #[test]
    fn errors_carry_the_apis_messages() {
        let reply = json!({
            "data": null,
            "errors": [
                { "message": "unknown field \"rowsRed\"", "path": ["viewer"] },
                { "message": "second" }
            ]
        });
        let e = decode(&response(200, reply)).unwrap_err();
        assert!(matches!(e, Error::Api { status: 200, .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("GraphQL analytics: unknown field \"rowsRed\"; second"),
            "{text}"
        );
        // The v4 envelope at the edge (a bad token).
        let reply = json!({ "success": false, "errors": [ { "code": 10000, "message": "Authentication error" } ] });
        let text = decode(&response(403, reply)).unwrap_err().to_string();
        assert!(text.contains("Authentication error"), "{text}");
        // Not JSON, or not GraphQL's shape.
        let not_json = Response {
            status: 502,
            retry_after: None,
            body: "<html>bad gateway</html>".into(),
        };
        let text = decode(&not_json).unwrap_err().to_string();
        assert!(
            text.contains("not JSON") && text.contains("bad gateway"),
            "{text}"
        );
        let text = decode(&response(200, json!({ "data": {} })))
            .unwrap_err()
            .to_string();
        assert!(text.contains("no data.viewer.accounts"), "{text}");
        let empty = json!({ "data": { "viewer": { "accounts": [] } } });
        let text = decode(&response(200, empty)).unwrap_err().to_string();
        assert!(text.contains("Account Analytics"), "{text}");
        // A count that is not one, and a group without its database.
        for (sum, why) in [
            (json!({ "rowsRead": -1 }), "sum.rowsRead is not a count: -1"),
            (json!({ "rowsRead": "many" }), "sum.rowsRead is not a count"),
            (
                json!({ "rowsWritten": [1] }),
                "sum.rowsWritten is not a count",
            ),
        ] {
            let reply = groups(json!([{ "sum": sum, "dimensions": { "databaseId": "a" } }]));
            let text = decode(&response(200, reply)).unwrap_err().to_string();
            assert!(text.contains(why) && text.contains("database a"), "{text}");
        }
        let reply = groups(json!([{ "sum": {}, "dimensions": {} }]));
        let text = decode(&response(200, reply)).unwrap_err().to_string();
        assert!(text.contains("without dimensions.databaseId"), "{text}");
    }

    #[test]
    fn the_query_groups_by_database_since_a_time() {
        assert!(QUERY.contains("d1AnalyticsAdaptiveGroups("));
        assert!(QUERY.contains("filter: {datetime_geq: $since, databaseId_in: $databaseIds}"));
        assert!(QUERY.contains("sum { readQueries writeQueries rowsRead rowsWritten }"));
        assert!(QUERY.contains("dimensions { databaseId }"));
        assert!(QUERY.contains(&format!("limit: {GROUP_LIMIT}")));
    }
}
