//! The API's wire format: envelopes, parameters, `/raw` results and URL components.
//!
//! Cloudflare's envelope read into a reply or an error, parameters as the API takes them,
//! `/raw` results as d1kit's values, and percent-encoded URL components.

use super::transport::Response;
use super::DatabaseInfo;
use crate::js_number;
use crate::{Error, RawResults, Result, RunResult, Statement, Value};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value as Json};
use std::time::Duration;

/// An API reply that succeeded: its `result` and `result_info`.
pub(super) struct Reply {
    pub(super) result: Json,
    pub(super) result_info: Option<Json>,
}

impl Reply {
    pub(super) fn of(r: &Response) -> Result<Reply> {
        if let Some(e) = envelope_error(r) {
            return Err(e);
        }
        if !(200..300).contains(&r.status) {
            return Err(Error::Api {
                status: r.status,
                code: None,
                message: format!("HTTP {}: {}", r.status, excerpt(&r.body)),
            });
        }
        let mut envelope: Json = serde_json::from_str(&r.body).map_err(|e| Error::Api {
            status: r.status,
            code: None,
            message: format!("the API's reply is not JSON ({e}): {}", excerpt(&r.body)),
        })?;
        Ok(Reply {
            result: envelope
                .get_mut("result")
                .map(Json::take)
                .unwrap_or(Json::Null),
            result_info: envelope.get_mut("result_info").map(Json::take),
        })
    }
}

/// The error a reply carries: `success: false` with its first error (code and message), or
/// `None` for a successful or non-JSON reply.
pub(super) fn envelope_error(r: &Response) -> Option<Error> {
    let envelope: Json = serde_json::from_str(&r.body).ok()?;
    if envelope.get("success").and_then(Json::as_bool) != Some(false) {
        return None;
    }
    let errors = envelope.get("errors").and_then(Json::as_array);
    let first = errors.and_then(|e| e.first());
    let code = first
        .and_then(|e| e.get("code"))
        .and_then(Json::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    let message = errors
        .map(|all| {
            all.iter()
                .filter_map(|e| e.get("message").and_then(Json::as_str))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {} without a message", r.status));
    Some(Error::Api {
        status: r.status,
        code,
        message,
    })
}

pub(super) fn excerpt(body: &str) -> String {
    let text: String = body.chars().take(200).collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text
    }
}

pub(super) fn database_info(item: &Json) -> Result<DatabaseInfo> {
    let field = |key: &str| item.get(key).and_then(Json::as_str).map(str::to_owned);
    match (field("uuid"), field("name")) {
        (Some(uuid), Some(name)) => Ok(DatabaseInfo {
            uuid,
            name,
            created_at: field("created_at"),
            read_replication: item
                .get("read_replication")
                .and_then(|r| r.get("mode"))
                .and_then(Json::as_str)
                .map(str::to_owned),
            // A count, as an integer or (JavaScript's numbers) a float.
            file_size: item.get("file_size").and_then(|n| {
                n.as_u64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f.round() as u64)
                })
            }),
        }),
        _ => Err(Error::Backend(format!(
            "the API described a database without uuid or name: {item}"
        ))),
    }
}

/// Whether `s` matches D1's database name pattern `^[a-zA-Z0-9][a-zA-Z0-9_-]*$` (which a
/// uuid matches too).
pub(super) fn is_database_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether `s` is shaped like a uuid (`8-4-4-4-12` hex digits, either case).
pub(super) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// What a URL component keeps as is: RFC 3986's unreserved characters (ASCII letters and
/// digits, `-`, `.`, `_`, `~`); every other byte is percent-encoded, in upper-case hex.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query or path component (RFC 3986 unreserved characters kept).
pub(super) fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

pub(super) fn query_error(message: String, statements: &[Statement]) -> Error {
    let sql = statements
        .iter()
        .map(|s| s.sql.as_ref())
        .collect::<Vec<_>>()
        .join(";\n");
    Error::query(message, &sql)
}

pub(super) fn statement_body(statement: &Statement) -> Result<Json> {
    let mut params = Vec::with_capacity(statement.params.len());
    for (i, value) in statement.params.iter().enumerate() {
        params.push(param_json(value).map_err(|message| Error::Bind {
            index: i + 1,
            message,
        })?);
    }
    Ok(json!({ "sql": statement.sql.as_ref(), "params": params }))
}

/// A parameter as the API takes it.
fn param_json(value: &Value) -> std::result::Result<Json, String> {
    if let Some(why) = js_number::unsendable(value) {
        return Err(why);
    }
    Ok(match value {
        Value::Null => Json::Null,
        Value::Integer(i) => Json::from(*i),
        Value::Real(r) => match serde_json::Number::from_f64(*r) {
            Some(n) => Json::Number(n),
            None => return Err(format!("{r} cannot be sent in JSON (only finite numbers)")),
        },
        Value::Text(s) => Json::String(s.clone()),
        Value::Blob(_) => {
            return Err(
                "the D1 REST API has no BLOB parameter (JSON carries no bytes and D1 \
                 refuses arrays): bind the bytes as hex text and write `unhex(?N)` in the SQL"
                    .to_owned(),
            )
        }
    })
}

