//! Routing through a pool's directory database (`directory = "<name>"` in the
//! configuration): the pins of `d1kit_directory` win over the hash, a tenant marked moving is
//! refused with [`Error::TenantMoving`], and the hash runs over the pool size the directory
//! records in `d1kit_routing` (which `d1kit reshard` changes only once every tenant is where
//! that size routes it).
//!
//! A [`Router`] keeps what it read for [`TTL_MS`]: with no pins and no move running, a
//! request costs no query at all; with pins, one lookup per tenant per change of the
//! directory. Every change of a pin bumps `d1kit_routing.generation`, and a router that sees
//! a new generation forgets every tenant it knew. A mover that marks a tenant moving waits
//! [`SETTLE_MS`] (more than the TTL) before copying it, so by then no router still sends the
//! tenant's requests to its old shard.

use super::shard_for;
use crate::executor::{Executor, Sql};
use crate::{Error, Result, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a [`Router`] trusts the routing it read, in milliseconds.
pub const TTL_MS: u64 = 2_000;

/// How long a mover waits between marking tenants moving and copying them: more than
/// [`TTL_MS`], with room for requests that were routed just before the mark.
pub const SETTLE_MS: u64 = 3 * TTL_MS;

/// The message of the error a shard raises when a write reaches a tenant being moved (a
/// trigger the mover installs): read back as [`Error::TenantMoving`].
pub const FENCE_MESSAGE: &str = "d1kit: tenant moving";

/// The pool's pins: tenant → shard, and the tenant's state there: `0` pinned, `1` held
/// during a reshard, `2` being moved off it ([`crate::reshard::online`]).
pub const PINS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS d1kit_directory (tenant TEXT PRIMARY KEY, shard INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID";

/// The pool size routing hashes over, the next one while a reshard runs (and whether it is
/// still collecting the tenants that move), and the generation every change bumps.
pub const ROUTING_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS d1kit_routing (id INTEGER PRIMARY KEY CHECK (id = 1), shards INTEGER NOT NULL CHECK (shards >= 1), next_shards INTEGER CHECK (next_shards >= 1), collecting INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 0)";

/// What a router reads first: the routing size and generation, and whether any pin exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The pool size tenants are hashed over.
    pub shards: u32,
    /// While a reshard runs, the size it brings the pool to.
    pub next: Option<u32>,
    /// Whether the reshard is still finding the tenants that move: a tenant without a pin
    /// that the two sizes route apart is refused meanwhile.
    pub collecting: bool,
    /// Bumped by every change of a pin or of `shards`.
    pub generation: i64,
    /// Whether `d1kit_directory` holds any pin (none: no lookup per tenant).
    pub pinned: bool,
}

/// A tenant's row in `d1kit_directory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// Served from this shard.
    At(u32),
    /// Being moved off this shard: refused until the move ends.
    Moving(u32),
}

fn shard_number(n: i64, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        Error::Backend(format!(
            "the directory holds {n} as {what}, which is not a shard number"
        ))
    })
}

/// Creates the directory's tables if they are missing (adding `moving` to a `d1kit_directory`
/// made before it existed) and records `shards` as the routing size unless one is recorded.
/// Returns the routing size in effect.
pub async fn set_up<E: Executor + ?Sized>(directory: &E, shards: u32) -> Result<u32> {
    directory
        .batch((
            Sql::<()>::new(PINS_SCHEMA, Vec::new()),
            Sql::<()>::new(super::TableDirectory::<E>::DATABASES_SCHEMA, Vec::new()),
            Sql::<()>::new(ROUTING_SCHEMA, Vec::new()),
        ))
        .await?;
    let columns: Vec<(String,)> = directory
        .all(Sql::new(
            "SELECT name FROM pragma_table_info('d1kit_directory')",
            Vec::new(),
        ))
        .await?;
    if !columns.iter().any(|(c,)| c == "state") {
        directory
            .run(Sql::<()>::new(
                "ALTER TABLE d1kit_directory ADD COLUMN state INTEGER NOT NULL DEFAULT 0",
                Vec::new(),
            ))
            .await?;
    }
    directory
        .run(Sql::<()>::new(
            "INSERT INTO d1kit_routing (id, shards) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
            vec![Value::Integer(shards.max(1).into())],
        ))
        .await?;
    Ok(snapshot(directory).await?.shards)
}

