//! Migrations applied through any [`Executor`], exactly as `wrangler d1 migrations apply`
//! applies them: in order, each file one atomic batch recorded in wrangler's `d1_migrations`
//! table, stopping at the first failure. Beside it, d1kit's `d1kit_migrations` table keeps each
//! file's SHA-256 (written in the same batch), so an applied migration edited later is caught.
//!
//! The same code migrates a local SQLite file, a Worker's binding and a database reached over
//! the REST API. Its state lives in the database, so an interrupted run is resumed by running
//! again: a migration is either wholly applied and recorded, or not at all.

use crate::database::Migration;
use crate::executor::{Executor, Sql};
use crate::{Error, Result, Value};
use std::collections::HashMap;

/// wrangler's table, in wrangler's exact shape (wrangler reads and writes it too).
pub const WRANGLER_TABLE: &str = "CREATE TABLE IF NOT EXISTS d1_migrations(
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT UNIQUE,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)";

/// d1kit's table of checksums, one row per applied migration.
pub const CHECKSUM_TABLE: &str = "CREATE TABLE IF NOT EXISTS d1kit_migrations(
    name       TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)";

/// What [`migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Migrations applied now, in order.
    pub applied: Vec<&'static str>,
    /// Migrations wrangler had applied without a checksum, now recorded with the file's.
    pub adopted: Vec<&'static str>,
    /// Migrations the database has applied that this program does not have (a newer
    /// program migrated it); left alone.
    pub unknown: Vec<String>,
}

/// What a database has applied, as its two tables say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Names in `d1_migrations`, in the order they were applied.
    pub names: Vec<String>,
    /// `d1kit_migrations`: name → recorded SHA-256.
    pub checksums: HashMap<String, String>,
}

/// Where a database stands against a list of migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Not applied yet, in order.
    pub pending: Vec<Migration>,
    /// Applied by wrangler alone (no checksum yet): to record with the file's checksum.
    pub to_adopt: Vec<Migration>,
    /// Applied, but the file changed since: `(name, recorded, current)`.
    pub edited: Vec<(String, String, String)>,
    /// Applied names this program does not have.
    pub unknown: Vec<String>,
    /// Pending migrations that sort before one already applied (added after it, with an
    /// older number): they apply now, after it, whatever their names say.
    pub out_of_order: Vec<&'static str>,
}

/// Reads what `db` has applied, creating the two tables if they are missing; one batch (one
/// request over REST).
pub async fn applied<E: Executor + ?Sized>(db: &E) -> Result<Applied> {
    let (_, _, names, checksums) = db
        .batch((
            Sql::<()>::new(WRANGLER_TABLE, Vec::new()),
            Sql::<()>::new(CHECKSUM_TABLE, Vec::new()),
            Sql::<(String,)>::new("SELECT name FROM d1_migrations ORDER BY id", Vec::new()),
            Sql::<(String, String)>::new("SELECT name, sha256 FROM d1kit_migrations", Vec::new()),
        ))
        .await?;
    Ok(Applied {
        names: names.rows.into_iter().map(|(n,)| n).collect(),
        checksums: checksums.rows.into_iter().collect(),
    })
}

/// Reads what `db` has applied and changes nothing: a database without wrangler's table has
/// applied nothing (for dry runs and status). Up to two requests over REST.
pub async fn read_applied<E: Executor + ?Sized>(db: &E) -> Result<Applied> {
    let tables = db
        .all(Sql::<(String,)>::new(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name IN ('d1_migrations', 'd1kit_migrations')",
            Vec::new(),
        ))
        .await?;
    let has = |table: &str| tables.iter().any(|(t,)| t == table);
    let names = Sql::<(String,)>::new("SELECT name FROM d1_migrations ORDER BY id", Vec::new());
    let sums =
        Sql::<(String, String)>::new("SELECT name, sha256 FROM d1kit_migrations", Vec::new());
    let (names, checksums) = match (has("d1_migrations"), has("d1kit_migrations")) {
        (true, true) => {
            let (n, c) = db.batch((names, sums)).await?;
            (n.rows, c.rows)
        }
        (true, false) => (db.all(names).await?, Vec::new()),
        (false, true) => (Vec::new(), db.all(sums).await?),
        (false, false) => (Vec::new(), Vec::new()),
    };
    Ok(Applied {
        names: names.into_iter().map(|(n,)| n).collect(),
        checksums: checksums.into_iter().collect(),
    })
}

