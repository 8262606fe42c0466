//! The Workers backend (feature `worker`, wasm32): d1kit's typed queries on a workers-rs
//! [`D1Database`] binding.
//!
//! Values are bound and decoded by d1kit, not by workers-rs' serde path (which can panic on a
//! type mismatch): a wrong value is an [`Error`] naming the column or parameter. Integers
//! cross into JavaScript as numbers, so only the safe integers (±(2^53 − 1)) are accepted, in
//! both directions; anything larger is an error, never a silently rounded value. BLOBs are
//! bytes both ways. `run` reports D1's `meta` (changes, last_row_id, rows_read, rows_written,
//! duration), and [`Database::session`] gives D1's sequentially consistent sessions with
//! their bookmarks.
//!
//! Routing over a pool of bindings (`USERS_0`..`USERS_{N-1}`): [`connect`] (by the stable
//! hash), [`connect_routed`] (through the pool's configured `directory`: pins, moves and the
//! routing size it records), [`connect_via`] (a [`Directory`] pin first), [`fan_out`] (one
//! query on every shard, concurrently). `#[derive(Database)]` puts them on the database type:
//! `Users::connect(&env, user_id)`, `Users::connect_routed(&env, user_id).await`.

use crate::route::{self, Directory};
use crate::row::{OwnedRow, Row};
use crate::{
    Batch, Database as DatabaseDef, Error, Executor, FromRow, Query, RawResults, Result, RunResult,
    Statement, Value,
};
use ::worker::js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use ::worker::wasm_bindgen::{JsCast, JsValue};
use ::worker::wasm_bindgen_futures::JsFuture;
use ::worker::worker_sys::{
    D1Database as DatabaseSys, D1DatabaseSession as SessionSys, D1PreparedStatement as StatementSys,
};
use std::time::Duration;

pub use ::worker::{D1Database, Env, KvStore};

pub use crate::js_number::{number, MAX_SAFE_INTEGER};

/// A D1 database reached through a Worker binding: an [`Executor`].
#[derive(Debug, Clone)]
pub struct Database {
    inner: DatabaseSys,
}

/// Where a [`Session`] starts: D1's `withSession(...)` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStart<'a> {
    /// The first query goes to the primary (`"first-primary"`): it sees every write.
    FirstPrimary,
    /// The first query may go to any replica (`"first-unconstrained"`).
    FirstUnconstrained,
    /// Continue after the bookmark an earlier session returned (e.g. from the previous
    /// request of the same user): reads see at least what that session saw.
    Bookmark(&'a str),
}

/// A D1 session: queries in it are sequentially consistent, and [`Session::bookmark`] says
/// where it got to, for the next request to continue from.
#[derive(Debug, Clone)]
pub struct Session {
    inner: SessionSys,
}

impl Database {
    /// Wraps a workers-rs binding.
    pub fn new(database: D1Database) -> Database {
        let value: JsValue = database.into();
        Database {
            inner: value.unchecked_into(),
        }
    }

    /// The database bound as `binding` in the Worker's environment.
    pub fn from_env(env: &Env, binding: &str) -> Result<Database> {
        env.d1(binding).map(Database::new).map_err(|e| {
            Error::Backend(format!(
                "no D1 binding `{binding}` in this Worker's environment ({e}); \
                 is it in wrangler.toml's [[d1_databases]]?"
            ))
        })
    }

    /// Starts a D1 session (read replication): see [`SessionStart`].
    pub fn session(&self, start: SessionStart<'_>) -> Result<Session> {
        let arg = match start {
            SessionStart::FirstPrimary => "first-primary",
            SessionStart::FirstUnconstrained => "first-unconstrained",
            SessionStart::Bookmark(bookmark) => bookmark,
        };
        self.inner
            .with_session(Some(arg))
            .map(|inner| Session { inner })
            .map_err(|e| Error::Backend(format!("D1 withSession({arg:?}): {}", js_message(&e))))
    }
}

