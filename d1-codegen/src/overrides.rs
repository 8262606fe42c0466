//! Result-name overrides, as in sqlx: `AS "n!"` (not null), `AS "n?"` (nullable), `AS "n: T"`
//! (a Rust type), read from an alias. A leaf: the lexer, the analysis and the lints all read
//! aliases this way.

/// What an alias asks for (docs/TYPING.md, "Overrides").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The column's name, the suffixes removed.
    pub name: String,
    /// `Some(false)` for `n!`, `Some(true)` for `n?`, `None` when neither is written.
    pub nullable: Option<bool>,
    /// The Rust type of `n: T`, as written.
    pub ty: Option<String>,
}

/// A result name with its override suffix removed: `n!`, `n?`, `n: T`, `n!: T` → `n`.
pub fn strip_override(alias: &str) -> String {
    parse_override(alias).name
}

/// What an alias asks for.
pub fn parse_override(alias: &str) -> Override {
    let (left, ty) = match alias.split_once(':') {
        Some((l, t)) if !t.trim().is_empty() => (l, Some(t.trim().to_string())),
        _ => (alias, None),
    };
    let left = left.trim_end();
    let (name, nullable) = if let Some(n) = left.strip_suffix('!') {
        (n, Some(false))
    } else if let Some(n) = left.strip_suffix('?') {
        (n, Some(true))
    } else {
        (left, None)
    };
    Override {
        name: name.trim().to_string(),
        nullable,
        ty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(alias: &str) -> (String, Option<bool>, Option<String>) {
        let o = parse_override(alias);
        (o.name, o.nullable, o.ty)
    }

    #[test]
    fn override_suffixes() {
        assert_eq!(parts("n!"), ("n".into(), Some(false), None));
        assert_eq!(parts("n?"), ("n".into(), Some(true), None));
        assert_eq!(
            parts("n: chrono::NaiveDate"),
            ("n".into(), None, Some("chrono::NaiveDate".into()))
        );
        assert_eq!(parts("n!: T"), ("n".into(), Some(false), Some("T".into())));
        assert_eq!(parts("plain"), ("plain".into(), None, None));
    }
}
