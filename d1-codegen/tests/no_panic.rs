//! Property tests: whatever SQL it is given — random token soup, or real statements cut, spliced
//! and mutated — the analyzer and the schema builder answer with a signature or diagnostics, and
//! never panic.

use d1_codegen::migrations::{Migration, MigrationSet};
use d1_codegen::{Analyzer, Checks};
use proptest::prelude::*;

const SCHEMA: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, active BOOLEAN NOT NULL DEFAULT 1);
CREATE TABLE notes (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title TEXT, body TEXT NOT NULL, tags JSON, score REAL, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE kv (k TEXT PRIMARY KEY, v ANY) STRICT, WITHOUT ROWID;
CREATE VIEW recent AS SELECT n.id, u.email, n.title FROM notes n LEFT JOIN users u ON u.id = n.owner;
CREATE VIRTUAL TABLE notes_fts USING fts5(title, body, content='notes', content_rowid='id');
";

const SEEDS: &[&str] = &[
    "SELECT id, title FROM notes WHERE owner = ?1 ORDER BY id DESC LIMIT ?2",
    "SELECT u.email, COUNT(n.id) AS n FROM users u LEFT JOIN notes n ON n.owner = u.id GROUP BY u.id HAVING n > :min",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) SELECT x FROM c",
    "INSERT INTO notes (owner, title, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET title = excluded.title RETURNING id",
    "UPDATE notes SET title = :t, score = score * 2 WHERE id = :id RETURNING *",
    "DELETE FROM notes WHERE owner IN (SELECT id FROM users WHERE NOT active) RETURNING id, title",
    "SELECT CASE WHEN score > 1 THEN 'hi' ELSE NULL END AS label, json_extract(tags, '$.a') AS a, e.value AS v FROM notes, json_each(notes.tags) AS e",
    "SELECT rank, highlight(notes_fts, 0, '<b>', '</b>') AS h FROM notes_fts WHERE notes_fts MATCH ? ORDER BY rank",
    "SELECT row_number() OVER (PARTITION BY owner ORDER BY created_at ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS r, (SELECT COUNT(*) FROM users) AS u FROM notes",
    "SELECT r.*, users.active FROM recent r JOIN users USING (email) WHERE r.title LIKE ? || '%' AND EXISTS (SELECT 1 FROM kv WHERE k = r.title)",
];

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "JOIN",
    "LEFT",
    "ON",
    "USING",
    "(",
    ")",
    ",",
    ";",
    "*",
    "?",
    "?3",
    ":a",
    "@b",
    "$c",
    "=",
    "IS",
    "NOT",
    "NULL",
    "AND",
    "OR",
    "IN",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "AS",
    "\"n!\"",
    "`x`",
    "[y]",
    "'str'",
    "x'00'",
    "0x1F",
    "1.5e3",
    "42",
    "-",
    "+",
    "/",
    "%",
    "||",
    "->>",
    "notes",
    "users",
    "kv",
    "recent",
    "notes_fts",
    "id",
    "title",
    "owner",
    "tags",
    "rank",
    "COUNT",
    "SUM",
    "json_each",
    "OVER",
    "PARTITION",
    "BY",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "UNION",
    "WITH",
    "RECURSIVE",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "RETURNING",
    "BEGIN",
    "PRAGMA",
    "ATTACH",
    "CREATE",
    "TRIGGER",
    "TABLE",
    "--",
    "/*",
    "'",
    "\"",
    "\n",
    "é",
    "\u{0}",
];

thread_local! {
    // rusqlite connections are not Sync: each test thread has its own analyzer.
    static LOCAL: Analyzer = {
        let set = MigrationSet::from_migrations(vec![Migration::new("0001_init.sql", SCHEMA)]);
        Analyzer::from_migrations(&set).expect("fixture schema")
    };
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.join(" "))
}