impl Session {
    /// The latest bookmark this session has seen (`None` before its first query): hand it to
    /// the next request's [`SessionStart::Bookmark`].
    pub fn bookmark(&self) -> Result<Option<String>> {
        self.inner
            .get_bookmark()
            .map_err(|e| Error::Backend(format!("D1 getBookmark(): {}", js_message(&e))))
    }
}

/// What both a database and a session do: prepare a statement, run a batch.
trait Target {
    fn prepare(&self, sql: &str) -> std::result::Result<StatementSys, JsValue>;
    fn batch(&self, statements: Array) -> std::result::Result<Promise, JsValue>;
}

impl Target for Database {
    fn prepare(&self, sql: &str) -> std::result::Result<StatementSys, JsValue> {
        self.inner.prepare(sql)
    }
    fn batch(&self, statements: Array) -> std::result::Result<Promise, JsValue> {
        self.inner.batch(statements)
    }
}

impl Target for Session {
    fn prepare(&self, sql: &str) -> std::result::Result<StatementSys, JsValue> {
        self.inner.session_prepare(sql)
    }
    fn batch(&self, statements: Array) -> std::result::Result<Promise, JsValue> {
        self.inner.session_batch(statements)
    }
}

macro_rules! executor {
    ($t:ty) => {
        impl Executor for $t {
            async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
                all(self, &q.into_statement()).await
            }
            async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
                Ok(all(self, &q.into_statement()).await?.into_iter().next())
            }
            async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
                run(self, &q.into_statement()).await
            }
            async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
                batch::<_, B>(self, b.into_statements()).await
            }
        }
    };
}
executor!(Database);
executor!(Session);

/// A prepared statement with its parameters bound.
fn prepare(target: &impl Target, statement: &Statement) -> Result<StatementSys> {
    let sql = &*statement.sql;
    let prepared = target.prepare(sql).map_err(|e| query_error(&e, sql))?;
    if statement.params.is_empty() {
        return Ok(prepared);
    }
    let args = Array::new_with_length(statement.params.len() as u32);
    for (i, value) in statement.params.iter().enumerate() {
        let js = to_js(value).map_err(|message| Error::Bind {
            index: i + 1,
            message,
        })?;
        args.set(i as u32, js);
    }
    prepared.bind(args).map_err(|e| query_error(&e, sql))
}

async fn settle(promise: std::result::Result<Promise, JsValue>, sql: &str) -> Result<JsValue> {
    let promise = promise.map_err(|e| query_error(&e, sql))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| query_error(&e, sql))
}

/// Every row, read with `raw({columnNames: true})`: arrays in column order (objects would
/// lose column order for integer-like names), names first.
async fn all<R: FromRow>(target: &impl Target, statement: &Statement) -> Result<Vec<R>> {
    let sql = &*statement.sql;
    let prepared = prepare(target, statement)?;
    let raw: Function = Reflect::get(&prepared, &"raw".into())
        .and_then(JsCast::dyn_into)
        .map_err(|e| query_error(&e, sql))?;
    let options = Object::new();
    Reflect::set(&options, &"columnNames".into(), &JsValue::TRUE)
        .map_err(|e| query_error(&e, sql))?;
    let promise = raw
        .call1(&prepared, &options)
        .map(JsCast::unchecked_into::<Promise>);
    let result: Array = settle(promise, sql)
        .await?
        .dyn_into()
        .map_err(|v| unexpected("raw() result", &v))?;
    let mut rows = result.iter();
    let names: Vec<String> = match rows.next() {
        Some(names) => Array::from(&names)
            .iter()
            .map(|n| n.as_string().unwrap_or_default())
            .collect(),
        None => return Ok(Vec::new()),
    };
    rows.map(|row| {
        let row = Array::from(&row);
        let values = names
            .iter()
            .enumerate()
            .map(|(i, name)| from_js(row.get(i as u32), name))
            .collect::<Result<Vec<Value>>>()?;
        R::from_row(&mut Row::new(&mut OwnedRow {
            names: &names,
            values,
        }))
    })
    .collect()
}

async fn run(target: &impl Target, statement: &Statement) -> Result<RunResult> {
    let sql = &*statement.sql;
    let prepared = prepare(target, statement)?;
    let result = settle(prepared.run(), sql).await?;
    Ok(meta_of(&result))
}