/// Compares what a database has applied with `migrations`.
pub fn plan(applied: &Applied, migrations: &[Migration]) -> Plan {
    let mut plan = Plan {
        unknown: applied
            .names
            .iter()
            .filter(|name| !migrations.iter().any(|m| m.name == name.as_str()))
            .cloned()
            .collect(),
        ..Plan::default()
    };
    let last_applied = migrations
        .iter()
        .rposition(|m| applied.names.iter().any(|a| a == m.name));
    for (i, m) in migrations.iter().enumerate() {
        if !applied.names.iter().any(|a| a == m.name) {
            plan.pending.push(*m);
            if last_applied.is_some_and(|last| i < last) {
                plan.out_of_order.push(m.name);
            }
            continue;
        }
        match applied.checksums.get(m.name) {
            Some(recorded) if recorded != m.checksum && !same_but_line_endings(m, recorded) => plan
                .edited
                .push((m.name.to_owned(), recorded.clone(), m.checksum.to_owned())),
            Some(_) => {}
            None => plan.to_adopt.push(*m),
        }
    }
    plan
}

/// Whether `recorded` is the checksum of `m`'s file with other line endings (CRLF for LF or
/// back, as a git checkout with `autocrlf` rewrites it): the same migration, not an edit.
#[cfg(feature = "state-files")]
fn same_but_line_endings(m: &Migration, recorded: &str) -> bool {
    use sha2::{Digest, Sha256};
    let hex = |text: &str| -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let lf = m.sql.replace("\r\n", "\n");
    hex(&lf) == recorded || hex(&lf.replace('\n', "\r\n")) == recorded
}

/// Without SHA-256 at hand (a Worker build), line endings count.
#[cfg(not(feature = "state-files"))]
fn same_but_line_endings(_: &Migration, _: &str) -> bool {
    false
}

/// The most bytes one statement may have: D1 refuses longer ones.
pub const MAX_STATEMENT_BYTES: usize = 100_000;

/// Why D1 would refuse `statement` in a migration, if it would: a migration is one batch, one
/// transaction, so a statement that begins, ends or nests a transaction (`BEGIN`, `COMMIT`,
/// `END`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`) would commit half of it or throw half of it
/// away; `ATTACH` and `DETACH` reach other files (D1 has none, locally they would create
/// them); `VACUUM` cannot run in a transaction; and a statement over
/// [`MAX_STATEMENT_BYTES`] is refused by D1.
pub fn refusal(statement: &str) -> Option<String> {
    if statement.len() > MAX_STATEMENT_BYTES {
        return Some(format!(
            "the statement is {} bytes, over D1's limit of {MAX_STATEMENT_BYTES}",
            statement.len()
        ));
    }
    let keyword = first_keyword(statement)?.to_ascii_uppercase();
    let why = match keyword.as_str() {
        "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => {
            "a migration runs as one transaction (one batch, as D1 runs it): this statement would begin, end or nest a transaction inside it, leaving half of the migration applied or thrown away; remove it"
        }
        "ATTACH" | "DETACH" => {
            "D1 has no other database files to attach, and locally it would create one outside the project; remove it"
        }
        "VACUUM" => "VACUUM cannot run inside the migration's transaction, and D1 refuses it; remove it",
        _ => return None,
    };
    Some(format!("`{keyword}`: {why}"))
}

