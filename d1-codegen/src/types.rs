//! The types d1kit infers (docs/TYPING.md) and the rule from a declared SQL type to a Rust type.

use std::fmt;

/// The Rust type of a column or parameter, before nullability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SqlType {
    /// `i64`
    Integer,
    /// `f64`
    Real,
    /// `String`
    Text,
    /// `Vec<u8>`
    Blob,
    /// `bool`
    Bool,
    /// `d1kit::Value`: anything.
    Value,
    /// The `NULL` literal: shown as `Value`, but ignored when a common type is computed.
    Null,
    /// A type named by an `AS "name: Type"` override.
    Custom(String),
}

impl SqlType {
    /// The type a declared column type maps to (docs/TYPING.md, "Columns read from a table or view").
    pub fn from_declared(decl: &str) -> SqlType {
        let upper = decl.trim().to_ascii_uppercase();
        let base = upper.split('(').next().unwrap_or("").trim();
        if base == "BOOLEAN" || base == "BOOL" {
            return SqlType::Bool;
        }
        if matches!(
            base,
            "DATE" | "DATETIME" | "TIMESTAMP" | "TIME" | "JSON" | "UUID"
        ) {
            return SqlType::Text;
        }
        match Affinity::of(&upper) {
            Affinity::Integer => SqlType::Integer,
            Affinity::Text => SqlType::Text,
            Affinity::Blob if upper.trim().is_empty() => SqlType::Value,
            Affinity::Blob => SqlType::Blob,
            Affinity::Real | Affinity::Numeric => SqlType::Real,
        }
    }

    /// The type of a table column declared `decl`; in a STRICT table `ANY` holds anything.
    pub fn of_column(decl: &str, strict: bool) -> SqlType {
        if strict && decl.trim().eq_ignore_ascii_case("ANY") {
            SqlType::Value
        } else {
            SqlType::from_declared(decl)
        }
    }

    /// The common type of two branches (CASE, UNION arms, COALESCE): `NULL` does not count,
    /// `i64`+`f64` → `f64`, `i64`+`bool` → `i64`, otherwise differing types give `Value`.
    pub fn common(&self, other: &SqlType) -> SqlType {
        use SqlType::*;
        match (self, other) {
            (Null, t) | (t, Null) => t.clone(),
            (a, b) if a == b => a.clone(),
            (Integer, Real) | (Real, Integer) => Real,
            (Integer, Bool) | (Bool, Integer) => Integer,
            _ => Value,
        }
    }

    /// The Rust type's name as users write it.
    pub fn rust_name(&self) -> &str {
        match self {
            SqlType::Integer => "i64",
            SqlType::Real => "f64",
            SqlType::Text => "String",
            SqlType::Blob => "Vec<u8>",
            SqlType::Bool => "bool",
            SqlType::Value | SqlType::Null => "Value",
            SqlType::Custom(name) => name,
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rust_name())
    }
}

/// A type and whether it may be NULL (`Option<T>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Ty {
    /// The type.
    pub ty: SqlType,
    /// Whether the value can be NULL.
    pub nullable: bool,
}

impl Ty {
    /// A type that is never NULL.
    pub fn non_null(ty: SqlType) -> Ty {
        Ty {
            ty,
            nullable: false,
        }
    }

    /// A type that may be NULL.
    pub fn nullable(ty: SqlType) -> Ty {
        Ty { ty, nullable: true }
    }

    /// The same type with `nullable` set.
    pub fn with_nullable(mut self, nullable: bool) -> Ty {
        self.nullable = nullable;
        self
    }

    /// Unknown: `Option<Value>`.
    pub fn unknown() -> Ty {
        Ty::nullable(SqlType::Value)
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nullable {
            write!(f, "Option<{}>", self.ty)
        } else {
            write!(f, "{}", self.ty)
        }
    }
}

/// SQLite's column affinity (datatype doc §3.1), used where SQLite itself converts values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Affinity {
    /// Contains `INT`.
    Integer,
    /// Contains `CHAR`, `CLOB` or `TEXT`.
    Text,
    /// Contains `BLOB`, or no declared type.
    Blob,
    /// Contains `REAL`, `FLOA` or `DOUB`.
    Real,
    /// Anything else.
    Numeric,
}

impl Affinity {
    /// The affinity of a declared type, by SQLite's rules in their order.
    pub fn of(decl: &str) -> Affinity {
        let upper = decl.to_ascii_uppercase();
        if upper.contains("INT") {
            Affinity::Integer
        } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
            Affinity::Text
        } else if upper.contains("BLOB") || upper.trim().is_empty() {
            Affinity::Blob
        } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SqlType::*;
    use super::*;

    #[test]
    fn declared_types_follow_the_rules_in_order() {
        let cases = [
            ("INTEGER", Integer),
            ("bigint", Integer),
            ("POINT", Integer),
            ("BOOLEAN", Bool),
            ("bool", Bool),
            ("DATETIME", Text),
            ("TIMESTAMP(3)", Text),
            ("time(6)", Text),
            ("JSON", Text),
            ("uuid", Text),
            ("VARCHAR(20)", Text),
            ("CLOB", Text),
            ("BLOB", Blob),
            ("", Value),
            ("ANY", Real),
            ("DOUBLE PRECISION", Real),
            ("FLOATING POINT", Integer),
            ("float", Real),
            ("NUMERIC", Real),
            ("DECIMAL(10,2)", Real),
            ("MONEY", Real),
            ("STRING", Real),
        ];
        for (decl, want) in cases {
            assert_eq!(SqlType::from_declared(decl), want, "{decl}");
        }
        assert_eq!(SqlType::of_column("any", true), Value);
    }

    #[test]
    fn common_types() {
        assert_eq!(Integer.common(&Real), Real);
        assert_eq!(Bool.common(&Integer), Integer);
        assert_eq!(Null.common(&Text), Text);
        assert_eq!(Text.common(&Integer), Value);
        assert_eq!(Real.common(&Bool), Value);
    }
}