async fn batch<T: Target, B: Batch>(target: &T, statements: Vec<Statement>) -> Result<B::Output> {
    let prepared = Array::new_with_length(statements.len() as u32);
    for (i, statement) in statements.iter().enumerate() {
        prepared.set(i as u32, prepare(target, statement)?.into());
    }
    let what = format!("batch of {} statements", statements.len());
    let results: Array = settle(target.batch(prepared), &what)
        .await?
        .dyn_into()
        .map_err(|v| unexpected("batch() result", &v))?;
    let raws = results
        .iter()
        .map(|result| raw_results(&result))
        .collect::<Result<Vec<_>>>()?;
    B::decode(raws)
}

/// One batch result (`{results: [{col: value}, ..], meta}`) as rows in column order.
///
/// D1's batch has no raw mode, so the column order is the rows' key order, which JavaScript
/// keeps except for integer-like names (`"1"`), which it moves first.
fn raw_results(result: &JsValue) -> Result<RawResults> {
    let meta = meta_of(result);
    let rows = Reflect::get(result, &"results".into()).unwrap_or(JsValue::UNDEFINED);
    let rows: Array = if rows.is_undefined() || rows.is_null() {
        Array::new()
    } else {
        rows.dyn_into()
            .map_err(|v| unexpected("batch results", &v))?
    };
    let columns: Vec<String> = match rows.iter().next() {
        Some(first) => Object::keys(first.unchecked_ref::<Object>())
            .iter()
            .map(|k| k.as_string().unwrap_or_default())
            .collect(),
        None => Vec::new(),
    };
    let rows = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|name| {
                    let value = Reflect::get(&row, &name.into()).unwrap_or(JsValue::NULL);
                    from_js(value, name)
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RawResults {
        columns,
        rows,
        meta,
    })
}

/// D1's `meta` object as a [`RunResult`] (absent fields are 0).
fn meta_of(result: &JsValue) -> RunResult {
    let meta = Reflect::get(result, &"meta".into()).unwrap_or(JsValue::UNDEFINED);
    let number = |key: &str| {
        Reflect::get(&meta, &key.into())
            .ok()
            .and_then(|v| v.as_f64())
    };
    let count = |key: &str| number(key).filter(|n| *n >= 0.0).map_or(0, |n| n as u64);
    RunResult {
        changes: count("changes"),
        last_row_id: number("last_row_id").map_or(0, |n| n as i64),
        rows_read: count("rows_read"),
        rows_written: count("rows_written"),
        duration: number("duration")
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
    }
}

/// A value as D1 binds it; an integer a JS number cannot hold exactly is an error.
pub fn to_js(value: &Value) -> std::result::Result<JsValue, String> {
    if let Some(why) = crate::js_number::unsendable(value) {
        return Err(why);
    }
    Ok(match value {
        Value::Null => JsValue::NULL,
        Value::Integer(i) => JsValue::from_f64(*i as f64),
        Value::Real(r) => JsValue::from_f64(*r),
        Value::Text(s) => JsValue::from_str(s),
        Value::Blob(b) => Uint8Array::from(&b[..]).buffer().into(),
    })
}

/// A value D1 returned, as d1kit's [`Value`]: a JS number is an INTEGER when it is a safe
/// integer, else a REAL (so an integer beyond ±(2^53 - 1), already rounded by JavaScript,
/// fails to decode as `i64` instead of passing as a wrong number).
pub fn from_js(value: JsValue, column: &str) -> Result<Value> {
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(n) = value.as_f64() {
        return Ok(number(n));
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::Text(s));
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Integer(i64::from(b)));
    }
    if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        return Ok(Value::Blob(Uint8Array::new(buffer).to_vec()));
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(Value::Blob(bytes.to_vec()));
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        // Older D1 versions return a BLOB as an array of byte values.
        if let Some(bytes) = array
            .iter()
            .map(|b| {
                b.as_f64()
                    .filter(|n| (0.0..=255.0).contains(n) && n.fract() == 0.0)
            })
            .map(|n| n.map(|n| n as u8))
            .collect::<Option<Vec<u8>>>()
        {
            return Ok(Value::Blob(bytes));
        }
    }
    Err(Error::Decode {
        column: column.to_owned(),
        message: format!("D1 returned a JavaScript value d1kit cannot read: {value:?}"),
    })
}

