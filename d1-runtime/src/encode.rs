//! From Rust arguments to SQL values, and the compile-time rule of which Rust types a
//! parameter accepts (DESIGN.md §3.1 "Parameters").

use crate::Value;

/// The SQL type of a parameter, as the macros infer it: only used as a type, to select which
/// Rust arguments compile.
pub mod param {
    use std::marker::PhantomData;

    /// `INTEGER`: `i64` and the narrower integer types.
    pub struct Integer;
    /// `REAL`: `f64`, `f32`.
    pub struct Real;
    /// `TEXT`: `&str`, `String`, `&String`.
    pub struct Text;
    /// `BLOB`: `Vec<u8>`, `&[u8]`, `&Vec<u8>`.
    pub struct Blob;
    /// `BOOLEAN`: `bool`.
    pub struct Bool;
    /// Anything: a parameter whose context gives it no type.
    pub struct Any;
    /// A parameter that also accepts `None` (NULL): `T` or `Option<T>`.
    pub struct Nullable<M>(PhantomData<M>);
}

/// A Rust value that can be sent to D1 as a parameter. `Kind` is the SQL type it is, one of
/// the [`param`] markers; implement it for your own types (an `AS "id: NoteId"` newtype, say):
///
/// ```
/// use d1_runtime::{param, Encode, Value};
/// struct NoteId(i64);
/// impl Encode for NoteId {
///     type Kind = param::Integer;
///     fn encode(self) -> Value {
///         Value::Integer(self.0)
///     }
/// }
/// assert_eq!(NoteId(3).encode(), Value::Integer(3));
/// ```
pub trait Encode {
    /// The SQL type this value is.
    type Kind;
    /// The value as D1 stores it.
    fn encode(self) -> Value;
}

/// "This Rust argument fits a parameter of SQL type `M`": what the macros check each argument
/// against, so a wrong argument is a compile error at that argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not accepted for a parameter of SQL type `{M}`",
    label = "this argument's type does not fit the parameter",
    note = "INTEGER takes i64 (or a narrower integer), REAL f64, TEXT &str or String, BLOB Vec<u8> or &[u8], BOOLEAN bool; `Option<_>` only where the parameter may be NULL"
)]
pub trait Bind<M> {
    /// The value as D1 stores it.
    fn bind(self) -> Value;
}

macro_rules! encode {
    ($kind:ident: $($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl Encode for $t {
            type Kind = param::$kind;
            fn encode(self) -> Value {
                let $v = self;
                $e
            }
        }
    )*};
}

encode!(Integer:
    i64 => |v| Value::Integer(v), &i64 => |v| Value::Integer(*v),
    i32 => |v| Value::Integer(v.into()), &i32 => |v| Value::Integer((*v).into()),
    i16 => |v| Value::Integer(v.into()), i8 => |v| Value::Integer(v.into()),
    u32 => |v| Value::Integer(v.into()), &u32 => |v| Value::Integer((*v).into()),
    u16 => |v| Value::Integer(v.into()), u8 => |v| Value::Integer(v.into()),
);
encode!(Real:
    f64 => |v| Value::Real(v), &f64 => |v| Value::Real(*v),
    f32 => |v| Value::Real(v.into()),
);
encode!(Text:
    String => |v| Value::Text(v), &String => |v| Value::Text(v.clone()),
    &str => |v| Value::Text(v.to_owned()), &&str => |v| Value::Text((*v).to_owned()),
    Box<str> => |v| Value::Text(v.into()),
    std::borrow::Cow<'_, str> => |v| Value::Text(v.into_owned()),
);
encode!(Blob:
    Vec<u8> => |v| Value::Blob(v), &Vec<u8> => |v| Value::Blob(v.clone()),
    &[u8] => |v| Value::Blob(v.to_vec()),
);
encode!(Bool:
    bool => |v| Value::Integer(v.into()), &bool => |v| Value::Integer((*v).into()),
);
encode!(Any:
    Value => |v| v, &Value => |v| v.clone(),
);

impl<const N: usize> Encode for [u8; N] {
    type Kind = param::Blob;
    fn encode(self) -> Value {
        Value::Blob(self.to_vec())
    }
}

macro_rules! bind_kinds {
    ($($kind:ident),*) => {$(
        impl<T: Encode<Kind = param::$kind>> Bind<param::$kind> for T {
            fn bind(self) -> Value {
                self.encode()
            }
        }
        impl<T: Encode<Kind = param::$kind>> Bind<param::Nullable<param::$kind>> for T {
            fn bind(self) -> Value {
                self.encode()
            }
        }
        impl<T: Encode<Kind = param::$kind>> Bind<param::Nullable<param::$kind>> for Option<T> {
            fn bind(self) -> Value {
                self.map_or(Value::Null, Encode::encode)
            }
        }
    )*};
}
bind_kinds!(Integer, Real, Text, Blob, Bool);

// A parameter with no type takes any value; `Option` only where it may be NULL.
impl<T: Encode> Bind<param::Any> for T {
    fn bind(self) -> Value {
        self.encode()
    }
}
impl<T: Encode> Bind<param::Nullable<param::Any>> for T {
    fn bind(self) -> Value {
        self.encode()
    }
}
impl<T: Encode> Bind<param::Nullable<param::Any>> for Option<T> {
    fn bind(self) -> Value {
        self.map_or(Value::Null, Encode::encode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind<M, T: Bind<M>>(v: T) -> Value {
        v.bind()
    }

    #[test]
    fn arguments_become_values() {
        assert_eq!(bind::<param::Text, _>("a"), Value::Text("a".into()));
        assert_eq!(
            bind::<param::Text, _>(String::from("b")),
            Value::Text("b".into())
        );
        assert_eq!(bind::<param::Bool, _>(true), Value::Integer(1));
        assert_eq!(
            bind::<param::Nullable<param::Integer>, _>(None::<i64>),
            Value::Null
        );
        assert_eq!(
            bind::<param::Nullable<param::Integer>, _>(Some(4u8)),
            Value::Integer(4)
        );
        assert_eq!(bind::<param::Any, _>(2.5), Value::Real(2.5));
        assert_eq!(bind::<param::Blob, _>([1u8, 2]), Value::Blob(vec![1, 2]));
    }
}
