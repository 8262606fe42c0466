//! The tenant lint's table of accepted and rejected statements, with each error's line:column.

use crate::lint::{check, Checks};
use crate::migrations::{Migration, MigrationSet};
use crate::Analyzer;

const SCHEMA: &str = r#"
CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  parent_id INTEGER REFERENCES notes(id),
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT ''
);
-- the tenant column declared in another case, quoted
CREATE TABLE tags (
  "User_Id" TEXT NOT NULL,
  note_id INTEGER NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY ("User_Id", note_id, tag)
) WITHOUT ROWID;
CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE "audit log" (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, what TEXT NOT NULL);
CREATE TABLE counters (
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  n INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, name)
);
CREATE VIEW note_titles AS SELECT id, user_id, title FROM notes;
CREATE VIEW all_titles AS SELECT title FROM notes;
CREATE VIEW note_owners AS SELECT user_id FROM notes;
"#;

fn analyzer() -> Analyzer {
    let set = MigrationSet::from_migrations(vec![Migration::new("0001_init.sql", SCHEMA)]);
    Analyzer::from_migrations(&set).unwrap()
}

/// `Ok` when accepted; else, per error, the message and its line:column.
fn run(a: &Analyzer, sql: &str) -> Result<Vec<String>, Vec<(String, u32, u32)>> {
    let checks = Checks {
        tenant_column: Some("user_id"),
        ..Checks::default()
    };
    match check(a, sql, checks) {
        Ok(sig) => Ok(sig.warnings.into_iter().map(|w| w.message).collect()),
        Err(d) => Err(d
            .0
            .into_iter()
            .map(|d| {
                let l = d.span.location.unwrap_or_default();
                (d.message, l.line, l.column)
            })
            .collect()),
    }
}

/// Accepted.
const OK: &[(&str, u32)] = &[];