/// Reads the routing size, the generation and whether any tenant is pinned.
pub async fn snapshot<E: Executor + ?Sized>(directory: &E) -> Result<Snapshot> {
    let row = directory
        .first(Sql::<(i64, Option<i64>, i64, i64, i64)>::new(
            "SELECT shards, next_shards, collecting, generation, EXISTS (SELECT 1 FROM d1kit_directory) FROM d1kit_routing WHERE id = 1",
            Vec::new(),
        ))
        .await
        .map_err(|e| match e {
            Error::Query { message, .. } if message.contains("no such table") => Error::Backend(
                "the pool's directory has no d1kit tables yet: run `d1kit migrate` (it creates them)"
                    .into(),
            ),
            e => e,
        })?;
    let (shards, next, collecting, generation, pinned) = row.ok_or_else(|| {
        Error::Backend(
            "the pool's directory records no routing size: run `d1kit migrate` (it records it)"
                .into(),
        )
    })?;
    Ok(Snapshot {
        shards: shard_number(shards, "the routing size")?,
        next: next
            .map(|n| shard_number(n, "the next routing size"))
            .transpose()?,
        collecting: collecting != 0,
        generation,
        pinned: pinned != 0,
    })
}

/// `tenant`'s row in the directory, if it has one.
pub async fn pin_of<E: Executor + ?Sized>(directory: &E, tenant: &str) -> Result<Option<Pin>> {
    let row = directory
        .first(Sql::<(i64, i64)>::new(
            "SELECT shard, state FROM d1kit_directory WHERE tenant = ?1",
            vec![Value::from(tenant)],
        ))
        .await?;
    row.map(|(shard, state)| {
        let shard = shard_number(shard, &format!("the shard of tenant `{tenant}`"))?;
        Ok(if state == 2 {
            Pin::Moving(shard)
        } else {
            Pin::At(shard)
        })
    })
    .transpose()
}

/// Where a tenant goes, given its pin and the routing: its pin; else its hash over the
/// routing size, or while a reshard runs and the next size routes it elsewhere, its hash over
/// the next size (a tenant without a pin then has no rows yet), refused while the reshard is
/// still collecting the tenants that move.
pub fn place(tenant: &str, pin: Option<Pin>, routing: &Snapshot) -> Result<u32> {
    let moving = || Error::TenantMoving {
        tenant: Some(tenant.to_owned()),
    };
    match pin {
        Some(Pin::At(shard)) => Ok(shard),
        Some(Pin::Moving(_)) => Err(moving()),
        None => {
            let now = shard_for(tenant.as_bytes(), routing.shards);
            match routing.next.map(|n| shard_for(tenant.as_bytes(), n)) {
                Some(next) if next != now && routing.collecting => Err(moving()),
                Some(next) => Ok(next),
                None => Ok(now),
            }
        }
    }
}

/// The most tenants a router remembers between two changes of the directory.
const REMEMBERED: usize = 10_000;

#[derive(Debug, Default)]
struct State {
    read_at: Option<u64>,
    snapshot: Option<Snapshot>,
    tenants: HashMap<String, Option<Pin>>,
}

/// Routes a pool's tenants through its directory, remembering what it read (see the module's
/// documentation). One per pool and process (a Worker keeps one per isolate); it can be
/// shared between threads.
#[derive(Debug)]
pub struct Router {
    ttl_ms: u64,
    state: Mutex<State>,
}

impl Default for Router {
    fn default() -> Router {
        Router::with_ttl(TTL_MS)
    }
}

impl Router {
    /// A router that trusts what it read for [`TTL_MS`].
    pub fn new() -> Router {
        Router::default()
    }

    /// A router that trusts what it read for `ttl_ms` milliseconds: a mover must then wait
    /// longer than that between marking a tenant moving and copying it.
    pub fn with_ttl(ttl_ms: u64) -> Router {
        Router {
            ttl_ms,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shard of `tenant` at time `now_ms` (milliseconds on any clock that only moves
    /// forward): its pin in `directory`, else the hash over the routing size. A tenant being
    /// moved is [`Error::TenantMoving`]: try again in a moment.
    pub async fn shard<E: Executor + ?Sized>(
        &self,
        directory: &E,
        tenant: &str,
        now_ms: u64,
    ) -> Result<u32> {
        let fresh = {
            let state = self.state();
            match (state.read_at, state.snapshot) {
                (Some(at), Some(s)) if now_ms.saturating_sub(at) < self.ttl_ms => Some(s),
                _ => None,
            }
        };
        let snapshot = match fresh {
            Some(s) => s,
            None => {
                let s = snapshot(directory).await?;
                let mut state = self.state();
                if state.snapshot.map(|old| old.generation) != Some(s.generation) {
                    state.tenants.clear();
                }
                state.snapshot = Some(s);
                state.read_at = Some(now_ms);
                s
            }
        };
        if !snapshot.pinned {
            return place(tenant, None, &snapshot);
        }
        let known = self.state().tenants.get(tenant).copied();
        let pin = match known {
            Some(pin) => pin,
            None => {
                let pin = pin_of(directory, tenant).await?;
                let mut state = self.state();
                // Only if no newer generation was seen meanwhile.
                if state.snapshot.map(|s| s.generation) == Some(snapshot.generation) {
                    if state.tenants.len() >= REMEMBERED {
                        state.tenants.clear();
                    }
                    state.tenants.insert(tenant.to_owned(), pin);
                }
                pin
            }
        };
        place(tenant, pin, &snapshot)
    }

    /// Forgets everything read: the next request reads the directory again.
    pub fn forget(&self) {
        *self.state() = State::default();
    }
}

#[cfg(all(test, feature = "local"))]
mod tests {
    use super::*;
    use crate::local::{block_on, Database};

    /// Counts the statements run, to show what a request costs.
    struct Counting<'a> {
        db: &'a Database,
        statements: std::cell::Cell<usize>,
    }

    impl Executor for Counting<'_> {
        async fn all<Q: crate::Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
            self.statements.set(self.statements.get() + 1);
            self.db.all(q).await
        }
        async fn first<Q: crate::Query>(&self, q: Q) -> Result<Option<Q::Row>> {
            self.statements.set(self.statements.get() + 1);
            self.db.first(q).await
        }
        async fn run<Q: crate::Query>(&self, q: Q) -> Result<crate::RunResult> {
            self.statements.set(self.statements.get() + 1);
            self.db.run(q).await
        }
        async fn batch<B: crate::Batch>(&self, b: B) -> Result<B::Output> {
            self.statements.set(self.statements.get() + 1);
            self.db.batch(b).await
        }
    }

