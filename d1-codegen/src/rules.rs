//! D1's own rules, which no configuration turns off: no explicit transactions, PRAGMAs from
//! D1's allowlist only, no ATTACH, at most 100 parameters and 100 KB per statement
//! (docs/D1.md, "Limits"), no NUL byte in a query (SQLite stops reading at it). Checked on the tokens of a statement, for queries and migrations alike.
//!
//! A database kept in a Durable Object's SQLite storage (`durable_object = "Class"`) gets the
//! same rules, in its own words ([`Engine`]): its SQL goes through the same authorizer and
//! limits as D1's (workerd's `src/workerd/util/sqlite.c++`, `SqliteDatabase::isAuthorized` and
//! `setupSecurity`), and nothing it refuses is known to be accepted by D1 (docs/D1.md,
//! "Durable Object SQL").

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

/// What runs a database's SQL. The rules are the same for both (docs/D1.md, "Durable Object
/// SQL": workerd's `SqliteDatabase` authorizes both, with the same PRAGMA and function
/// allowlists, virtual-table modules and limits); the messages name the one the database
/// runs on, and say how it runs a `batch` and a migration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Engine {
    /// A D1 database (or a pool of them).
    #[default]
    D1,
    /// The SQLite storage of a Durable Object (`durable_object = "Class"`), reached through
    /// `ctx.storage.sql` (workerd's `SqlStorage`, whose `SqlStorageRegulator` refuses
    /// `BEGIN`/`SAVEPOINT`: "please use the state.storage.transaction() or
    /// state.storage.transactionSync() APIs", `src/workerd/api/sql.c++`).
    DurableObject,
}

impl Engine {
    /// The engine's name as a message's subject: "D1 rejects ..."
    pub fn name(self) -> &'static str {
        match self {
            Engine::D1 => "D1",
            Engine::DurableObject => "Durable Object SQL",
        }
    }

    /// Where a statement runs, after "not allowed": "on D1", "in Durable Object SQL".
    fn place(self) -> &'static str {
        match self {
            Engine::D1 => "on D1",
            Engine::DurableObject => "in Durable Object SQL",
        }
    }
}

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

/// Checks one statement (its tokens, offsets into `sql`) against D1's rules, worded for the
/// `engine` the database runs on.
pub fn statement_rules(sql: &str, tokens: &[Token], ctx: Context, engine: Engine) -> Verdict {
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
            let help = match (ctx, engine) {
                (Context::Query, Engine::D1) => "D1 runs the statements of one `batch` as a single transaction: pass them to `batch` instead",
                (Context::Query, Engine::DurableObject) => "d1kit runs the statements of one `batch` in one `storage.transactionSync`: pass them to `batch` instead",
                (Context::Migration, _) => "each migration file already runs as one transaction: remove this statement",
            };
            v.diagnostics.push(at(
                Diagnostic::error(format!(
                    "{} rejects explicit transactions (`{keyword}`)",
                    engine.name()
                ))
                .with_help(help),
                first,
            ));
        }
        "ATTACH" | "DETACH" => {
            let (why, help) = match engine {
                Engine::D1 => (
                    "each database is reached through its own binding",
                    "query the other database through its own binding or executor",
                ),
                Engine::DurableObject => (
                    "an object has one database, its own",
                    "query the other database through its own object, binding or executor",
                ),
            };
            v.diagnostics.push(at(
                Diagnostic::error(format!(
                    "`{keyword}` is not allowed {} (no ATTACH/DETACH): {why}",
                    engine.place()
                ))
                .with_help(help),
                first,
            ));
        }
        "PRAGMA" => pragma(sql, tokens, ctx, engine, &mut v),
        _ => {}
    }
    v
}

fn pragma(sql: &str, tokens: &[Token], ctx: Context, engine: Engine, v: &mut Verdict) {
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
        let allows = match engine {
            Engine::D1 => "D1 allows only these PRAGMAs",
            Engine::DurableObject => {
                "Durable Object SQL allows only these PRAGMAs (workerd's allowlist, D1's too)"
            }
        };
        v.diagnostics.push(
            Diagnostic::error(format!("{what} is not allowed {}", engine.place()))
                .with_help(format!("{allows}: {}", PRAGMA_ALLOWLIST.join(", ")))
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
            // A Durable Object runs each migration inside `transactionSync`, where SQLite makes
            // the pragma a no-op, and workerd builds SQLite with SQLITE_DEFAULT_FOREIGN_KEYS=1.
            let message = match engine {
                Engine::D1 => "D1 ignores `PRAGMA foreign_keys = OFF`: foreign keys stay enforced",
                Engine::DurableObject => "a Durable Object ignores `PRAGMA foreign_keys = OFF` in a migration (SQLite ignores it inside the migration's transaction): foreign keys stay enforced",
            };
            v.diagnostics.push(
                Diagnostic::warning(message)
                    .with_help("use `PRAGMA defer_foreign_keys = on` to defer the checks to the end of the migration")
                    .at_offset(sql, first.start, tokens.last().map_or(1, |t| t.end - first.start)),
            );
        }
    }
}