/// `(sql, errors)`: each error as `(table, column)` of its caret on line 1 (the message
/// names the table), none for an accepted query.
const CASES: &[(&str, &[(&str, u32)])] = &[
    // --- one table: what counts as a constraint
    ("SELECT id, title FROM notes WHERE user_id = ?", OK),
    ("SELECT id FROM notes WHERE ?1 = user_id AND id = ?2", OK),
    ("SELECT id FROM notes WHERE notes.user_id == :uid", OK),
    ("SELECT id FROM notes WHERE (user_id = (@uid) AND id > 0)", OK),
    ("SELECT id FROM notes WHERE id > 0 AND (title <> '' AND user_id = $uid)", OK),
    ("SELECT id FROM main.notes WHERE main.notes.user_id = ?", OK),
    ("SELECT COUNT(*) AS n FROM notes WHERE user_id = ?", OK),
    ("SELECT id, title FROM notes", &[("notes", 23)]),
    ("SELECT id FROM notes WHERE user_id = 'alice'", &[("notes", 16)]),
    ("SELECT id FROM notes WHERE user_id = ? OR id = 1", &[("notes", 16)]),
    ("SELECT id FROM notes WHERE user_id IN (?, ?)", &[("notes", 16)]),
    ("SELECT id FROM notes WHERE user_id IS ?", &[("notes", 16)]),
    ("SELECT id FROM notes WHERE lower(user_id) = ?", &[("notes", 16)]),
    ("SELECT id FROM notes WHERE NOT user_id <> ?", &[("notes", 16)]),
    ("SELECT id FROM notes WHERE user_id = title", &[("notes", 16)]),
    // --- names: aliases, quoting, case
    ("SELECT n.id FROM notes AS n WHERE n.user_id = ?", OK),
    ("SELECT n.id FROM notes n WHERE N.USER_ID = ?", OK),
    ("SELECT tag FROM tags WHERE user_id = ?", OK),
    ("SELECT tag FROM tags WHERE \"USER_ID\" = ?", OK),
    ("SELECT tag FROM tags WHERE tag = ?", &[("tags", 17)]),
    ("SELECT what FROM \"audit log\" WHERE \"audit log\".user_id = ?", OK),
    ("SELECT what FROM \"audit log\"", &[("audit log", 18)]),
    // --- joins and equality propagation
    (
        "SELECT n.id, t.tag FROM notes n JOIN tags t ON t.note_id = n.id AND t.user_id = n.user_id WHERE n.user_id = ?",
        OK,
    ),
    (
        "SELECT n.id, t.tag FROM notes n JOIN tags t USING (user_id) WHERE n.user_id = ?",
        OK,
    ),
    (
        "SELECT n.id FROM notes n, tags t WHERE t.note_id = n.id AND t.user_id = n.user_id AND t.user_id = ?",
        OK,
    ),
    (
        "SELECT n.id FROM notes n JOIN users u ON u.id = n.user_id WHERE u.id = ?",
        OK,
    ),
    (
        "SELECT a.id FROM notes a JOIN notes b ON b.id = a.parent_id JOIN tags t ON t.user_id = b.user_id WHERE a.user_id = ? AND b.user_id = a.user_id",
        OK,
    ),
    (
        "SELECT n.id FROM notes n JOIN tags t ON t.note_id = n.id WHERE n.user_id = ?",
        &[("tags", 31)],
    ),
    (
        "SELECT n.id FROM notes n JOIN tags t ON t.note_id = n.id",
        &[("notes", 18), ("tags", 31)],
    ),
    (
        "SELECT n.id FROM notes n LEFT JOIN tags t ON t.note_id = n.id WHERE n.user_id = ?",
        &[("tags", 36)],
    ),
    (
        "SELECT n.id FROM notes n LEFT JOIN tags t ON t.note_id = n.id AND t.user_id = n.user_id WHERE n.user_id = ?",
        OK,
    ),
    // a LEFT JOIN's ON filters its right side only
    (
        "SELECT n.id FROM notes n LEFT JOIN tags t ON t.user_id = ? AND n.user_id = t.user_id",
        &[("notes", 18)],
    ),
    (
        "SELECT n.id FROM tags t RIGHT JOIN notes n ON t.note_id = n.id AND t.user_id = n.user_id WHERE n.user_id = ?",
        OK,
    ),
    (
        "SELECT n.id, j.value FROM notes n, json_each(n.body) j WHERE n.user_id = ?",
        OK,
    ),
    // --- subqueries: each SELECT separately, correlated ones see the outer query's
    (
        "SELECT id FROM notes WHERE user_id = ? AND id IN (SELECT note_id FROM tags WHERE user_id = ?)",
        OK,
    ),
    (
        "SELECT id FROM notes WHERE user_id = ? AND id IN (SELECT note_id FROM tags)",
        &[("tags", 71)],
    ),
    (
        "SELECT id FROM notes n WHERE n.user_id = ? AND EXISTS (SELECT 1 FROM tags t WHERE t.note_id = n.id AND t.user_id = n.user_id)",
        OK,
    ),
    (
        "SELECT id, (SELECT COUNT(*) FROM tags WHERE tags.note_id = notes.id) AS n FROM notes WHERE user_id = ?",
        &[("tags", 34)],
    ),
    (
        "SELECT x.id FROM (SELECT id FROM notes WHERE user_id = ?) AS x",
        OK,
    ),
    (
        "SELECT id FROM users WHERE id IN note_owners",
        &[("note_owners", 34)],
    ),
    (
        "SELECT id FROM notes WHERE user_id = ? UNION SELECT id FROM notes",
        &[("notes", 61)],
    ),
    // --- CTEs
    (
        "WITH mine AS (SELECT id, title FROM notes WHERE user_id = ?) SELECT id, title FROM mine",
        OK,
    ),
    (
        "WITH everyone AS (SELECT id FROM notes) SELECT id FROM everyone",
        &[("notes", 34)],
    ),
    (
        "WITH RECURSIVE tree(id) AS (SELECT id FROM notes WHERE user_id = ?1 AND id = ?2 UNION ALL SELECT n.id FROM notes n JOIN tree ON n.parent_id = tree.id AND n.user_id = ?1) SELECT id FROM tree",
        OK,
    ),
    (
        "WITH RECURSIVE tree(id) AS (SELECT id FROM notes WHERE user_id = ?1 AND id = ?2 UNION ALL SELECT n.id FROM notes n JOIN tree ON n.parent_id = tree.id) SELECT id FROM tree",
        &[("notes", 108)],
    ),
    // --- views and tables without the column
    ("SELECT title FROM note_titles WHERE user_id = ?", OK),
    ("SELECT title FROM note_titles", &[("note_titles", 19)]),
    ("SELECT title FROM all_titles", OK),
    ("SELECT id, name FROM plans", OK),
    ("SELECT id, email FROM users WHERE id = ?", OK),
    // --- UPDATE, UPDATE .. FROM, DELETE
    ("UPDATE notes SET title = ? WHERE id = ? AND user_id = ?", OK),
    ("UPDATE notes SET title = ? WHERE id = ?", &[("notes", 8)]),
    (
        "UPDATE notes SET title = t.tag FROM tags t WHERE t.note_id = notes.id AND notes.user_id = ?",
        &[("tags", 37)],
    ),
    (
        "UPDATE notes SET title = t.tag FROM tags t WHERE t.note_id = notes.id AND t.user_id = notes.user_id AND notes.user_id = ?",
        OK,
    ),
    (
        "UPDATE notes SET title = (SELECT name FROM plans WHERE id = ?) WHERE user_id = ? RETURNING id",
        OK,
    ),
    ("DELETE FROM notes WHERE user_id = ? AND id = ? RETURNING id", OK),
    ("DELETE FROM notes WHERE id = ?", &[("notes", 13)]),
    (
        "DELETE FROM notes WHERE user_id = ? AND id IN (SELECT note_id FROM tags WHERE tag = ?)",
        &[("tags", 68)],
    ),
    // --- INSERT
    ("INSERT INTO notes (user_id, title) VALUES (?, ?)", OK),
    ("INSERT INTO notes (title, user_id) VALUES (?2, ?1), ('b', ?1)", OK),
    ("INSERT INTO counters VALUES (?, ?, 0)", OK),
    ("INSERT INTO notes (title) VALUES (?)", &[("notes", 13)]),
    ("INSERT INTO notes (user_id, title) VALUES ('alice', ?)", &[("notes", 44)]),
    ("INSERT INTO counters VALUES ('bob', ?, 0)", &[("counters", 30)]),
    ("INSERT INTO plans (name) VALUES (?)", OK),
    (
        "INSERT INTO tags (user_id, note_id, tag) SELECT user_id, id, ? FROM notes WHERE user_id = ? AND id = ?",
        OK,
    ),
    (
        "INSERT INTO tags (user_id, note_id, tag) SELECT ?, id, 'x' FROM plans",
        OK,
    ),
    (
        "INSERT INTO tags (user_id, note_id, tag) SELECT user_id, id, 'x' FROM notes",
        &[("notes", 71)],
    ),
    (
        "INSERT INTO tags (user_id, note_id, tag) SELECT 'bob', id, 'x' FROM plans",
        &[("tags", 49)],
    ),
    (
        "INSERT INTO counters (user_id, name, n) VALUES (?, ?, 1) ON CONFLICT (user_id, name) DO UPDATE SET n = n + 1",
        OK,
    ),
    (
        "INSERT OR REPLACE INTO counters (user_id, name) VALUES (?, ?) RETURNING n",
        OK,
    ),
];

