//! Values as D1's JavaScript sees them, on the way in (parameters) and out (results).
//!
//! JSON parameters are bound as the JavaScript values they parse to; SQLite values are
//! written out as JavaScript serialises them.

use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::Value;

/// A JSON parameter as D1 binds the JavaScript value it parses to.
pub(crate) fn bind_value(value: &Value) -> Result<SqlValue, String> {
    const SAFE: u64 = (1 << 53) - 1;
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) if i.unsigned_abs() <= SAFE => SqlValue::Integer(i),
            // JavaScript's JSON.parse rounds it to a double.
            _ => number_value(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Array(_) | Value::Object(_) => {
            return Err(format!(
                "D1_TYPE_ERROR: Type 'object' not supported for value '{}'",
                js_string(value)
            ))
        }
    })
}

/// 2^63: the integral doubles below it in magnitude fit an i64.
const TWO_POW_63: f64 = (1u64 << 63) as f64;

/// A JavaScript number as D1 binds it: INTEGER when integral (and in range), else REAL.
fn number_value(f: f64) -> SqlValue {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < TWO_POW_63 {
        SqlValue::Integer(f as i64)
    } else {
        SqlValue::Real(f)
    }
}

/// JavaScript's `String(value)`.
fn js_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// A double as JavaScript writes it in JSON: integral values without a fraction, non-finite
/// ones as `null` (the notation of very large or small values may differ, not the value).
fn js_number(f: f64) -> String {
    if !f.is_finite() {
        "null".to_owned()
    } else if f.fract() == 0.0 && f.abs() < TWO_POW_63 {
        (f as i64).to_string()
    } else {
        serde_json::Number::from_f64(f).map_or_else(|| "null".to_owned(), |n| n.to_string())
    }
}

/// A value read from SQLite.
pub(crate) enum Out {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Out {
    pub(crate) fn read(value: ValueRef<'_>) -> Out {
        match value {
            ValueRef::Null => Out::Null,
            ValueRef::Integer(i) => Out::Integer(i),
            ValueRef::Real(f) => Out::Real(f),
            ValueRef::Text(t) => Out::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Out::Blob(b.to_vec()),
        }
    }

    pub(crate) fn write(&self, out: &mut String) {
        const SAFE: u64 = (1 << 53) - 1;
        match self {
            Out::Null => out.push_str("null"),
            Out::Integer(i) if i.unsigned_abs() <= SAFE => out.push_str(&i.to_string()),
            Out::Integer(i) => out.push_str(&js_number(*i as f64)),
            Out::Real(f) => out.push_str(&js_number(*f)),
            Out::Text(s) => push_json_string(out, s),
            Out::Blob(bytes) => {
                out.push('[');
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&b.to_string());
                }
                out.push(']');
            }
        }
    }
}

pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&Value::from(s).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    pub(crate) fn javascript_numbers() {
        assert_eq!(js_number(1.0), "1");
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(js_number(0.5), "0.5");
        assert_eq!(js_number(f64::INFINITY), "null");
        assert_eq!(
            js_number(9_007_199_254_740_993_i64 as f64),
            "9007199254740992"
        );
        assert_eq!(
            js_string(&json!([1, null, "a", {"b": 1}])),
            "1,,a,[object Object]"
        );
    }
}
