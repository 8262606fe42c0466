//! The cascade-drop lint: a migration that drops a table other tables reference with an
//! `ON DELETE` action.
//!
//! D1 enforces foreign keys and ignores `PRAGMA foreign_keys = OFF`, and `DROP TABLE` first
//! deletes every row of the table. So the table rebuild that drizzle-kit and Prisma generate
//! (create `__new_t`, copy, `DROP TABLE t`, rename) deletes every row of each child declared
//! `ON DELETE CASCADE`, and nulls or resets the column of each `SET NULL` or `SET DEFAULT`
//! child. `PRAGMA defer_foreign_keys = on` defers only the checks, not these actions. A
//! `RESTRICT` child makes the drop fail as soon as it has a row that references the table.
//! On the empty database the macros migrate, nothing shows: the lint reads the schema as it
//! is just before each `DROP TABLE` (`pragma_foreign_key_list` of every other table).

use crate::analyze::Analyzer;
use crate::config::Level;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::schema::{CascadeDrop, Reference};

/// Reports what the migrations' `DROP TABLE`s do to referencing tables at `level`: nothing,
/// warnings added to the analyzer's, or errors.
pub fn apply(analyzer: &mut Analyzer, level: Level) -> Result<(), Diagnostics> {
    let found: Vec<Diagnostic> = analyzer.cascade_drops().iter().map(finding).collect();
    match level {
        Level::Allow => Ok(()),
        Level::Warn => {
            for d in found {
                analyzer.warn(d);
            }
            Ok(())
        }
        Level::Deny if found.is_empty() => Ok(()),
        Level::Deny => Err(Diagnostics(
            found.into_iter().map(Diagnostic::into_error).collect(),
        )),
    }
}

/// The warning for one drop, at the dropped table's name.
fn finding(drop: &CascadeDrop) -> Diagnostic {
    Diagnostic {
        span: drop.span.clone(),
        ..diagnostic(&drop.parent, &drop.reference)
    }
}

/// The warning for dropping `parent` while `r` references it, located by the caller.
pub fn diagnostic(parent: &str, r: &Reference) -> Diagnostic {
    let columns = r
        .columns
        .iter()
        .map(|c| format!("`{}.{c}`", r.table))
        .collect::<Vec<_>>()
        .join(", ");
    let what = match r.on_delete.as_str() {
        "CASCADE" => format!(
            "deletes every row of `{}` that references it ({columns} is ON DELETE CASCADE)",
            r.table
        ),
        "SET NULL" => format!("sets {columns} to NULL in every row of `{}` (ON DELETE SET NULL)", r.table),
        "SET DEFAULT" => format!(
            "resets {columns} to its default in every row of `{}` (ON DELETE SET DEFAULT)",
            r.table
        ),
        _ => format!(
            "fails on D1 as soon as a row of `{}` references it ({columns} is ON DELETE {}, which deferred checks do not postpone)",
            r.table, r.on_delete
        ),
    };
    Diagnostic::warning(format!(
        "dropping `{parent}` {what}: D1 enforces foreign keys, and neither `PRAGMA foreign_keys = OFF` nor `defer_foreign_keys` stops it"
    ))
    .with_help(format!(
        "change `{parent}` with ALTER TABLE instead of rebuilding it, or copy `{}`'s rows aside before the DROP and back once the new `{parent}` is in place; or allow it with `cascade_drop = \"allow\"` under [package.metadata.d1kit.lints]",
        r.table
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::references;
    use rusqlite::Connection;

    #[test]
    fn lists_the_children_that_act_on_delete() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, a INT, b INT, UNIQUE (a, b));
             CREATE TABLE cascades (id INTEGER PRIMARY KEY, p_id INT REFERENCES p(id) ON DELETE CASCADE);
             CREATE TABLE nulls (x INT, y INT, FOREIGN KEY (x, y) REFERENCES P(a, b) ON DELETE SET NULL);
             CREATE TABLE restricts (p_id INT REFERENCES p ON DELETE RESTRICT);
             CREATE TABLE plain (p_id INT REFERENCES p);
             CREATE TABLE own (id INTEGER PRIMARY KEY, parent INT REFERENCES own ON DELETE CASCADE);",
        )
        .unwrap();
        let refs = references(&conn, "p");
        let summary: Vec<(&str, Vec<&str>, &str)> = refs
            .iter()
            .map(|r| {
                let columns = r.columns.iter().map(String::as_str).collect();
                (r.table.as_str(), columns, r.on_delete.as_str())
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("cascades", vec!["p_id"], "CASCADE"),
                ("nulls", vec!["x", "y"], "SET NULL"),
                ("restricts", vec!["p_id"], "RESTRICT"),
            ]
        );
        // A table that references itself is dropped with its rows: nothing to warn about.
        assert!(references(&conn, "own").is_empty());
        assert!(diagnostic("p", &refs[0])
            .message
            .starts_with("dropping `p` deletes every row of `cascades` that references it (`cascades.p_id` is ON DELETE CASCADE)"));
        assert!(diagnostic("p", &refs[1])
            .message
            .starts_with("dropping `p` sets `nulls.x`, `nulls.y` to NULL in every row of `nulls`"));
        assert!(diagnostic("p", &refs[2])
            .message
            .contains("fails on D1 as soon as a row of `restricts` references it"));
    }
}