fn unexpected(what: &str, value: &JsValue) -> Error {
    Error::Backend(format!("D1 returned an unexpected {what}: {value:?}"))
}

fn query_error(error: &JsValue, sql: &str) -> Error {
    Error::query(js_message(error), sql)
}

/// A thrown JS value's message, with its `cause` (where D1 puts SQLite's own words).
fn js_message(error: &JsValue) -> String {
    let message = |e: &JsValue| match e.dyn_ref::<::worker::js_sys::Error>() {
        Some(e) => String::from(e.message()),
        None => e.as_string().unwrap_or_else(|| format!("{e:?}")),
    };
    let mut text = message(error);
    if let Ok(cause) = Reflect::get(error, &"cause".into()) {
        if !cause.is_undefined() && !cause.is_null() {
            let cause = message(&cause);
            if !text.contains(&cause) {
                text = format!("{text} (cause: {cause})");
            }
        }
    }
    text
}

/// The executor of `tenant`'s shard of database `D`: the binding [`DatabaseDef::binding_for`]
/// names, by the hash over `D::SHARDS` alone.
///
/// On a pool with a directory ([`DatabaseDef::DIRECTORY`]) this ignores the directory's pins,
/// the tenants being moved and the routing size it records, so during or after a move it can
/// open a shard that does not hold the tenant: use [`connect_routed`] there.
pub fn connect<D: DatabaseDef>(env: &Env, tenant: &str) -> Result<Database> {
    Database::from_env(env, &D::binding_for(tenant))
}

/// The executor of `tenant`'s shard of pool `D`, as the pool's directory routes it
/// ([`DatabaseDef::DIRECTORY`], the `directory` key): the tenant's pin, else the hash over the
/// routing size the directory records (see [`route::router`]).
///
/// A tenant being moved is [`Error::TenantMoving`] (transient: retry in a moment). Each
/// isolate keeps one [`route::Router`] per pool, which reads the directory once per
/// [`route::router::TTL_MS`] (and a pinned tenant once per change of the directory): in the
/// steady state a request costs no query on the directory. An error for a pool without a
/// directory, naming the key to set.
///
/// While a pool shrinks, the directory can route a tenant to a shard at or beyond `D::SHARDS`:
/// a retired shard, which keeps its binding (`BINDING_<shard>`) until `d1kit reshard` has
/// drained it. That works for a pool configured with two shards or more; a pool configured
/// with one shard has the single binding `BINDING`, so a tenant the directory routes to any
/// other shard is an error (naming the shard) rather than a query on the wrong database.
pub async fn connect_routed<D: DatabaseDef>(env: &Env, tenant: &str) -> Result<Database> {
    let shard = shard_routed::<D>(env, tenant).await?;
    Database::from_env(env, &route::binding_of(D::BINDING, D::SHARDS, shard))
}

/// The shard [`connect_routed`] opens for `tenant` (to report it, or to open it yourself with
/// [`DatabaseDef::binding_of`]), with its errors.
pub async fn shard_routed<D: DatabaseDef>(env: &Env, tenant: &str) -> Result<u32> {
    let directory = D::DIRECTORY.ok_or_else(|| {
        Error::Backend(format!(
            "database `{}` has no directory to route its tenants through: set \
             `package.metadata.d1kit.databases.{}.directory` to a configured database of one \
             shard, or use `connect` (the hash alone)",
            D::NAME,
            D::NAME
        ))
    })?;
    let directory = Database::from_env(env, directory)?;
    let router = router_of(D::NAME);
    let now_ms = ::worker::Date::now().as_millis();
    let shard = router.shard(&directory, tenant, now_ms).await?;
    if D::SHARDS <= 1 && shard != 0 {
        return Err(Error::Backend(format!(
            "the directory of `{}` routes tenant `{tenant}` to shard {shard}, but `{}` is \
             configured with one shard (binding `{}`), which has no binding for other shards",
            D::NAME,
            D::NAME,
            D::BINDING
        )));
    }
    Ok(shard)
}

