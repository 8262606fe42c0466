//! From Rust arguments to SQL values, and the compile-time rule of which Rust types a
//! parameter accepts (docs/TYPING.md, Parameters).

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

/// "This Rust argument fits a parameter of SQL type `M`": what the macros check each argument
/// against, so a wrong argument is a compile error at that argument.
///
/// Implemented for each accepted type by name (not through a blanket impl, so that a wrong
/// argument gets this message rather than a type-projection error). Your own parameter
/// types implement it the same way:
///
/// ```
/// use d1_runtime::{param, Bind, Value};
/// struct NoteId(i64);
/// impl Bind<param::Integer> for NoteId {
///     fn bind(self) -> Value {
///         Value::Integer(self.0)
///     }
/// }
/// assert_eq!(NoteId(3).bind(), Value::Integer(3));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not accepted for a parameter of SQL type `{M}`",
    label = "this argument's type does not fit the parameter",
    note = "INTEGER takes i64 (or a narrower integer), REAL f64, TEXT &str or String, BLOB Vec<u8> or &[u8], BOOLEAN bool, an untyped parameter any of these; `Option<_>` only where the parameter may be NULL (a nullable column in INSERT or SET)"
)]
pub trait Bind<M> {
    /// The value as D1 stores it.
    fn bind(self) -> Value;
}

// Each `bind` is `#[inline]`: `__private::bind` takes it as a function pointer where a query is
// declared, and an inline function is compiled into the caller's crate, so that a crate that
// only declares queries references none of this crate's compiled code (nor links it).
macro_rules! binds {
    ($kind:ident: $($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl Bind<param::$kind> for $t {
            #[inline]
            fn bind(self) -> Value {
                let $v = self;
                $e
            }
        }
        impl Bind<param::Nullable<param::$kind>> for $t {
            #[inline]
            fn bind(self) -> Value {
                <$t as Bind<param::$kind>>::bind(self)
            }
        }
        impl Bind<param::Nullable<param::$kind>> for Option<$t> {
            #[inline]
            fn bind(self) -> Value {
                self.map_or(Value::Null, <$t as Bind<param::$kind>>::bind)
            }
        }
        binds!(@any $kind $t);
    )*};
    (@any Any $t:ty) => {};
    (@any $kind:ident $t:ty) => {
        // A parameter with no type takes any value; `Option` only where it may be NULL.
        impl Bind<param::Any> for $t {
            #[inline]
            fn bind(self) -> Value {
                <$t as Bind<param::$kind>>::bind(self)
            }
        }
        impl Bind<param::Nullable<param::Any>> for $t {
            #[inline]
            fn bind(self) -> Value {
                <$t as Bind<param::$kind>>::bind(self)
            }
        }
        impl Bind<param::Nullable<param::Any>> for Option<$t> {
            #[inline]
            fn bind(self) -> Value {
                self.map_or(Value::Null, <$t as Bind<param::$kind>>::bind)
            }
        }
    };
}

binds!(Integer:
    i64 => |v| Value::Integer(v), &i64 => |v| Value::Integer(*v),
    i32 => |v| Value::Integer(v.into()), &i32 => |v| Value::Integer((*v).into()),
    i16 => |v| Value::Integer(v.into()), i8 => |v| Value::Integer(v.into()),
    u32 => |v| Value::Integer(v.into()), &u32 => |v| Value::Integer((*v).into()),
    u16 => |v| Value::Integer(v.into()), u8 => |v| Value::Integer(v.into()),
);
binds!(Real:
    f64 => |v| Value::Real(v), &f64 => |v| Value::Real(*v),
    f32 => |v| Value::Real(v.into()),
);
binds!(Text:
    String => |v| Value::Text(v), &String => |v| Value::Text(v.clone()),
    &str => |v| Value::Text(v.to_owned()), &&str => |v| Value::Text((*v).to_owned()),
    Box<str> => |v| Value::Text(v.into()),
    std::borrow::Cow<'_, str> => |v| Value::Text(v.into_owned()),
);
binds!(Blob:
    Vec<u8> => |v| Value::Blob(v), &Vec<u8> => |v| Value::Blob(v.clone()),
    &[u8] => |v| Value::Blob(v.to_vec()),
);
binds!(Bool:
    bool => |v| Value::Integer(v.into()), &bool => |v| Value::Integer((*v).into()),
);
binds!(Any:
    Value => |v| v, &Value => |v| v.clone(),
);

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
        assert_eq!(
            bind::<param::Blob, _>(&[1u8, 2][..]),
            Value::Blob(vec![1, 2])
        );
        assert_eq!(
            bind::<param::Nullable<param::Any>, _>(None::<Value>),
            Value::Null
        );
    }
}
