//! From a SQL [`Value`] to a Rust value, with an error (never a panic) when the value does not fit.

use crate::Value;

/// A Rust type a result column can be read into.
///
/// Implemented for the types of docs/TYPING.md (`i64`, `f64`, `String`, `Vec<u8>`, `bool`,
/// [`Value`], and `Option` of each), the other integer widths (checked), `f32`, and any type
/// you implement it for, which `AS "name: Type"` can then name:
///
/// ```
/// use d1_runtime::{Decode, Value};
/// #[derive(Debug, PartialEq)]
/// struct NoteId(i64);
/// impl Decode for NoteId {
///     fn decode(value: Value) -> Result<Self, String> {
///         i64::decode(value).map(NoteId)
///     }
/// }
/// assert_eq!(NoteId::decode(Value::Integer(7)), Ok(NoteId(7)));
/// assert!(NoteId::decode(Value::Text("7".into())).is_err());
/// ```
pub trait Decode: Sized {
    /// Converts `value`, or says why it cannot (the caller adds the column's name).
    fn decode(value: Value) -> Result<Self, String>;
}

#[cold]
#[inline(never)]
fn mismatch(expected: &str, found: &Value) -> String {
    if found.is_null() {
        format!(
            "expected {expected}, found NULL (use Option<_> or `AS \"name?\"` if it can be NULL)"
        )
    } else {
        format!("expected {expected}, found {} {found}", found.kind())
    }
}

impl Decode for Value {
    #[inline]
    fn decode(value: Value) -> Result<Self, String> {
        Ok(value)
    }
}

impl<T: Decode> Decode for Option<T> {
    #[inline]
    fn decode(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            v => T::decode(v).map(Some),
        }
    }
}

impl Decode for i64 {
    #[inline]
    fn decode(value: Value) -> Result<Self, String> {
        match value {
            Value::Integer(i) => Ok(i),
            v => Err(not_an_integer(v)),
        }
    }
}

#[cold]
#[inline(never)]
fn not_an_integer(value: Value) -> String {
    match value {
        // What a Worker reads back for an integer a JavaScript number cannot hold.
        Value::Real(r) if r.fract() == 0.0 && r.abs() >= 9_007_199_254_740_992.0 => format!(
            "expected an INTEGER (i64), found {r:?}: an integer beyond ±(2^53 - 1) reached \
             JavaScript as a rounded number, so its exact value is lost"
        ),
        v => mismatch("an INTEGER (i64)", &v),
    }
}

macro_rules! narrow_integers {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode(value: Value) -> Result<Self, String> {
                let wide = i64::decode(value)?;
                <$t>::try_from(wide)
                    .map_err(|_| format!("{wide} does not fit in {}", stringify!($t)))
            }
        }
    )*};
}
narrow_integers!(i8, i16, i32, u8, u16, u32, u64, usize, isize);

impl Decode for f64 {
    #[inline]
    fn decode(value: Value) -> Result<Self, String> {
        match value {
            Value::Real(r) => Ok(r),
            // A NUMERIC/REAL column stores whole numbers as INTEGER; they are still numbers.
            Value::Integer(i) => Ok(i as f64),
            v => Err(mismatch("a REAL (f64)", &v)),
        }
    }
}

impl Decode for f32 {
    fn decode(value: Value) -> Result<Self, String> {
        f64::decode(value).map(|r| r as f32)
    }
}

impl Decode for bool {
    #[inline]
    fn decode(value: Value) -> Result<Self, String> {
        match value {
            Value::Integer(0) => Ok(false),
            Value::Integer(1) => Ok(true),
            v => Err(mismatch("a boolean (0 or 1)", &v)),
        }
    }
}

impl Decode for String {
    #[inline]
    fn decode(value: Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s),
            v => Err(mismatch("TEXT (String)", &v)),
        }
    }
}

impl Decode for Vec<u8> {
    #[inline]
    fn decode(value: Value) -> Result<Self, String> {
        match value {
            Value::Blob(b) => Ok(b),
            v => Err(mismatch("a BLOB (Vec<u8>)", &v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_are_errors_that_say_what_was_found() {
        assert_eq!(i64::decode(Value::Integer(3)), Ok(3));
        let e = i64::decode(Value::Text("3".into())).unwrap_err();
        assert_eq!(e, "expected an INTEGER (i64), found TEXT '3'");
        let e = String::decode(Value::Null).unwrap_err();
        assert!(e.contains("found NULL"), "{e}");
        assert_eq!(Option::<String>::decode(Value::Null), Ok(None));
        assert_eq!(bool::decode(Value::Integer(1)), Ok(true));
        assert!(bool::decode(Value::Integer(2)).is_err());
        assert_eq!(f64::decode(Value::Integer(2)), Ok(2.0));
        assert_eq!(
            u8::decode(Value::Integer(300)).unwrap_err(),
            "300 does not fit in u8"
        );
        assert_eq!(
            Vec::<u8>::decode(Value::Text("x".into())).unwrap_err(),
            "expected a BLOB (Vec<u8>), found TEXT 'x'"
        );
    }

    #[test]
    fn a_rounded_javascript_integer_is_named_as_such() {
        // 2^53 + 1 arrives from a Worker as the double 2^53.
        let e = i64::decode(Value::Real(9_007_199_254_740_992.0)).unwrap_err();
        assert!(e.contains("beyond ±(2^53 - 1)"), "{e}");
        // A small whole REAL is still a plain mismatch, not a JavaScript story.
        let e = i64::decode(Value::Real(2.0)).unwrap_err();
        assert_eq!(e, "expected an INTEGER (i64), found REAL 2.0");
    }
}