/// This isolate's router of the pool named `pool` (created on first use).
fn router_of(pool: &'static str) -> std::rc::Rc<route::Router> {
    thread_local! {
        static ROUTERS: std::cell::RefCell<
            std::collections::HashMap<&'static str, std::rc::Rc<route::Router>>,
        > = std::cell::RefCell::default();
    }
    // The borrow ends here, before any await of the caller.
    ROUTERS.with(|routers| routers.borrow_mut().entry(pool).or_default().clone())
}

/// [`connect`], and once per isolate and binding, a check that the database has applied
/// every migration embedded in this program ([`crate::migrate::check`]): code deployed ahead
/// of its schema fails at its first query with an error that names the missing migrations,
/// instead of with `no such column` somewhere later.
pub async fn connect_checked<D: DatabaseDef>(env: &Env, tenant: &str) -> Result<Database> {
    thread_local! {
        static CHECKED: std::cell::RefCell<std::collections::HashSet<String>> =
            std::cell::RefCell::default();
    }
    let binding = D::binding_for(tenant);
    let db = Database::from_env(env, &binding)?;
    if !CHECKED.with(|c| c.borrow().contains(&binding)) {
        crate::migrate::check(&db, D::MIGRATIONS).await?;
        CHECKED.with(|c| c.borrow_mut().insert(binding));
    }
    Ok(db)
}

/// The executor of `tenant`'s shard, looking for a pin in `directory` first.
pub async fn connect_via<D: DatabaseDef, Dir: Directory + ?Sized>(
    env: &Env,
    directory: &Dir,
    tenant: &str,
) -> Result<Database> {
    pool_via(env, directory, tenant, D::NAME, D::BINDING, D::SHARDS).await
}

/// The executor of `tenant`'s shard of the pool `binding` (`name` in errors) of `shards`
/// databases: its pin in `directory`, else the hash.
pub(crate) async fn pool_via<Dir: Directory + ?Sized>(
    env: &Env,
    directory: &Dir,
    tenant: &str,
    name: &str,
    binding: &str,
    shards: u32,
) -> Result<Database> {
    let shard = route::resolve_in(directory, tenant, name, shards).await?;
    Database::from_env(env, &route::binding_of(binding, shards, shard))
}

/// Runs `query()` on every shard of `D` concurrently and returns all rows, shard 0's first:
/// for admin queries across tenants. Any shard's error is the result.
pub async fn fan_out<D: DatabaseDef, Q: Query>(
    env: &Env,
    query: impl Fn() -> Q,
) -> Result<Vec<Q::Row>> {
    let shards = (0..D::SHARDS.max(1))
        .map(|shard| Database::from_env(env, &D::binding_of(shard)))
        .collect::<Result<Vec<_>>>()?;
    let rows = futures_util::future::try_join_all(shards.iter().map(|db| db.all(query()))).await?;
    Ok(rows.into_iter().flatten().collect())
}

/// A [`Directory`] in Workers KV: key `<prefix><tenant>`, value the shard number as text.
#[derive(Debug)]
pub struct KvDirectory {
    kv: KvStore,
    prefix: String,
}

impl KvDirectory {
    /// The directory in `kv`, its keys starting with `prefix` (e.g. `"shard:"`).
    pub fn new(kv: KvStore, prefix: impl Into<String>) -> KvDirectory {
        KvDirectory {
            kv,
            prefix: prefix.into(),
        }
    }

    /// The directory in the KV namespace bound as `binding`.
    pub fn from_env(env: &Env, binding: &str, prefix: impl Into<String>) -> Result<KvDirectory> {
        let kv = env
            .kv(binding)
            .map_err(|e| Error::Backend(format!("no KV binding `{binding}`: {e}")))?;
        Ok(KvDirectory::new(kv, prefix))
    }
}

