//! Query execution: a `/query` or `/raw` request run as one transaction, as D1 runs it.
//!
//! The body decoded, its statements run with D1's refusals (transactions, ATTACH) and error
//! wording, and the results written out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, StatementStatus};
use serde_json::{json, Value};

use crate::js::{bind_value, push_json_string, Out};
use crate::manage::database_size;
use crate::reply::Reply;
use crate::state::{lock, Database, Shared};
use crate::usage::Batch;

const TRANSACTION_REFUSED: &str = "To execute a transaction, please use the \
    state.storage.transaction() or state.storage.transactionSync() APIs instead of the SQL \
    BEGIN TRANSACTION or SAVEPOINT statements. The JavaScript API is safer because it will \
    automatically roll back on exceptions, and because it interacts correctly with Durable \
    Objects' automatic atomic write coalescing.: SQLITE_AUTH";
const ONLY_LAST_PARAMETERS: &str = "When executing multiple SQL statements in a single call, \
    only the last statement can have parameters.";
const WRONG_BINDINGS: &str = "Wrong number of parameter bindings for SQL query.";
const NO_STATEMENTS: &str = "No SQL statements detected.";

/// One `{sql, params}` of a request.
struct Group {
    sql: String,
    params: Vec<SqlValue>,
}

fn decode_group(value: &Value) -> Result<Group, Reply> {
    let bad = || {
        Reply::error(
            400,
            7400,
            "The request body must be {\"sql\": string, \"params\"?: array} or \
             {\"batch\": [{\"sql\": string, \"params\"?: array}, ...]}",
        )
    };
    let object = value.as_object().ok_or_else(bad)?;
    let sql = object.get("sql").and_then(Value::as_str).ok_or_else(bad)?;
    let params = match object.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(bind_value)
            .collect::<Result<_, _>>()
            .map_err(|message| Reply::error(400, 7500, &message))?,
        Some(_) => return Err(bad()),
    };
    Ok(Group {
        sql: sql.to_owned(),
        params,
    })
}

pub(crate) fn run_query(shared: &Shared, db: &Database, body: &[u8], raw: bool) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(400, 7400, "The request body is not valid JSON");
    };
    let groups: Vec<Group> = match body.get("batch") {
        Some(Value::Array(items)) => match items.iter().map(decode_group).collect() {
            Ok(groups) => groups,
            Err(reply) => return reply,
        },
        Some(_) => {
            return Reply::error(
                400,
                7400,
                "\"batch\" must be an array of {\"sql\", \"params\"}",
            )
        }
        None => match decode_group(&body) {
            Ok(group) => vec![group],
            Err(reply) => return reply,
        },
    };
    let sqls: Vec<&str> = groups.iter().map(|g| g.sql.as_str()).collect();
    if let Some(message) = shared.take_query_failure(&sqls) {
        return Reply::error(400, 7500, &message);
    }
    let started = Instant::now();
    let outcome = {
        let mut conn = lock(&db.conn);
        if let Some(message) = db.busy(shared.now_ms()) {
            return Reply::error(400, 7500, message);
        }
        let outcome = execute(&mut conn, &groups, false);
        if let Ok(statements) = &outcome {
            if Totals::of(statements).changed_db {
                db.record_state(shared, &mut conn);
                shared.record_size(&db.uuid, database_size(&conn));
            }
        }
        outcome
    };
    let time_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(statements) => {
            let mut out = String::from("[");
            for (i, statement) in statements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                statement.write(&mut out, raw);
            }
            out.push(']');
            let reply = Reply::ok_raw(&out);
            let totals = Totals::of(&statements);
            shared.record_batch(
                &db.uuid,
                &Batch {
                    write: totals.changed_db,
                    rows_read: totals.rows_read,
                    rows_written: totals.rows_written,
                    response_bytes: reply.body.len() as u64,
                    time_ms,
                },
            );
            reply
        }
        Err(message) => Reply::error(400, 7500, &message),
    }
}

/// What a request's (or an import's) statements add up to.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) num_queries: usize,
    pub(crate) changes: u64,
    pub(crate) last_row_id: i64,
    pub(crate) changed_db: bool,
    pub(crate) rows_read: u64,
    pub(crate) rows_written: u64,
}