/// Rules on the whole text of one query: no NUL byte, one statement only, at most 100
/// parameters, at most 100 KB. The limits are the same on both engines: workerd's
/// `setupSecurity` sets `SQLITE_LIMIT_VARIABLE_NUMBER` to 100 and `SQLITE_LIMIT_SQL_LENGTH` to
/// 100,000 (`src/workerd/util/sqlite.c++`), and Cloudflare documents both for D1 and for
/// Durable Objects ("Limits").
pub fn query_rules(
    sql: &str,
    statements: &[StatementText],
    params: &Params,
    engine: Engine,
) -> Vec<Diagnostic> {
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
                "more than {MAX_PARAMS} parameters: this statement binds {} and {} accepts at most {MAX_PARAMS}",
                if params.count() == u32::MAX { "too many".to_string() } else { params.count().to_string() },
                engine.name()
            ))
            .with_help("split the work into several statements run together with `batch`, or pass a list as one JSON parameter read with `json_each(?)`")
            .at_offset(sql, r.start, r.end - r.start),
        );
    }
    if sql.trim().len() > MAX_STATEMENT_BYTES {
        out.push(
            Diagnostic::error(format!(
                "the statement is {} bytes, over 100 KB: {} rejects statements longer than {MAX_STATEMENT_BYTES} bytes",
                sql.trim().len(),
                engine.name()
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
        statement_rules(sql, &tokenize(sql), ctx, Engine::D1)
    }

    fn durable(sql: &str, ctx: Context) -> Verdict {
        statement_rules(sql, &tokenize(sql), ctx, Engine::DurableObject)
    }

    fn durable_query(sql: &str) -> Vec<Diagnostic> {
        let tokens = tokenize(sql);
        query_rules(
            sql,
            &crate::lex::split_tokens(sql, &tokens),
            &Params::of(sql, &tokens),
            Engine::DurableObject,
        )
    }

    /// The verdicts on the two engines are the same; only the words differ.
    fn same_verdict(sql: &str, ctx: Context) -> Verdict {
        let (d1, d) = (rules(sql, ctx), durable(sql, ctx));
        assert_eq!(d1.execute, d.execute, "{sql}");
        let severities = |v: &Verdict| {
            v.diagnostics
                .iter()
                .map(|d| (d.is_error(), d.span.location.map(|l| (l.line, l.column))))
                .collect::<Vec<_>>()
        };
        assert_eq!(severities(&d1), severities(&d), "{sql}");
        d
    }

    #[test]
    fn a_durable_object_gets_the_same_rules_in_its_own_words() {
        // No BEGIN or SAVEPOINT (workerd's SqlStorageRegulator::allowTransactions throws).
        for (sql, keyword) in [
            ("BEGIN TRANSACTION", "BEGIN"),
            ("savepoint before_import", "SAVEPOINT"),
            ("RELEASE before_import", "RELEASE"),
            ("ROLLBACK", "ROLLBACK"),
            ("COMMIT", "COMMIT"),
        ] {
            let v = same_verdict(sql, Context::Query);
            assert_eq!(
                v.diagnostics[0].message,
                format!("Durable Object SQL rejects explicit transactions (`{keyword}`)")
            );
            assert!(v.diagnostics[0]
                .help
                .as_deref()
                .unwrap()
                .contains("transactionSync"));
        }
        let v = same_verdict("SAVEPOINT a", Context::Migration);
        assert_eq!(
            v.diagnostics[0].help.as_deref(),
            Some("each migration file already runs as one transaction: remove this statement")
        );
        // No ATTACH (workerd's authorizer denies SQLITE_ATTACH and SQLITE_DETACH).
        let v = same_verdict("ATTACH 'x' AS y", Context::Query);
        assert_eq!(
            v.diagnostics[0].message,
            "`ATTACH` is not allowed in Durable Object SQL (no ATTACH/DETACH): an object has one database, its own"
        );
        // The PRAGMA allowlist is workerd's ALLOWED_PRAGMAS, plus table_list, table_info and
        // table_xinfo, which its authorizer handles by name: the same list as D1's.
        let v = same_verdict("PRAGMA journal_mode = WAL", Context::Query);
        assert_eq!(
            v.diagnostics[0].message,
            "PRAGMA `journal_mode` is not allowed in Durable Object SQL"
        );
        assert!(v.diagnostics[0]
            .help
            .as_deref()
            .unwrap()
            .starts_with("Durable Object SQL allows only these PRAGMAs (workerd's allowlist, D1's too): table_list, "));
        assert!(!same_verdict("PRAGMA page_size = 8192", Context::Migration).execute);
        for ok in [
            "PRAGMA table_info(notes)",
            "PRAGMA quick_check(100)",
            "PRAGMA optimize",
            "PRAGMA data_version",
            "PRAGMA defer_foreign_keys = on",
            "PRAGMA foreign_key_check",
        ] {
            assert!(
                same_verdict(ok, Context::Query).diagnostics.is_empty(),
                "{ok}"
            );
        }
        // `foreign_keys = OFF` in a migration: ignored inside the migration's transaction.
        let v = same_verdict("PRAGMA foreign_keys = off", Context::Migration);
        assert!(!v.execute);
        assert!(v.diagnostics[0]
            .message
            .starts_with("a Durable Object ignores `PRAGMA foreign_keys = OFF`"));
    }

    #[test]
    fn a_durable_object_binds_100_parameters_and_reads_100_kb() {
        // workerd's setupSecurity: SQLITE_LIMIT_VARIABLE_NUMBER 100, SQLITE_LIMIT_SQL_LENGTH
        // 100,000.
        let hundred = (1..=100)
            .map(|n| format!("?{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(durable_query(&format!("SELECT coalesce({hundred})")).is_empty());
        let errors = durable_query(&format!("SELECT coalesce({hundred}, ?101)"));
        assert_eq!(
            errors[0].message,
            "more than 100 parameters: this statement binds 101 and Durable Object SQL accepts at most 100"
        );
        let long = format!("SELECT '{}'", "x".repeat(MAX_STATEMENT_BYTES));
        let errors = durable_query(&long);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            format!(
                "the statement is {} bytes, over 100 KB: Durable Object SQL rejects statements longer than 100000 bytes",
                long.len()
            )
        );
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
            Engine::D1,
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
