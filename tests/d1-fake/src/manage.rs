//! Database management: create, list, describe, look up and update databases.
//!
//! Creation follows D1's name, location hint and jurisdiction rules; an update sets the read
//! replication mode.

use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::format::parse_query;
use crate::reply::Reply;
use crate::state::{lock, CreateError, Database, Shared};

const LOCATION_HINTS: [&str; 6] = ["wnam", "enam", "weur", "eeur", "apac", "oc"];
const JURISDICTIONS: [&str; 3] = ["eu", "fedramp", "us"];
const READ_REPLICATION_MODES: [&str; 2] = ["auto", "disabled"];
const NAME_MAX: usize = 64;

/// D1's published name pattern `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`, at most [`NAME_MAX`] long.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= NAME_MAX
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn optional_choice<'a>(
    body: &'a serde_json::Map<String, Value>,
    field: &str,
    choices: &[&str],
) -> Result<Option<&'a str>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if choices.contains(&s.as_str()) => Ok(Some(s)),
        Some(other) => Err(Reply::error(
            400,
            7400,
            &format!(
                "Invalid {field}: {other} is not one of {}",
                choices.join(", ")
            ),
        )),
    }
}

pub(crate) fn create(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(
            400,
            7400,
            "The request body must be a JSON object with a \"name\"",
        );
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return Reply::error(
            400,
            7400,
            "Invalid name: a database name (a string) is required",
        );
    };
    if !valid_name(name) {
        return Reply::error(
            400,
            7400,
            &format!(
                "Invalid name {name:?}: a database name is 1 to {NAME_MAX} characters, ASCII \
                 letters, digits, '-' and '_', starting with a letter or a digit"
            ),
        );
    }
    let hint = match optional_choice(&body, "primary_location_hint", &LOCATION_HINTS) {
        Ok(hint) => hint,
        Err(reply) => return reply,
    };
    let jurisdiction = match optional_choice(&body, "jurisdiction", &JURISDICTIONS) {
        Ok(jurisdiction) => jurisdiction,
        Err(reply) => return reply,
    };
    match shared.create_database(name, hint, jurisdiction, shared.database_limit) {
        Ok(db) => Reply::ok(describe(&db, false)),
        Err(CreateError::Exists) => {
            Reply::error(400, 7502, "A database with that name already exists")
        }
        Err(CreateError::Limit) => Reply::error(
            400,
            7406,
            &format!(
                "System limit reached: databases per account ({})",
                shared.database_limit
            ),
        ),
    }
}

/// A database as the API describes it: in a list or a create's reply (`details: false`,
/// with `created_in_region`), or as one database's details (`GET` and the update's reply,
/// with `running_in_region` and `read_replication`).
pub(crate) fn describe(db: &Database, details: bool) -> Value {
    let (num_tables, file_size) = {
        let conn = lock(&db.conn);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
                [],
                |row| row.get(0),
            )
            .unwrap_or(0);
        (tables, database_size(&conn))
    };
    let mut value = json!({
        "uuid": db.uuid,
        "name": db.name,
        "created_at": db.created_at,
        "version": "production",
        "num_tables": num_tables,
        "file_size": file_size,
    });
    if details {
        value["running_in_region"] = json!(db.region);
        value["read_replication"] = json!({ "mode": *lock(&db.read_replication) });
    } else {
        value["created_in_region"] = json!(db.region);
    }
    if let Some(jurisdiction) = &db.jurisdiction {
        value["jurisdiction"] = json!(jurisdiction);
    }
    value
}

pub(crate) fn database_size(conn: &Connection) -> i64 {
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .unwrap_or(0)
    };
    pragma("page_count") * pragma("page_size")
}

