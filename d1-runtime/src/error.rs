//! d1kit's one runtime error type.

/// What went wrong while running a query, decoding a row or migrating a database.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A value could not become the Rust type of its column (never a panic).
    Decode {
        /// The result column's name.
        column: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A parameter's value could not be bound (e.g. an integer D1 cannot represent).
    Bind {
        /// The parameter's number (1-based).
        index: usize,
        /// Why.
        message: String,
    },
    /// The database rejected the statement.
    Query {
        /// The database's message.
        message: String,
        /// The statement that failed (its first 200 characters).
        sql: String,
    },
    /// A migration could not be applied; it and every later one were left unapplied.
    Migration {
        /// The migration's file name.
        name: String,
        /// The database's message.
        message: String,
    },
    /// A migration that was already applied has been edited since.
    MigrationEdited {
        /// The migration's file name.
        name: String,
        /// The checksum recorded when it was applied.
        recorded: String,
        /// The checksum of the migration as it is now.
        current: String,
    },
    /// The database has applied a migration this program does not know (a newer program ran).
    UnknownMigration {
        /// The migration's name as recorded.
        name: String,
    },
    /// The database has not applied migrations this program expects (the code is newer than
    /// the schema).
    SchemaBehind {
        /// The migrations it lacks, in order.
        pending: Vec<String>,
    },
    /// A file or directory could not be used.
    Io {
        /// The path concerned.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The Cloudflare API refused a request, or could not be reached (the REST backend), after
    /// any retries.
    Api {
        /// The HTTP status (0 when no response came: connection refused, timeout...).
        status: u16,
        /// Cloudflare's error code (`7502`: name taken, `7406`: database limit...), if any.
        code: Option<u32>,
        /// What the API said.
        message: String,
    },
    /// The tenant is being moved to another shard (`d1kit reshard`, `d1kit tenant move`):
    /// nothing was read or written; try again in a moment. Its data is whole on one shard.
    TenantMoving {
        /// The tenant, when the router refused it (a write the old shard refused does not
        /// say whose it was).
        tenant: Option<String>,
    },
    /// The tenant's own database is being deleted (`d1kit tenant delete`, `Tenants::delete`):
    /// nothing was read or written, and nothing will be until the deletion finishes.
    TenantDeleted {
        /// The tenant.
        tenant: String,
    },
    /// Anything else the backend reports.
    Backend(String),
}

// Written out rather than derived with thiserror: a proc-macro dependency of d1-runtime is
// loaded (dlopen'ed) by rustc in every build of every crate that uses d1kit, a few
// milliseconds each time (`scripts/bench-compile.sh`, "first query").
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Decode { column, message } => write!(f, "column `{column}`: {message}"),
            Error::Bind { index, message } => write!(f, "parameter {index}: {message}"),
            Error::Query { message, sql } => write!(f, "{message}\n  in: {sql}"),
            Error::Migration { name, message } => write!(
                f,
                "migration `{name}` failed, nothing of it was applied: {message}"
            ),
            Error::MigrationEdited {
                name,
                recorded,
                current,
            } => write!(
                f,
                "migration `{name}` was edited after it was applied (recorded sha256 {recorded}, \
                 file now {current}); add a new migration instead of editing an applied one"
            ),
            Error::UnknownMigration { name } => write!(
                f,
                "the database has applied migration `{name}`, which this program does not have"
            ),
            Error::SchemaBehind { pending } => write!(
                f,
                "the database has not applied {} this program expects: {}; run `d1kit migrate` \
                 (or `wrangler d1 migrations apply`) before this code runs",
                if pending.len() == 1 {
                    "migration"
                } else {
                    "migrations"
                },
                pending
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            Error::Api {
                status,
                code,
                message,
            } => write!(f, "Cloudflare API: {message}{}", api_suffix(*status, *code)),
            Error::TenantMoving { tenant } => write!(
                f,
                "{} being moved to another shard: try again in a moment",
                tenant.as_deref().map_or_else(
                    || "the tenant is".to_string(),
                    |t| format!("tenant `{t}` is")
                )
            ),
            Error::TenantDeleted { tenant } => write!(
                f,
                "tenant `{tenant}`'s database is being deleted (`d1kit tenant delete`): it serves \
                 nothing, and gets a new, empty database only once the deletion has finished"
            ),
            Error::Backend(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Whether `e` is the process (EMFILE) or the system (ENFILE) running out of file descriptors:
/// transient, since they come back as files close.
pub(crate) fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24)) && cfg!(unix)
}

/// `Result<T, d1kit::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn api_suffix(status: u16, code: Option<u32>) -> String {
    match (status, code) {
        (0, _) => String::new(),
        (status, Some(code)) => format!(" (HTTP {status}, code {code})"),
        (status, None) => format!(" (HTTP {status})"),
    }
}

impl Error {
    /// Whether trying again later may succeed: HTTP 429 and 5xx, a request that got no
    /// answer, a database busy with another writer, a tenant being moved, too many files open
    /// at once. A fleet migration retries these.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api { status, .. } => matches!(status, 0 | 429 | 500..=599),
            Error::TenantMoving { .. } => true,
            Error::Io { source, .. } => out_of_descriptors(source),
            Error::Query { message, .. }
            | Error::Migration { message, .. }
            | Error::Backend(message) => {
                message.contains("database is locked")
                    || message.contains("SQLITE_BUSY")
                    // Locally, most often too many files open at once.
                    || message.contains("unable to open database file")
            }
            _ => false,
        }
    }

    /// The same error, its message saying what was being done (`what`), its kind unchanged
    /// (so a transient error stays transient).
    pub fn context(self, what: &str) -> Error {
        match self {
            Error::Api {
                status,
                code,
                message,
            } => Error::Api {
                status,
                code,
                message: format!("{what}: {message}"),
            },
            Error::Backend(message) => Error::Backend(format!("{what}: {message}")),
            Error::Migration { name, message } => Error::Migration {
                name,
                message: format!("{message}\n  while {what}"),
            },
            other => other,
        }
    }

    /// The same error, raised by statement `i` (from 0) of a batch of `n`: a query error's
    /// message says which statement it was.
    #[cfg_attr(not(any(feature = "local", feature = "durable")), allow(dead_code))]
    pub(crate) fn in_batch(self, i: usize, n: usize) -> Error {
        match self {
            Error::Query { message, sql } => Error::Query {
                message: format!("batch statement {} of {n}: {message}", i + 1),
                sql,
            },
            other => other,
        }
    }

    /// Cloudflare's error code, when this is an [`Error::Api`] that carries one.
    pub fn api_code(&self) -> Option<u32> {
        match self {
            Error::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// A statement the database rejected, with the start of its SQL (every backend's errors).
    #[cfg_attr(
        not(any(feature = "local", feature = "worker", feature = "rest")),
        allow(dead_code)
    )]
    pub(crate) fn query(message: impl Into<String>, sql: &str) -> Error {
        let message = message.into();
        if message.contains(crate::route::router::FENCE_MESSAGE) {
            return Error::TenantMoving { tenant: None };
        }
        let trimmed = sql.trim();
        let mut shown: String = trimmed.chars().take(200).collect();
        if shown.len() < trimmed.len() {
            shown.push('…');
        }
        Error::Query {
            message,
            sql: shown,
        }
    }
}