impl Directory for KvDirectory {
    async fn lookup(&self, tenant: &str) -> Result<Option<u32>> {
        let key = format!("{}{tenant}", self.prefix);
        let text = self
            .kv
            .get(&key)
            .text()
            .await
            .map_err(|e| Error::Backend(format!("KV get `{key}`: {e}")))?;
        text.map(|t| {
            t.trim().parse::<u32>().map_err(|_| {
                Error::Backend(format!(
                    "KV key `{key}` holds {t:?}, which is not a shard number"
                ))
            })
        })
        .transpose()
    }

    async fn pin(&self, tenant: &str, shard: u32) -> Result<()> {
        let key = format!("{}{tenant}", self.prefix);
        self.kv
            .put(&key, shard.to_string())
            .map_err(|e| Error::Backend(format!("KV put `{key}`: {e}")))?
            .execute()
            .await
            .map_err(|e| Error::Backend(format!("KV put `{key}`: {e}")))
    }
}

/// What `#[derive(Database)]` adds with the `worker` feature: `connect`, `connect_checked`,
/// `connect_routed`, `connect_via` and `fan_out` on the database type. For a pool with a
/// `directory` (`routed`), `connect` and `connect_checked` are deprecated: they ignore the
/// directory, so a call to them is a warning that names `connect_routed`.
#[doc(hidden)]
#[macro_export]
macro_rules! __database_runtime {
    ($db:ident) => {
        $crate::__database_runtime!(@impl $db,);
    };
    // The Durable Object methods: d1-runtime/src/backend/durable.rs.
    ($db:ident, durable) => {
        $crate::__durable_runtime!($db);
    };
    ($db:ident, routed) => {
        $crate::__database_runtime!(@impl $db, #[deprecated(note = "this pool has a `directory`: `connect` ignores its pins and moves and can open a shard that lacks the tenant; use `connect_routed`")]);
    };
    (@impl $db:ident, $(#[$hashed:meta])*) => {
        impl $db {
            /// The executor of `tenant`'s shard: the binding `binding_for(tenant)` names, by
            /// the hash alone. On a pool with a `directory` this ignores its pins, moves and
            /// routing size (it can open a shard that lacks the tenant): use `connect_routed`.
            $(#[$hashed])*
            pub fn connect(
                env: &$crate::worker::Env,
                tenant: &str,
            ) -> $crate::Result<$crate::worker::Database> {
                $crate::worker::connect::<$db>(env, tenant)
            }

            /// `connect`, checking once per isolate that the shard has applied every
            /// embedded migration (an error names those it lacks).
            $(#[$hashed])*
            pub async fn connect_checked(
                env: &$crate::worker::Env,
                tenant: &str,
            ) -> $crate::Result<$crate::worker::Database> {
                $crate::worker::connect_checked::<$db>(env, tenant).await
            }

            /// The tenant's shard as the pool's directory routes it: use this (not
            /// `connect`) on a pool with a `directory`. `Error::TenantMoving` while the
            /// tenant is being moved: retry. An error on a pool without a directory.
            pub async fn connect_routed(
                env: &$crate::worker::Env,
                tenant: &str,
            ) -> $crate::Result<$crate::worker::Database> {
                $crate::worker::connect_routed::<$db>(env, tenant).await
            }

            /// The executor of `tenant`'s shard, a pin in `directory` first.
            pub async fn connect_via<Dir: $crate::route::Directory + ?Sized>(
                env: &$crate::worker::Env,
                directory: &Dir,
                tenant: &str,
            ) -> $crate::Result<$crate::worker::Database> {
                $crate::worker::connect_via::<$db, Dir>(env, directory, tenant).await
            }

            /// Runs `query()` on every shard concurrently; all rows, shard 0's first.
            pub async fn fan_out<Q: $crate::Query>(
                env: &$crate::worker::Env,
                query: impl Fn() -> Q,
            ) -> $crate::Result<::std::vec::Vec<Q::Row>> {
                $crate::worker::fan_out::<$db, Q>(env, query).await
            }
        }
    };
}
