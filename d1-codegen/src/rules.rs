//! D1's own rules, which no configuration turns off: no explicit transactions, PRAGMAs from
//! D1's allowlist only, no ATTACH, at most 100 parameters and 100 KB per statement
//! (docs/D1.md, "Limits"), no NUL byte in a query (SQLite stops reading at it). Checked on the tokens of a statement, for queries and migrations alike.

use crate::diagnostic::Diagnostic;
use crate::lex::{self, Params, StatementText, Token, TokenKind};

/// The most parameters a D1 statement may bind (the Worker binding's limit).
pub const MAX_PARAMS: u32 = 100;
/// The longest SQL statement D1 accepts, in bytes (the runtime's migrator refuses longer
/// ones by the same constant).
pub const MAX_STATEMENT_BYTES: usize = d1_runtime::migrate::MAX_STATEMENT_BYTES;

/// PRAGMAs D1 allows (docs/D1.md, "PRAGMAs").
pub const PRAGMA_ALLOWLIST: &[&str] = &[
    "table_list",
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "quick_check",
    "optimize",
    "data_version",
    "page_size",
    "case_sensitive_like",
    "foreign_keys",
    "defer_foreign_keys",
    "ignore_check_constraints",
    "legacy_alter_table",
    "recursive_triggers",
    "reverse_unordered_selects",
];

/// Where a statement is found: the rules differ slightly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A query in application code.
    Query,
    /// A statement of a migration file.
    Migration,
}

/// What the statement-level rules decided.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Errors and warnings, located in the text the tokens came from.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether the statement should run when applying a migration (D1 ignores
    /// `PRAGMA foreign_keys`, so the local schema build does too).
    pub execute: bool,
}

/// Checks one statement (its tokens, offsets into `sql`) against D1's rules.
pub fn statement_rules(sql: &str, tokens: &[Token], ctx: Context) -> Verdict {
    let mut v = Verdict {
        diagnostics: Vec::new(),
        execute: true,
    };
    let Some(first) = tokens.first() else {
        return v;
    };
    let word = |t: &Token| (t.kind == TokenKind::Word).then(|| t.text(sql).to_ascii_uppercase());
    let Some(keyword) = word(first) else {
        return v;
    };
    let at = |d: Diagnostic, t: &Token| d.at_offset(sql, t.start, t.end - t.start);
    match keyword.as_str() {
        "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => {
            let help = match ctx {
                Context::Query => "D1 runs the statements of one `batch` as a single transaction: pass them to `batch` instead",
                Context::Migration => "each migration file already runs as one transaction: remove this statement",
            };
            v.diagnostics.push(at(
                Diagnostic::error(format!("D1 rejects explicit transactions (`{keyword}`)"))
                    .with_help(help),
                first,
            ));
        }
        "ATTACH" | "DETACH" => {
            v.diagnostics.push(at(
                Diagnostic::error(format!(
                    "`{keyword}` is not allowed on D1 (no ATTACH/DETACH): each database is reached through its own binding"
                ))
                    .with_help("query the other database through its own binding or executor"),
                first,
            ));
        }
        "PRAGMA" => pragma(sql, tokens, ctx, &mut v),
        _ => {}
    }
    v
}

fn pragma(sql: &str, tokens: &[Token], ctx: Context, v: &mut Verdict) {
    // PRAGMA [schema.]name [= value | (value)]
    let mut i = 1;
    if tokens.get(i + 1).is_some_and(|t| t.text(sql) == ".") {
        i += 2;
    }
    let Some(name_tok) = tokens.get(i) else {
        return;
    };
    let name = lex::unquote(name_tok.text(sql)).to_ascii_lowercase();
    let value = match tokens.get(i + 1).map(|t| t.text(sql)) {
        Some("=") => tokens.get(i + 2),
        Some("(") => tokens.get(i + 2),
        _ => None,
    }
    .map(|t| lex::unquote(t.text(sql)).to_ascii_lowercase());
    let first = &tokens[0];
    let allowed =
        PRAGMA_ALLOWLIST.contains(&name.as_str()) && !(name == "page_size" && value.is_some());
    if !allowed {
        let what = if name == "page_size" {
            "setting `page_size`".to_string()
        } else {
            format!("PRAGMA `{name}`")
        };
        v.diagnostics.push(
            Diagnostic::error(format!("{what} is not allowed on D1"))
                .with_help(format!(
                    "D1 allows only these PRAGMAs: {}",
                    PRAGMA_ALLOWLIST.join(", ")
                ))
                .at_offset(sql, first.start, name_tok.end - first.start),
        );
        v.execute = false;
        return;
    }
    if name == "foreign_keys" && value.is_some() {
        v.execute = false;
        if ctx == Context::Migration
            && matches!(value.as_deref(), Some("off" | "0" | "false" | "no"))
        {
            v.diagnostics.push(
                Diagnostic::warning("D1 ignores `PRAGMA foreign_keys = OFF`: foreign keys stay enforced")
                    .with_help("use `PRAGMA defer_foreign_keys = on` to defer the checks to the end of the migration")
                    .at_offset(sql, first.start, tokens.last().map_or(1, |t| t.end - first.start)),
            );
        }
    }
}