pub(crate) fn list(shared: &Shared, query: &str) -> Reply {
    let mut name = None;
    let mut page = 1u64;
    let mut per_page = 1000u64.min(shared.max_per_page);
    for (key, value) in parse_query(query) {
        match key.as_str() {
            "name" => name = Some(value).filter(|v| !v.is_empty()),
            "page" => match value.parse::<u64>() {
                Ok(p) if p >= 1 => page = p,
                _ => return Reply::error(400, 7400, "Invalid page: a number from 1 is expected"),
            },
            "per_page" => match value.parse::<u64>() {
                Ok(p) => per_page = p.clamp(10, 10_000).min(shared.max_per_page),
                _ => {
                    return Reply::error(
                        400,
                        7400,
                        "Invalid per_page: a number from 10 to 10000 is expected",
                    )
                }
            },
            _ => {}
        }
    }
    let (total_count, on_page) = {
        let account = lock(&shared.account);
        let matching = account
            .by_seq
            .values()
            .filter(|db| name.as_deref().is_none_or(|n| db.name.contains(n)));
        let total = if shared.total_count_ignores_name {
            account.by_seq.len()
        } else {
            matching.clone().count()
        };
        let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let page_dbs: Vec<Arc<Database>> = matching
            .skip(skip)
            .take(per_page as usize)
            .cloned()
            .collect();
        (total, page_dbs)
    };
    // Each database is described outside the account lock.
    let result: Vec<Value> = on_page.iter().map(|db| describe(db, false)).collect();
    let count = result.len();
    let body = json!({
        "result": result,
        "result_info": {
            "page": page,
            "per_page": per_page,
            "count": count,
            "total_count": total_count,
        },
        "success": true,
        "errors": [],
        "messages": [],
    });
    Reply::json(200, body.to_string())
}

pub(crate) fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn not_found(id: &str) -> Reply {
    Reply::error(404, 7404, &format!("The database {id} could not be found"))
}

/// The database a path's `{id}` names, where only a uuid is taken (query, raw, delete, update).
pub(crate) fn lookup(shared: &Shared, id: &str) -> Result<Arc<Database>, Reply> {
    if !is_uuid(id) {
        return Err(Reply::error(
            400,
            7400,
            &format!("The database id {id:?} is not a valid uuid"),
        ));
    }
    shared
        .find(&id.to_ascii_lowercase())
        .ok_or_else(|| not_found(id))
}

/// The database `GET …/database/{x}` names: a uuid, else a database's exact name (a uuid that
/// names no database is tried as a name too, since names may look like uuids). `fields=` is
/// accepted and ignored: the reply always holds every field.
pub(crate) fn lookup_id_or_name(shared: &Shared, x: &str) -> Result<Arc<Database>, Reply> {
    let by_uuid = if is_uuid(x) {
        shared.find(&x.to_ascii_lowercase())
    } else {
        None
    };
    by_uuid
        .or_else(|| shared.find_by_name(x))
        .ok_or_else(|| not_found(x))
}

/// `PUT …/database/{uuid}` (`put`) or `PATCH`: `{"read_replication": {"mode": "auto" |
/// "disabled"}}`, required by a `PUT`, optional in a `PATCH`; answers the database's details.
pub(crate) fn update(db: &Database, body: &[u8], put: bool) -> Reply {
    let method = if put { "PUT" } else { "PATCH" };
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) && !put {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                return Reply::error(
                    400,
                    7400,
                    &format!("The body of a {method} must be a JSON object"),
                )
            }
        }
    };
    let mode = match body.get("read_replication") {
        None | Some(Value::Null) if !put => None,
        Some(Value::Object(settings)) => {
            let mode = settings.get("mode").unwrap_or(&Value::Null);
            match READ_REPLICATION_MODES
                .iter()
                .find(|m| mode.as_str() == Some(**m))
            {
                Some(known) => Some(*known),
                None => return invalid_mode(mode),
            }
        }
        _ => {
            return Reply::error(
                400,
                7400,
                &format!(
                    "Invalid read_replication: a {method} needs {{\"read_replication\": \
                     {{\"mode\": \"auto\" | \"disabled\"}}}}"
                ),
            )
        }
    };
    if let Some(mode) = mode {
        *lock(&db.read_replication) = mode;
    }
    Reply::ok(describe(db, true))
}

fn invalid_mode(mode: &Value) -> Reply {
    Reply::error(
        400,
        7400,
        &format!(
            "Invalid read_replication.mode: {mode} is not one of {}",
            READ_REPLICATION_MODES.join(", ")
        ),
    )
}