/// The first word of `sql`, after whitespace and comments.
fn first_keyword(sql: &str) -> Option<&str> {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Every statement of `migrations` that D1 would refuse ([`refusal`]), as
/// `(migration, line in its file, why)`, before anything is run.
pub fn refusals(migrations: &[Migration]) -> Vec<(&'static str, usize, String)> {
    let mut out = Vec::new();
    for m in migrations {
        let mut from = 0;
        for statement in m.statements {
            let at = m.sql[from..].find(statement).map(|i| from + i);
            if let Some(at) = at {
                from = at + statement.len();
            }
            if let Some(why) = refusal(statement) {
                let line = at.map_or(1, |at| m.sql[..at].matches('\n').count() + 1);
                out.push((m.name, line, why));
            }
        }
    }
    out
}

/// Applies one migration: its statements, its `d1_migrations` row and its checksum, as one
/// batch. If any statement fails, nothing of it stays; a statement D1 would refuse
/// ([`refusal`]) fails it before anything runs.
pub async fn apply_one<E: Executor + ?Sized>(db: &E, m: &Migration) -> Result<()> {
    if let Some((_, line, why)) = refusals(std::slice::from_ref(m)).into_iter().next() {
        return Err(Error::Migration {
            name: m.name.to_owned(),
            message: format!("line {line}: {why}"),
        });
    }
    let mut batch: Vec<Sql<()>> = m
        .statements
        .iter()
        .map(|sql| Sql::new(sql, Vec::new()))
        .collect();
    batch.push(Sql::new(
        "INSERT INTO d1_migrations (name) VALUES (?1)",
        vec![Value::from(m.name)],
    ));
    batch.push(Sql::new(
        "INSERT OR REPLACE INTO d1kit_migrations (name, sha256) VALUES (?1, ?2)",
        vec![Value::from(m.name), Value::from(m.checksum)],
    ));
    db.batch(batch).await.map(drop).map_err(|e| match e {
        Error::Query { message, sql } => Error::Migration {
            name: m.name.to_owned(),
            message: format!("{message}\n  in: {sql}"),
        },
        Error::Migration { .. } => e,
        // Kept an API error, so that a transient one is still seen as transient (and retried).
        Error::Api { .. } => e.context(&format!("applying migration `{}`", m.name)),
        other => Error::Migration {
            name: m.name.to_owned(),
            message: other.to_string(),
        },
    })
}

/// Records the checksums of migrations wrangler applied alone, in one batch.
async fn adopt<E: Executor + ?Sized>(db: &E, migrations: &[Migration]) -> Result<()> {
    if migrations.is_empty() {
        return Ok(());
    }
    let batch: Vec<Sql<()>> = migrations
        .iter()
        .map(|m| {
            Sql::new(
                "INSERT OR IGNORE INTO d1kit_migrations (name, sha256) VALUES (?1, ?2)",
                vec![Value::from(m.name), Value::from(m.checksum)],
            )
        })
        .collect();
    db.batch(batch).await.map(drop)
}

/// Applies the migrations `db` has not applied yet, in order, each as one atomic batch, and
/// stops at the first failure (every earlier one stays applied, as with wrangler). An applied
/// migration whose file changed since is [`Error::MigrationEdited`], and nothing is applied.
///
/// Two migrators on one database meet safely: a migration's batch carries its
/// `d1_migrations` row, so only one of them applies it; the other's batch fails whole, and a
/// failure is checked against the table before it is reported. Applied meanwhile (by this
/// very batch, whose reply was lost, or by the other migrator) is no failure, and the report
/// counts it as applied during this run.
pub async fn migrate<E: Executor + ?Sized>(
    db: &E,
    migrations: &[Migration],
) -> Result<MigrateReport> {
    let mut report = MigrateReport::default();
    migrate_into(db, migrations, &mut report).await?;
    Ok(report)
}

/// [`migrate`], writing what it did into `report` as it goes, so that after a failure the
/// report still says which migrations were applied before it (a fleet's per-database report).
pub async fn migrate_into<E: Executor + ?Sized>(
    db: &E,
    migrations: &[Migration],
    report: &mut MigrateReport,
) -> Result<()> {
    let state = applied(db).await?;
    migrate_from(db, migrations, &state, report).await
}

/// [`migrate_into`] from a state just read with [`applied`] (one request less over REST).
pub async fn migrate_from<E: Executor + ?Sized>(
    db: &E,
    migrations: &[Migration],
    state: &Applied,
    report: &mut MigrateReport,
) -> Result<()> {
    let plan = plan(state, migrations);
    if let Some((name, recorded, current)) = plan.edited.into_iter().next() {
        return Err(Error::MigrationEdited {
            name,
            recorded,
            current,
        });
    }
    adopt(db, &plan.to_adopt).await?;
    report.adopted.extend(plan.to_adopt.iter().map(|m| m.name));
    report.unknown = plan.unknown;
    for m in &plan.pending {
        if let Err(e) = apply_one(db, m).await {
            // Another migrator (a second process, or this request's own replay after a lost
            // reply) may have applied it meanwhile: then the failure was only the collision.
            match applied(db).await {
                Ok(now) if now.names.iter().any(|n| n == m.name) => {}
                _ => return Err(e),
            }
        }
        report.applied.push(m.name);
    }
    Ok(())
}

/// Checks that `db` has applied every migration of `migrations` (by name, as wrangler records
/// them): [`Error::SchemaBehind`] names those it lacks, so code deployed before its migrations
/// fails clearly. One small read; meant to run once per process or isolate.
pub async fn check<E: Executor + ?Sized>(db: &E, migrations: &[Migration]) -> Result<()> {
    let names = db
        .all(Sql::<(String,)>::new(
            "SELECT name FROM d1_migrations ORDER BY id",
            Vec::new(),
        ))
        .await;
    let names: Vec<String> = match names {
        Ok(rows) => rows.into_iter().map(|(n,)| n).collect(),
        Err(Error::Query { message, .. }) if message.contains("no such table") => Vec::new(),
        Err(e) => return Err(e),
    };
    let pending: Vec<String> = migrations
        .iter()
        .filter(|m| !names.iter().any(|n| n == m.name))
        .map(|m| m.name.to_owned())
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(Error::SchemaBehind { pending })
    }
}