/// One statement's entry of a `/raw` reply.
pub(super) fn raw_results(entry: &Json) -> Result<RawResults> {
    let results = entry.get("results");
    let columns: Vec<String> = results
        .and_then(|r| r.get("columns"))
        .and_then(Json::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| c.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    if let Some(list) = results.and_then(|r| r.get("rows")).and_then(Json::as_array) {
        rows.reserve(list.len());
        for row in list {
            let cells = row.as_array().ok_or_else(|| {
                Error::Backend(format!("D1 returned a row that is not a list: {row}"))
            })?;
            let mut values = Vec::with_capacity(cells.len());
            for (i, cell) in cells.iter().enumerate() {
                let column = columns.get(i).map_or("?", String::as_str);
                values.push(value_of(cell, column)?);
            }
            rows.push(values);
        }
    }
    Ok(RawResults {
        columns,
        rows,
        meta: entry.get("meta").map(meta_of).unwrap_or_default(),
    })
}

/// A JSON value of a result row as a [`Value`].
fn value_of(cell: &Json, column: &str) -> Result<Value> {
    Ok(match cell {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => js_number::number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(items) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Value::Blob(bytes.ok_or_else(|| Error::Decode {
                column: column.to_owned(),
                message: "the REST API returned a list that is not bytes".to_owned(),
            })?)
        }
        Json::Object(_) => {
            return Err(Error::Decode {
                column: column.to_owned(),
                message: format!(
                    "the REST API returned an object ({}), not a SQL value; a BLOB that JSON \
                     cannot carry? select hex(..) of it instead",
                    excerpt(&cell.to_string())
                ),
            })
        }
    })
}

fn meta_of(meta: &Json) -> RunResult {
    let count = |key: &str| {
        meta.get(key)
            .and_then(Json::as_f64)
            .map_or(0, |n| n.max(0.0) as u64)
    };
    RunResult {
        changes: count("changes"),
        last_row_id: meta
            .get("last_row_id")
            .and_then(Json::as_f64)
            .map_or(0, |n| n as i64),
        rows_read: count("rows_read"),
        rows_written: count("rows_written"),
        duration: meta
            .get("duration")
            .and_then(Json::as_f64)
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_worker_rules() {
        assert_eq!(
            param_json(&Value::Integer((1 << 53) - 1)).unwrap(),
            json!((1u64 << 53) - 1)
        );
        assert!(param_json(&Value::Integer(1 << 53))
            .unwrap_err()
            .contains("2^53"));
        assert!(param_json(&Value::Real(f64::NAN)).is_err());
        assert!(param_json(&Value::Real(f64::INFINITY)).is_err());
        assert!(param_json(&Value::Blob(vec![1]))
            .unwrap_err()
            .contains("unhex"));
        assert_eq!(param_json(&Value::Text("a".into())).unwrap(), json!("a"));
    }

    #[test]
    fn database_names_and_uuids() {
        for name in [
            "a",
            "Tenant-1",
            "0_x",
            "users-Alice_2",
            "00000000-0000-4000-8000-000000000000",
        ] {
            assert!(is_database_name(name), "{name}");
        }
        for not in ["", "-a", "_a", "a b", "a/b", "a.b", "é", "a?"] {
            assert!(!is_database_name(not), "{not}");
        }
        assert!(is_uuid("0A1B2C3D-0000-4000-8000-00000000000f"));
        assert!(!is_uuid("users-00000000-0000-4000-8000-000000000000"));
        assert!(!is_uuid("0000000000000-4000-8000-0000000000000"));
    }

    #[test]
    fn values_decode_like_javascript_numbers() {
        assert_eq!(value_of(&json!(1), "c").unwrap(), Value::Integer(1));
        assert_eq!(value_of(&json!(0.5), "c").unwrap(), Value::Real(0.5));
        // 2^53 + 1 as a literal is what JavaScript cannot hold: a REAL, so i64 decoding fails.
        let big: Json = serde_json::from_str("9007199254740993").unwrap();
        assert!(matches!(value_of(&big, "c").unwrap(), Value::Real(_)));
        assert_eq!(
            value_of(&json!([0, 255]), "c").unwrap(),
            Value::Blob(vec![0, 255])
        );
        assert!(value_of(&json!([256]), "c").is_err());
        let e = value_of(&json!({}), "photo").unwrap_err().to_string();
        assert!(e.contains("photo") && e.contains("hex"), "{e}");
    }

    /// The hand-written encoder `percent_encode` replaced, kept here as the reference: URLs
    /// must stay byte for byte what they were.
    fn hand_written_percent_encode(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    #[test]
    fn percent_encoding_is_the_hand_written_one() {
        let awkward = [
            "",
            "plain",
            "users-tenant_42.v1~x",
            "a b",
            "a+b",
            "a/b",
            "?x=1&y=2",
            "#frag",
            "100%",
            "%41",
            "~-_.",
            "!*'();:@&=+$,/?#[]",
            "\"<>\\^`{|}",
            "tab\tnew\nline\r\0",
            "\u{7f}",
            "café",
            "naïve/été?#",
            "日本語",
            "emoji 🦀",
            "\u{feff}bom",
            "ABCxyz0189",
        ];
        for s in awkward {
            assert_eq!(percent_encode(s), hand_written_percent_encode(s), "{s:?}");
        }
        // Every one- and two-byte character, and those around the start of the four-byte ones.
        for c in (0u32..0x800)
            .chain(0xfff0..0x10100)
            .filter_map(char::from_u32)
        {
            let s = format!("x{c}y");
            assert_eq!(percent_encode(&s), hand_written_percent_encode(&s), "{c:?}");
        }
        assert_eq!(
            percent_encode("a b/c?d#e%f~g-h_i.j"),
            "a%20b%2Fc%3Fd%23e%25f~g-h_i.j"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