#[test]
fn tenant_cases() {
    let a = analyzer();
    let mut failures = Vec::new();
    for (sql, want) in CASES {
        let got = run(&a, sql);
        let ok = match (&got, want.is_empty()) {
            (Ok(warnings), true) => warnings.is_empty(),
            (Err(errors), false) => {
                errors.len() == want.len()
                    && errors.iter().zip(want.iter()).all(|((m, l, c), (t, col))| {
                        m.contains(&format!("`{t}`")) && *l == 1 && c == col
                    })
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{sql}\n    want {want:?}\n    got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(CASES.len() >= 25);
}

#[test]
fn messages_say_what_and_how() {
    let a = analyzer();
    let checks = Checks {
        tenant_column: Some("user_id"),
        ..Checks::default()
    };
    let err = check(&a, "SELECT n.id FROM notes n WHERE n.id = ?", checks).unwrap_err();
    let d = &err.0[0];
    assert_eq!(
        d.message,
        "query on `notes` does not constrain the tenant column `user_id`"
    );
    let help = d.help.as_deref().unwrap();
    assert!(
        help.starts_with("add `AND n.user_id = ?` to the WHERE clause"),
        "{help}"
    );
    assert!(help.contains("#[cross_tenant]"), "{help}");
    let err = check(&a, "SELECT what FROM \"audit log\"", checks).unwrap_err();
    assert!(err.0[0]
        .help
        .as_deref()
        .unwrap()
        .starts_with("add `WHERE \"audit log\".user_id = ?`"));
    let err = check(
        &a,
        "SELECT n.id FROM notes n JOIN tags t ON t.note_id = n.id WHERE n.user_id = ?",
        checks,
    )
    .unwrap_err();
    let help = err.0[0].help.as_deref().unwrap();
    assert!(
        help.starts_with("add `AND t.user_id = n.user_id` to its JOIN's ON."),
        "{help}"
    );
    let err = check(&a, "SELECT id FROM users WHERE id IN note_owners", checks).unwrap_err();
    let help = err.0[0].help.as_deref().unwrap();
    assert!(help.starts_with("read it through a subquery"), "{help}");
    let err = check(&a, "INSERT INTO notes (title) VALUES (?)", checks).unwrap_err();
    assert_eq!(
        err.0[0].message,
        "INSERT into `notes` does not set the tenant column `user_id`"
    );
    let err = check(
        &a,
        "INSERT INTO notes (user_id, title) VALUES ('al', ?)",
        checks,
    )
    .unwrap_err();
    assert_eq!(
        err.0[0].message,
        "INSERT into `notes` sets the tenant column `user_id` to `'al'`, not to a parameter"
    );
    assert_eq!(err.0[0].span.len, 4);
}

#[test]
fn off_without_a_tenant_column_and_with_the_opt_out() {
    let a = analyzer();
    assert!(a.analyze("SELECT id FROM notes").is_ok());
    assert!(check(&a, "SELECT id FROM notes", Checks::default()).is_ok());
}

#[test]
fn a_statement_sqlparser_cannot_read_is_a_warning_not_an_error() {
    let a = analyzer();
    // Postfix ISNULL: SQLite accepts it, sqlparser 0.64 does not.
    let warnings = run(&a, "SELECT id FROM notes WHERE title ISNULL").unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("tenant column `user_id` is not checked")),
        "{warnings:?}"
    );
}

#[test]
fn errors_of_other_checks_come_with_it() {
    let a = analyzer();
    // d1kit's own rule (a result column needs a name) and the tenant lint, together.
    let errors = run(&a, "SELECT id + 1 FROM notes").unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
}