/// Rules on the whole text of one query: no NUL byte, one statement only, at most 100
/// parameters, at most 100 KB.
pub fn query_rules(sql: &str, statements: &[StatementText], params: &Params) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // SQLite (and so D1) reads a statement only up to its first NUL byte: what follows would
    // be dropped, or a string cut short would be reported as an unknown token.
    if let Some(at) = sql.find('\0') {
        out.push(
            Diagnostic::error("the query contains a NUL byte (`\\0`): SQLite stops reading the statement there")
                .with_help("remove it; to store a NUL, bind the value as a parameter, or write it as `char(0)` or a blob (`X'00'`)")
                .at_offset(sql, at, 1),
        );
    }
    if statements.is_empty() {
        out.push(Diagnostic::error("the query is empty").with_help("write one SQL statement"));
    }
    if let Some(second) = statements.get(1) {
        out.push(
            Diagnostic::error(format!(
                "a query must be one statement, found {}",
                statements.len()
            ))
            .with_help("run several statements together with `batch`; one statement per query (a trailing `;` is fine)")
            .at_offset(sql, second.start, second.end - second.start),
        );
    }
    if let Some(r) = params.refs.iter().find(|r| r.number > MAX_PARAMS) {
        out.push(
            Diagnostic::error(format!(
                "more than {MAX_PARAMS} parameters: this statement binds {} and D1 accepts at most {MAX_PARAMS}",
                if params.count() == u32::MAX { "too many".to_string() } else { params.count().to_string() }
            ))
            .with_help("split the work into several statements run together with `batch`, or pass a list as one JSON parameter read with `json_each(?)`")
            .at_offset(sql, r.start, r.end - r.start),
        );
    }
    if sql.trim().len() > MAX_STATEMENT_BYTES {
        out.push(
            Diagnostic::error(format!(
                "the statement is {} bytes, over 100 KB: D1 rejects statements longer than {MAX_STATEMENT_BYTES} bytes",
                sql.trim().len()
            ))
            .with_help("bind large values as parameters, or split the statement"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::tokenize;

    fn rules(sql: &str, ctx: Context) -> Verdict {
        statement_rules(sql, &tokenize(sql), ctx)
    }

    #[test]
    fn transactions_attach_and_pragmas() {
        assert!(rules("BEGIN IMMEDIATE", Context::Query).diagnostics[0]
            .message
            .contains("explicit transactions"));
        assert!(rules("savepoint a", Context::Query).diagnostics[0].is_error());
        assert!(rules("ATTACH 'x' AS y", Context::Query).diagnostics[0]
            .message
            .contains("ATTACH"));
        assert!(rules("PRAGMA database_list", Context::Query).diagnostics[0]
            .message
            .contains("is not allowed on D1"));
        assert!(
            rules("PRAGMA main.journal_mode = WAL", Context::Query).diagnostics[0]
                .message
                .contains("journal_mode")
        );
        assert!(rules("PRAGMA table_info(notes)", Context::Query)
            .diagnostics
            .is_empty());
        assert!(rules("PRAGMA page_size", Context::Query)
            .diagnostics
            .is_empty());
        assert!(rules("PRAGMA page_size = 4096", Context::Query).diagnostics[0].is_error());
    }

    #[test]
    fn a_nul_byte_is_named_where_it_is() {
        let sql = "SELECT 'a\0b' AS x,\n  '\0' AS y";
        let tokens = tokenize(sql);
        let errors = query_rules(
            sql,
            &crate::lex::split_tokens(sql, &tokens),
            &Params::of(sql, &tokens),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("NUL byte"), "{}", errors[0]);
        let at = errors[0].span.location.unwrap();
        assert_eq!((at.line, at.column, at.offset), (1, 10, 9));
    }

    #[test]
    fn foreign_keys_off_is_a_warning_and_not_run() {
        let v = rules("PRAGMA foreign_keys=OFF", Context::Migration);
        assert!(!v.execute);
        assert!(!v.diagnostics[0].is_error());
        assert!(v.diagnostics[0]
            .help
            .as_deref()
            .unwrap()
            .contains("defer_foreign_keys"));
        assert!(rules("PRAGMA defer_foreign_keys = ON", Context::Migration).execute);
    }
}
