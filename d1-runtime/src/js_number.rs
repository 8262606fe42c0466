//! Numbers as JavaScript carries them: the Worker binding and the REST API (whose JSON D1
//! writes from JavaScript values) hold every number as an f64, so only the safe integers
//! (±(2^53 − 1)) cross exactly. Both backends check values with these rules.

use crate::Value;

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A number D1 returned, as d1kit's [`Value`]: an INTEGER when it is a safe integer, else a
/// REAL (so an integer beyond ±(2^53 − 1), already rounded by JavaScript, fails to decode as
/// `i64` instead of passing as a wrong number).
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 {
        Value::Integer(n as i64)
    } else {
        Value::Real(n)
    }
}

/// Why `value` cannot be sent as a JavaScript value without changing it, if it cannot.
pub(crate) fn unsendable(value: &Value) -> Option<String> {
    match value {
        Value::Integer(i) if i.unsigned_abs() > MAX_SAFE_INTEGER as u64 => Some(format!(
            "{i} is outside ±(2^53 - 1), the integers a JavaScript number holds exactly: \
             D1 would store a rounded value (store it as TEXT, or split it)"
        )),
        Value::Real(r) if r.is_nan() => {
            Some("NaN cannot be stored (SQLite would store NULL)".to_owned())
        }
        _ => None,
    }
}