    #[test]
    fn no_pins_cost_no_query_until_the_ttl_ends() {
        block_on(async {
            let db = Database::open_in_memory().unwrap();
            assert_eq!(set_up(&db, 4).await.unwrap(), 4);
            assert_eq!(set_up(&db, 5).await.unwrap(), 4, "a recorded size is kept");
            let dir = Counting {
                db: &db,
                statements: 0.into(),
            };
            let router = Router::with_ttl(1_000);
            for (i, tenant) in ["alice", "bob", "carol"].iter().enumerate() {
                let shard = router.shard(&dir, tenant, i as u64).await.unwrap();
                assert_eq!(shard, shard_for(tenant.as_bytes(), 4));
            }
            assert_eq!(dir.statements.get(), 1, "one read for three requests");
            router.shard(&dir, "alice", 1_000).await.unwrap();
            assert_eq!(dir.statements.get(), 2, "read again once the TTL is over");
        });
    }

    #[test]
    fn pins_and_moves_are_seen_once_the_generation_changes() {
        block_on(async {
            let db = Database::open_in_memory().unwrap();
            set_up(&db, 4).await.unwrap();
            let router = Router::with_ttl(100);
            let hashed = shard_for(b"alice", 4);
            let other = (hashed + 1) % 4;
            assert_eq!(router.shard(&db, "alice", 0).await.unwrap(), hashed);
            db.batch((
                Sql::<()>::new(
                    "INSERT INTO d1kit_directory (tenant, shard, state) VALUES ('alice', ?1, 2)",
                    vec![Value::Integer(hashed.into())],
                ),
                Sql::<()>::new(
                    "UPDATE d1kit_routing SET generation = generation + 1",
                    Vec::new(),
                ),
            ))
            .await
            .unwrap();
            // Within the TTL the old answer stands; after it, the tenant is refused.
            assert_eq!(router.shard(&db, "alice", 50).await.unwrap(), hashed);
            let err = router.shard(&db, "alice", 100).await.unwrap_err();
            assert!(matches!(err, Error::TenantMoving { .. }), "{err}");
            assert!(err.is_transient());
            assert_eq!(
                router.shard(&db, "bob", 100).await.unwrap(),
                shard_for(b"bob", 4)
            );
            db.batch((
                Sql::<()>::new(
                    "UPDATE d1kit_directory SET shard = ?1, state = 0",
                    vec![Value::Integer(other.into())],
                ),
                Sql::<()>::new(
                    "UPDATE d1kit_routing SET generation = generation + 1",
                    Vec::new(),
                ),
            ))
            .await
            .unwrap();
            assert_eq!(router.shard(&db, "alice", 200).await.unwrap(), other);
        });
    }

    #[test]
    fn a_directory_without_its_tables_says_what_to_run() {
        block_on(async {
            let db = Database::open_in_memory().unwrap();
            let err = Router::new().shard(&db, "alice", 0).await.unwrap_err();
            assert!(err.to_string().contains("run `d1kit migrate`"), "{err}");
        });
    }

    #[test]
    fn an_old_directory_table_gains_the_moving_column() {
        block_on(async {
            let db = Database::open_in_memory().unwrap();
            db.run(Sql::<()>::new(
                "CREATE TABLE d1kit_directory (tenant TEXT PRIMARY KEY, shard INTEGER NOT NULL) WITHOUT ROWID",
                Vec::new(),
            ))
            .await
            .unwrap();
            db.run(Sql::<()>::new(
                "INSERT INTO d1kit_directory VALUES ('alice', 3)",
                Vec::new(),
            ))
            .await
            .unwrap();
            set_up(&db, 4).await.unwrap();
            assert_eq!(pin_of(&db, "alice").await.unwrap(), Some(Pin::At(3)));
        });
    }
}
