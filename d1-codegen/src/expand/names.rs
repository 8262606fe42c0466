//! Column names → Rust field names.

use proc_macro2::{Ident, Span};

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// The field for a result column named `name`: the name itself when it is an identifier, a
/// raw identifier for a keyword (`type` → `r#type`), and an error (asking for an alias) when
/// it cannot be one.
pub fn field_ident(name: &str, span: Span) -> Result<Ident, String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && name != "_";
    if !valid {
        return Err(format!(
            "result column `{name}` is not a Rust identifier; give it one with `AS some_name`"
        ));
    }
    if matches!(name, "self" | "Self" | "super" | "crate") {
        return Err(format!(
            "result column `{name}` cannot be a Rust field name; rename it with `AS {name}_`"
        ));
    }
    Ok(if KEYWORDS.contains(&name) {
        Ident::new_raw(name, span)
    } else {
        Ident::new(name, span)
    })
}

/// The column a field reads: its name without a raw prefix (`r#type` → `type`).
pub(crate) fn column_of(field: &Ident) -> String {
    let name = field.to_string();
    match name.strip_prefix("r#") {
        Some(plain) => plain.to_owned(),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_fields_or_clear_errors() {
        let s = Span::call_site();
        assert_eq!(field_ident("title", s).unwrap().to_string(), "title");
        assert_eq!(field_ident("type", s).unwrap().to_string(), "r#type");
        assert_eq!(
            field_ident("Ünïcode_1", s).unwrap().to_string(),
            "Ünïcode_1"
        );
        assert!(field_ident("count(*)", s)
            .unwrap_err()
            .contains("AS some_name"));
        assert!(field_ident("1st", s).is_err());
        assert!(field_ident("self", s).unwrap_err().contains("self_"));
    }
}
