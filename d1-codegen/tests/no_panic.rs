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