impl Totals {
    fn of(statements: &[StatementResult]) -> Totals {
        let mut totals = Totals::default();
        for statement in statements {
            let meta = &statement.meta;
            let number = |name: &str| meta.get(name).and_then(Value::as_u64).unwrap_or(0);
            totals.num_queries += 1;
            totals.changes += number("changes");
            totals.rows_read += number("rows_read");
            totals.rows_written += number("rows_written");
            totals.changed_db |= meta.get("changed_db") == Some(&Value::Bool(true));
            totals.last_row_id = meta.get("last_row_id").and_then(Value::as_i64).unwrap_or(0);
        }
        totals
    }
}

/// Runs a whole SQL file (an import) as one transaction, its foreign key checks deferred to
/// the end: its totals, or the first error (and nothing of it stays).
pub(crate) fn execute_script(conn: &mut Connection, sql: &str) -> Result<Totals, String> {
    let group = Group {
        sql: sql.to_owned(),
        params: Vec::new(),
    };
    execute(conn, &[group], true).map(|statements| Totals::of(&statements))
}

/// One executed statement.
struct StatementResult {
    columns: Vec<String>,
    rows: Vec<Vec<Out>>,
    meta: Value,
}

impl StatementResult {
    fn write(&self, out: &mut String, raw: bool) {
        out.push_str(r#"{"results":"#);
        if raw {
            out.push_str(r#"{"columns":"#);
            out.push_str(&json!(self.columns).to_string());
            out.push_str(r#","rows":["#);
            for (i, row) in self.rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                for (j, value) in row.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    value.write(out);
                }
                out.push(']');
            }
            out.push_str("]}");
        } else {
            // A JavaScript object: a repeated column keeps its first place and its last value.
            let mut keys: Vec<(&str, usize)> = Vec::new();
            for (i, column) in self.columns.iter().enumerate() {
                match keys.iter_mut().find(|(name, _)| *name == column) {
                    Some(entry) => entry.1 = i,
                    None => keys.push((column, i)),
                }
            }
            out.push('[');
            for (i, row) in self.rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                for (j, (name, index)) in keys.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_json_string(out, name);
                    out.push(':');
                    row[*index].write(out);
                }
                out.push('}');
            }
            out.push(']');
        }
        out.push_str(r#","success":true,"meta":"#);
        out.push_str(&self.meta.to_string());
        out.push('}');
    }
}

/// Runs a request's groups as one transaction: every statement's result, or the first error
/// (and nothing of the request stays). With `defer_foreign_keys`, foreign key violations are
/// checked only at the end.
fn execute(
    conn: &mut Connection,
    groups: &[Group],
    defer_foreign_keys: bool,
) -> Result<Vec<StatementResult>, String> {
    conn.execute_batch("BEGIN").map_err(|e| sql_message(&e))?;
    if defer_foreign_keys {
        if let Err(e) = conn.execute_batch("PRAGMA defer_foreign_keys = ON") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(sql_message(&e));
        }
    }
    let refused_transaction = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&refused_transaction);
    let installed = conn.authorizer(Some(move |context: AuthContext<'_>| match context.action {
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            flag.store(true, Ordering::SeqCst);
            Authorization::Deny
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        _ => Authorization::Allow,
    }));
    let outcome = installed.map_err(|e| sql_message(&e)).and_then(|()| {
        let mut results = Vec::new();
        for group in groups {
            run_group(conn, group, &mut results).map_err(|error| match error {
                RunError::Sql(e)
                    if refused_transaction.load(Ordering::SeqCst)
                        && e.sqlite_error_code()
                            == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) =>
                {
                    TRANSACTION_REFUSED.to_owned()
                }
                RunError::Sql(e) => sql_message(&e),
                RunError::D1(message) => message.to_owned(),
            })?;
        }
        Ok(results)
    });
    let _ = conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    let outcome = outcome.and_then(|results| {
        conn.execute_batch("COMMIT")
            .map(|()| results)
            .map_err(|e| sql_message(&e))
    });
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