#[cfg(all(test, feature = "local"))]
mod tests {
    use super::*;
    use crate::local::Database as Local;

    const M: &[Migration] = &[
        Migration {
            name: "0001_a.sql",
            sql: "CREATE TABLE a (x);",
            statements: &["CREATE TABLE a (x)"],
            checksum: "1",
        },
        Migration {
            name: "0002_b.sql",
            sql: "CREATE TABLE b (y);",
            statements: &["CREATE TABLE b (y)"],
            checksum: "2",
        },
    ];

    #[test]
    fn statements_that_would_split_a_migration_are_refused_before_anything_runs() {
        const BAD: &[Migration] = &[Migration {
            name: "0003_split.sql",
            sql: "CREATE TABLE part_a (x);\n-- done with a\nCOMMIT;\nCREATE TABLE part_b (y);\n/* c */ rollback;\nATTACH DATABASE '/tmp/x.db' AS x;\nVACUUM;\nCREATE TRIGGER t AFTER INSERT ON part_a BEGIN SELECT 1; END;\n",
            statements: &[
                "CREATE TABLE part_a (x)",
                "-- done with a\nCOMMIT",
                "CREATE TABLE part_b (y)",
                "/* c */ rollback",
                "ATTACH DATABASE '/tmp/x.db' AS x",
                "VACUUM",
                "CREATE TRIGGER t AFTER INSERT ON part_a BEGIN SELECT 1; END",
            ],
            checksum: "3",
        }];
        let found: Vec<(usize, String)> = refusals(BAD)
            .into_iter()
            .map(|(_, line, why)| (line, why.split(':').next().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(
            found,
            [
                (2, "`COMMIT`".to_owned()),
                (5, "`ROLLBACK`".to_owned()),
                (6, "`ATTACH`".to_owned()),
                (7, "`VACUUM`".to_owned()),
            ]
        );
        let big = format!(
            "INSERT INTO a VALUES ('{}')",
            "x".repeat(MAX_STATEMENT_BYTES)
        );
        assert!(refusal(&big).unwrap().contains("over D1's limit"));
        let db = Local::open_in_memory().unwrap();
        let err = crate::block_on(apply_one(&db, &BAD[0])).unwrap_err();
        assert!(err.to_string().contains("line 2: `COMMIT`"), "{err}");
        let tables: i64 = db
            .connection()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'part_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "nothing of the migration ran");
    }

    #[test]
    fn a_migration_older_than_the_last_applied_is_out_of_order() {
        let applied = Applied {
            names: vec!["0002_b.sql".into()],
            checksums: HashMap::from([("0002_b.sql".to_string(), "2".to_string())]),
        };
        let early = Migration {
            name: "0000_early.sql",
            sql: "CREATE TABLE e (z);",
            statements: &["CREATE TABLE e (z)"],
            checksum: "0",
        };
        let list = [early, M[0], M[1]];
        let p = plan(&applied, &list);
        assert_eq!(p.out_of_order, ["0000_early.sql", "0001_a.sql"]);
        let applied = Applied {
            names: vec!["0001_a.sql".into()],
            ..Applied::default()
        };
        assert!(
            plan(&applied, M).out_of_order.is_empty(),
            "only newer ones pending"
        );
    }

    #[test]
    fn line_endings_alone_are_no_edit() {
        let crlf = Migration {
            name: "0001_a.sql",
            sql: "CREATE TABLE a (x);\r\nCREATE TABLE c (y);\r\n",
            statements: &["CREATE TABLE a (x)", "CREATE TABLE c (y)"],
            checksum: "not what was recorded",
        };
        use sha2::{Digest, Sha256};
        let lf: String = Sha256::digest(b"CREATE TABLE a (x);\nCREATE TABLE c (y);\n")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let applied = Applied {
            names: vec!["0001_a.sql".into()],
            checksums: HashMap::from([("0001_a.sql".to_string(), lf)]),
        };
        assert!(plan(&applied, &[crlf]).edited.is_empty());
        let applied = Applied {
            names: vec!["0001_a.sql".into()],
            checksums: HashMap::from([("0001_a.sql".to_string(), "other".to_string())]),
        };
        assert_eq!(
            plan(&applied, &[crlf]).edited.len(),
            1,
            "a real edit still counts"
        );
    }

    #[test]
    fn read_applied_creates_nothing() {
        let db = Local::open_in_memory().unwrap();
        assert_eq!(
            crate::block_on(read_applied(&db)).unwrap(),
            Applied::default()
        );
        let tables: i64 = db
            .connection()
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
        db.migrate(M).unwrap();
        let state = crate::block_on(read_applied(&db)).unwrap();
        assert_eq!(state.names, vec!["0001_a.sql", "0002_b.sql"]);
        assert_eq!(state.checksums.len(), 2);
    }

    #[test]
    fn check_names_the_migrations_the_database_lacks() {
        let db = Local::open_in_memory().unwrap();
        let err = crate::block_on(check(&db, M)).unwrap_err().to_string();
        assert!(err.contains("`0001_a.sql`, `0002_b.sql`"), "{err}");
        db.migrate(&M[..1]).unwrap();
        let err = crate::block_on(check(&db, M)).unwrap_err().to_string();
        assert!(
            err.contains("`0002_b.sql`") && !err.contains("0001"),
            "{err}"
        );
        db.migrate(M).unwrap();
        crate::block_on(check(&db, M)).unwrap();
    }

    #[test]
    fn two_migrators_meet_without_a_failure() {
        let dir = std::env::temp_dir().join(format!("d1kit-two-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let (a, b) = (Local::open(&path).unwrap(), Local::open(&path).unwrap());
        // b read the state before a applied anything: its batch collides, and is no failure.
        let state = crate::block_on(applied(&b)).unwrap();
        a.migrate(M).unwrap();
        let mut report = MigrateReport::default();
        crate::block_on(migrate_from(&b, M, &state, &mut report)).unwrap();
        assert_eq!(report.applied, vec!["0001_a.sql", "0002_b.sql"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