/// A real statement with a slice removed, a token inserted, or bytes swapped.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(SEEDS),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::sample::select(TOKENS),
        0u8..4,
    )
        .prop_map(|(seed, a, b, tok, op)| {
            let chars: Vec<char> = seed.chars().collect();
            let (mut i, mut j) = (a.index(chars.len() + 1), b.index(chars.len() + 1));
            if i > j {
                std::mem::swap(&mut i, &mut j);
            }
            let s: String = match op {
                0 => chars[..i].iter().chain(&chars[j..]).collect(),
                1 => {
                    chars[..i].iter().collect::<String>()
                        + tok
                        + &chars[i..].iter().collect::<String>()
                }
                2 => chars[..i]
                    .iter()
                    .chain(&chars[i..j])
                    .chain(&chars[i..])
                    .collect(),
                _ => {
                    chars[..j].iter().collect::<String>()
                        + " "
                        + tok
                        + " "
                        + &chars[j..].iter().collect::<String>()
                }
            };
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn analyze_never_panics_on_token_soup(sql in token_soup()) {
        LOCAL.with(|a| { let _ = a.analyze(&sql); });
    }

    #[test]
    fn analyze_never_panics_on_mutated_statements(sql in mutated()) {
        LOCAL.with(|a| { let _ = a.analyze(&sql); });
        // The tenant lint too (`notes.owner` as the tenant column).
        LOCAL.with(|a| { let _ = d1_codegen::lint::check(a, &sql, Checks { tenant_column: Some("owner"), full_scan: d1_codegen::lint::Level::Deny }); });
    }

    #[test]
    fn analyze_never_panics_on_arbitrary_text(sql in "\\PC{0,120}") {
        LOCAL.with(|a| { let _ = a.analyze(&sql); });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn schema_builder_never_panics(extra in prop_oneof![token_soup(), mutated(), "\\PC{0,200}"]) {
        let set = MigrationSet::from_migrations(vec![
            Migration::new("0001_init.sql", SCHEMA),
            Migration::new("0002_fuzz.sql", format!("CREATE TABLE t2 (a, b);\n{extra}")),
        ]);
        // A short budget: mutations can leave a recursive CTE without its stop condition.
        if let Ok(applied) = d1_codegen::schema::apply_migrations_within(&set, std::time::Duration::from_millis(50)) {
            let _ = d1_codegen::schema::read_catalog(&applied.conn);
        }
    }
}

/// The stack rustc runs a proc macro on (rust-analyzer too): 8 MB.
const RUSTC_STACK: usize = 8 << 20;

/// Runs `f` on a thread with `stack` bytes of stack.
fn on_stack<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// A statement nested `n` deep in one of the ways SQL nests: operator chains, parentheses,
/// prefix NOTs, subqueries, OR-ed comparisons, a compound SELECT, CASEs, and mixes of them.
fn deep(shape: u8, n: usize) -> String {
    match shape {
        0 => format!("SELECT {} AS x", vec!["1"; n].join("+")),
        1 => format!("SELECT {} AS x", vec!["'a'"; n].join("||")),
        2 => format!("SELECT {}1{} AS x", "(".repeat(n), ")".repeat(n)),
        3 => format!("SELECT {}1 AS x", "NOT ".repeat(n)),
        4 => format!("SELECT {}1{} AS x", "(SELECT ".repeat(n), ")".repeat(n)),
        5 => format!(
            "SELECT id FROM notes WHERE {}",
            vec!["owner = ?1"; n].join(" OR ")
        ),
        6 => vec!["SELECT id FROM notes"; n].join(" UNION ALL "),
        7 => format!(
            "SELECT {}1{} AS x",
            "CASE WHEN 1 THEN ".repeat(n),
            " END".repeat(n)
        ),
        8 => format!(
            "SELECT id FROM notes WHERE id IN {}(SELECT id FROM notes WHERE {} = 1){}",
            "(SELECT id FROM notes WHERE id IN ".repeat(n % 20),
            vec!["id"; n].join(" + "),
            ")".repeat(n % 20)
        ),
        _ => format!(
            "SELECT {}{}{} AS x",
            "(".repeat(n % 45),
            vec!["-1"; n].join(" * "),
            ")".repeat(n % 45)
        ),
    }
}

/// Deep statements of every shape, up to ten times deeper than SQLite allows: an answer, never
/// a crash, on the stack rustc gives the macros.
#[test]
fn analyze_never_overflows_on_deep_statements() {
    use proptest::test_runner::{Config, TestRunner};
    let depth = prop_oneof![900usize..1_100, 1usize..12_000];
    on_stack(RUSTC_STACK, move || {
        let mut runner = TestRunner::new(Config {
            cases: 200,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(0u8..10, depth), |(shape, n)| {
                let sql = deep(shape, n);
                LOCAL.with(|a| {
                    let _ = d1_codegen::lint::check(
                        a,
                        &sql,
                        Checks {
                            tenant_column: Some("owner"),
                            full_scan: d1_codegen::lint::Level::Deny,
                        },
                    );
                });
                Ok(())
            })
            .unwrap();
    });
}

/// The deep inputs that crashed the analyzer (and rustc with it): each an error that names the
/// limit and where the nesting starts (line 1, column 8), SQLite's verdict in d1kit's words.
/// They are never parsed by d1kit, so a test thread's 2 MB of stack is plenty.
#[test]
fn deep_input_is_an_error_naming_the_limit_and_where_it_starts() {
    let cases = [
        (deep(0, 10_000), "SQLite's limit of 1000 levels"),
        (deep(1, 12_000), "SQLite's limit of 1000 levels"),
        (deep(2, 10_000), "at most 2500 levels"),
        (deep(3, 20_000), "at most 2500 levels"),
        (deep(4, 3_000), "at most 2500 levels"),
    ];
    LOCAL.with(|a| {
        for (sql, limit) in &cases {
            let err = a.analyze(sql).unwrap_err();
            let d = &err.0[0];
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(d.message.contains("nests deeper than"), "{d}");
            assert!(d.message.contains(limit), "{d}");
            let at = d.span.location.expect("located");
            assert_eq!((at.line, at.column), (1, 8), "{d}");
        }
    });
}

/// A compound SELECT of more terms than SQLite takes: the limit, and the first term over it.
#[test]
fn too_many_compound_terms_is_an_error_at_the_first_one_over() {
    LOCAL.with(|a| {
        let sql = vec!["SELECT 1 AS x"; 3_000].join(" UNION ");
        let err = a.analyze(&sql).unwrap_err();
        let d = &err.0[0];
        assert!(d.message.contains("more than 500 terms"), "{d}");
        let at = d.span.location.expect("located");
        // The 500th UNION, before the 501st term.
        assert_eq!(
            at.offset,
            500 * "SELECT 1 AS x".len() + 499 * " UNION ".len() + 1
        );
        assert!(a
            .analyze(&vec!["SELECT 1 AS x"; 500].join(" UNION "))
            .is_ok());
    });
}

/// The deepest statement d1kit walks (a chain as long as SQLite accepts, inside as many
/// parentheses as sqlparser reads) fits in rustc's stack with room to spare: 6 of its 8 MB,
/// in a debug build as the macros are.
#[test]
fn the_deepest_walked_statement_fits_in_rustcs_stack() {
    on_stack(6 << 20, || {
        let set = MigrationSet::from_migrations(vec![Migration::new("0001_init.sql", SCHEMA)]);
        let a = Analyzer::from_migrations(&set).expect("fixture schema");
        let in_parentheses = format!(
            "SELECT {}{}{} AS x",
            "(".repeat(45),
            vec!["1"; 955].join("+"),
            ")".repeat(45)
        );
        for sql in [deep(0, 1_000), in_parentheses] {
            let sig = d1_codegen::lint::check(
                &a,
                &sql,
                Checks {
                    tenant_column: Some("owner"),
                    full_scan: d1_codegen::lint::Level::Deny,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(sig.warnings.is_empty(), "{:?}", sig.warnings);
            assert_eq!(sig.columns[0].ty.to_string(), "i64");
        }
    });
}

/// Deeper than d1kit walks by its count, but accepted by SQLite (whose count is lower): typed
/// from SQLite's metadata, with a warning that says why and where.
#[test]
fn deeper_than_d1kit_walks_is_typed_by_sqlite_with_a_warning() {
    LOCAL.with(|a| {
        let sql = format!(
            "SELECT id FROM notes WHERE {}",
            vec!["owner = ?1"; 600].join(" AND ")
        );
        let sig = a.analyze(&sql).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sig.warnings.len(), 1, "{:?}", sig.warnings);
        let w = &sig.warnings[0];
        assert!(w.message.contains("limit of 1000 levels"), "{w}");
        let at = w.span.location.expect("located");
        assert_eq!((at.line, at.column), (1, 28), "{w}");
        assert_eq!(sig.columns[0].ty.to_string(), "Option<i64>");
    });
}

#[test]
fn the_seeds_themselves_are_accepted() {
    LOCAL.with(|a| {
        for seed in SEEDS {
            let sig = a.analyze(seed).unwrap_or_else(|e| panic!("{seed}: {e}"));
            assert!(sig.warnings.is_empty(), "{seed}: {:?}", sig.warnings);
        }
    });
}

/// `?0` is no parameter (SQLite rejects it); the error path must report it, not underflow.
#[test]
fn question_zero_is_an_error_not_a_panic() {
    LOCAL.with(|a| {
        let err = a
            .analyze("SELECT id FROM notes WHERE id = ?0 AND titel = 1")
            .unwrap_err();
        let d = &err.0[0];
        assert!(d.message.contains("variable number"), "{err}");
        assert_eq!(d.span.location.map(|l| l.column), Some(33));
    });
}