enum RunError {
    Sql(rusqlite::Error),
    D1(&'static str),
}

impl From<rusqlite::Error> for RunError {
    fn from(e: rusqlite::Error) -> Self {
        RunError::Sql(e)
    }
}

fn run_group(
    conn: &Connection,
    group: &Group,
    results: &mut Vec<StatementResult>,
) -> Result<(), RunError> {
    let mut batch = rusqlite::Batch::new(conn, &group.sql);
    let mut statements = 0;
    let mut bound = false;
    while let Some(mut statement) = batch.next()? {
        if bound {
            return Err(RunError::D1(ONLY_LAST_PARAMETERS));
        }
        statements += 1;
        let wanted = statement.parameter_count();
        if wanted > 0 {
            if wanted != group.params.len() {
                return Err(RunError::D1(WRONG_BINDINGS));
            }
            for (i, value) in group.params.iter().enumerate() {
                statement.raw_bind_parameter(i + 1, value)?;
            }
            bound = true;
        }
        let readonly = statement.readonly();
        let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let total_before = conn.total_changes();
        let schema_before = if readonly { 0 } else { schema_version(conn) };
        let started = Instant::now();
        let mut rows = Vec::new();
        {
            let mut cursor = statement.raw_query();
            while let Some(row) = cursor.next()? {
                let values = (0..columns.len())
                    .map(|i| row.get_ref(i).map(Out::read))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(values);
            }
        }
        let duration = started.elapsed().as_secs_f64() * 1000.0;
        // `changes()` is stale after a statement that changed nothing (DDL, a read).
        let changes = if conn.total_changes() == total_before {
            0
        } else {
            conn.changes()
        };
        let changed_db = changes > 0 || (!readonly && schema_version(conn) != schema_before);
        let rows_read = rows.len() as u64
            + u64::try_from(statement.get_status(StatementStatus::FullscanStep)).unwrap_or(0);
        let meta = json!({
            "served_by": "v3-prod",
            "served_by_region": "WNAM",
            "served_by_primary": true,
            "duration": duration,
            "changes": changes,
            "last_row_id": conn.last_insert_rowid(),
            "changed_db": changed_db,
            "size_after": database_size(conn),
            "rows_read": rows_read,
            "rows_written": changes,
            "timings": {"sql_duration_ms": duration},
        });
        results.push(StatementResult {
            columns,
            rows,
            meta,
        });
    }
    if statements == 0 {
        return Err(RunError::D1(NO_STATEMENTS));
    }
    if !bound && !group.params.is_empty() {
        return Err(RunError::D1(WRONG_BINDINGS));
    }
    Ok(())
}

fn schema_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA schema_version", [], |row| row.get(0))
        .unwrap_or(0)
}

/// An SQLite error as D1 words it: the message, then `: SQLITE_<primary code>`.
fn sql_message(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqlInputError {
            error, msg, offset, ..
        } => format!(
            "{msg} at offset {offset}: {}",
            code_name(error.extended_code)
        ),
        rusqlite::Error::SqliteFailure(error, Some(msg)) => {
            format!("{msg}: {}", code_name(error.extended_code))
        }
        rusqlite::Error::SqliteFailure(error, None) => {
            format!("{error}: {}", code_name(error.extended_code))
        }
        other => format!("{other}: SQLITE_ERROR"),
    }
}

fn code_name(extended: i32) -> &'static str {
    const NAMES: [&str; 27] = [
        "SQLITE_OK",
        "SQLITE_ERROR",
        "SQLITE_INTERNAL",
        "SQLITE_PERM",
        "SQLITE_ABORT",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_NOMEM",
        "SQLITE_READONLY",
        "SQLITE_INTERRUPT",
        "SQLITE_IOERR",
        "SQLITE_CORRUPT",
        "SQLITE_NOTFOUND",
        "SQLITE_FULL",
        "SQLITE_CANTOPEN",
        "SQLITE_PROTOCOL",
        "SQLITE_EMPTY",
        "SQLITE_SCHEMA",
        "SQLITE_TOOBIG",
        "SQLITE_CONSTRAINT",
        "SQLITE_MISMATCH",
        "SQLITE_MISUSE",
        "SQLITE_NOLFS",
        "SQLITE_AUTH",
        "SQLITE_FORMAT",
        "SQLITE_RANGE",
        "SQLITE_NOTADB",
    ];
    NAMES
        .get((extended & 0xff) as usize)
        .copied()
        .unwrap_or("SQLITE_ERROR")
}
