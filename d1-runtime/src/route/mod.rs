//! Tenant key → shard: a stable hash of the key, then jump consistent hashing, so growing the
//! pool from N to N+1 shards moves only about 1/(N+1) of the tenants.

use crate::{Database, Error, Executor, Result, Sql, Value};
use std::collections::HashMap;
use std::sync::Mutex;

pub mod router;
pub use router::{Pin, Router};

/// FNV-1a, 64 bits: a fixed, documented hash (std's `DefaultHasher` may change between
/// releases, and a tenant must never change shards because the compiler did).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Jump consistent hash (Lamping & Veach, 2014): `key` → a bucket in `0..buckets`.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let buckets = i64::from(buckets.max(1));
    let (mut b, mut j) = (-1i64, 0i64);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // 0 <= b < buckets <= u32::MAX
    b as u32
}

/// The shard of `tenant` in a pool of `shards` databases (0 when `shards` is 0 or 1).
pub fn shard_for(tenant: &[u8], shards: u32) -> u32 {
    jump_hash(stable_hash(tenant), shards)
}

/// The binding of shard `shard` of a pool named `binding` with `shards` databases:
/// `BINDING_<shard>`, or `BINDING` alone when the pool has one database.
pub fn binding_of(binding: &str, shards: u32, shard: u32) -> String {
    if shards <= 1 {
        binding.to_owned()
    } else {
        format!("{binding}_{shard}")
    }
}

/// Where tenants pinned to a shard are written down: looked up before the hash, so a pinned
/// tenant stays on its shard whatever the hash says (to move a heavy tenant, or to keep
/// tenants in place while the pool grows).
///
/// Implementations: [`MemoryDirectory`] (tests, a fixed map), [`TableDirectory`] (a D1
/// table, through any executor), and with the `worker` feature `worker::KvDirectory`
/// (Workers KV).
#[allow(async_fn_in_trait)] // not Send: workers-rs types are !Send
pub trait Directory {
    /// The shard `tenant` is pinned to, if it is.
    async fn lookup(&self, tenant: &str) -> Result<Option<u32>>;
    /// Pins `tenant` to `shard` (replacing an earlier pin).
    async fn pin(&self, tenant: &str, shard: u32) -> Result<()>;
}

/// Where each tenant's own database is written down, in per-tenant-database mode
/// (`rest::Tenants`): tenant → database id.
///
/// Implementations: [`MemoryDirectory`] and [`TableDirectory`] (a D1 table, through any
/// executor), the same types that hold shard pins.
#[allow(async_fn_in_trait)] // not Send: workers-rs types are !Send
pub trait DatabaseDirectory {
    /// The id of `tenant`'s database, if it has one.
    async fn database_of(&self, tenant: &str) -> Result<Option<String>>;
    /// Records `database_id` as `tenant`'s database unless the tenant already has one, and
    /// returns the id the directory holds afterwards (the first recorded wins).
    async fn record(&self, tenant: &str, database_id: &str) -> Result<String>;
    /// Marks `tenant`'s record as being deleted, keeping its database id, and returns that id
    /// (`None`: the tenant has no record). Idempotent: a tenant already marked gives its id
    /// again. From then on [`database_of`](DatabaseDirectory::database_of) and
    /// [`record`](DatabaseDirectory::record) answer [`Error::TenantDeleted`] for it, until
    /// [`remove`](DatabaseDirectory::remove).
    async fn mark_deleting(&self, tenant: &str) -> Result<Option<String>>;
    /// Removes `tenant`'s record, whatever its state (after its database is gone).
    async fn remove(&self, tenant: &str) -> Result<()>;
}

impl<T: DatabaseDirectory + ?Sized> DatabaseDirectory for &T {
    async fn database_of(&self, tenant: &str) -> Result<Option<String>> {
        (**self).database_of(tenant).await
    }
    async fn record(&self, tenant: &str, database_id: &str) -> Result<String> {
        (**self).record(tenant, database_id).await
    }
    async fn mark_deleting(&self, tenant: &str) -> Result<Option<String>> {
        (**self).mark_deleting(tenant).await
    }
    async fn remove(&self, tenant: &str) -> Result<()> {
        (**self).remove(tenant).await
    }
}

/// How a directory records a tenant whose database is being deleted: its `database_id` with
/// this prefix (`deleting:<uuid>`), so the table keeps its shape, the change is one atomic
/// update, and a program that does not know the mark fails to open the id rather than
/// reaching the database.
pub const DELETING: &str = "deleting:";

/// A recorded database id as a lookup answers it: the id, or [`Error::TenantDeleted`] when
/// the record carries the [`DELETING`] mark.
fn live_id(tenant: &str, recorded: Option<String>) -> Result<Option<String>> {
    match recorded {
        Some(id) if id.starts_with(DELETING) => Err(Error::TenantDeleted {
            tenant: tenant.to_owned(),
        }),
        other => Ok(other),
    }
}

/// A recorded id without its [`DELETING`] mark.
pub fn unmarked(recorded: &str) -> &str {
    recorded.strip_prefix(DELETING).unwrap_or(recorded)
}

/// The shard of `tenant` in database `D`: its pin in `directory` if it has one, else
/// [`Database::shard_for`]. A pin outside the pool is an error, not a silent fallback.
pub async fn resolve<D: Database, Dir: Directory + ?Sized>(
    directory: &Dir,
    tenant: &str,
) -> Result<u32> {
    resolve_in(directory, tenant, D::NAME, D::SHARDS).await
}

/// The shard of `tenant` in the pool `pool` (its name, for errors) of `shards` databases:
/// its pin in `directory`, else [`shard_for`].
pub async fn resolve_in<Dir: Directory + ?Sized>(
    directory: &Dir,
    tenant: &str,
    pool: &str,
    shards: u32,
) -> Result<u32> {
    match directory.lookup(tenant).await? {
        Some(shard) if shard >= shards.max(1) => Err(Error::Backend(format!(
            "tenant `{tenant}` is pinned to shard {shard}, but `{pool}` has {shards} shard(s)"
        ))),
        Some(shard) => Ok(shard),
        None => Ok(shard_for(tenant.as_bytes(), shards)),
    }
}

/// A directory held in memory: for tests, or a fixed set of pins compiled in. It can be
/// shared between threads.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    pins: Mutex<HashMap<String, u32>>,
    databases: Mutex<HashMap<String, String>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryDirectory {
    /// An empty directory: every tenant goes where the hash puts it.
    pub fn new() -> MemoryDirectory {
        MemoryDirectory::default()
    }
}

impl Directory for MemoryDirectory {
    async fn lookup(&self, tenant: &str) -> Result<Option<u32>> {
        Ok(locked(&self.pins).get(tenant).copied())
    }
    async fn pin(&self, tenant: &str, shard: u32) -> Result<()> {
        locked(&self.pins).insert(tenant.to_owned(), shard);
        Ok(())
    }
}

impl DatabaseDirectory for MemoryDirectory {
    async fn database_of(&self, tenant: &str) -> Result<Option<String>> {
        live_id(tenant, locked(&self.databases).get(tenant).cloned())
    }
    async fn record(&self, tenant: &str, database_id: &str) -> Result<String> {
        let mut databases = locked(&self.databases);
        let id = databases
            .entry(tenant.to_owned())
            .or_insert_with(|| database_id.to_owned());
        live_id(tenant, Some(id.clone())).map(|id| id.unwrap_or_default())
    }
    async fn mark_deleting(&self, tenant: &str) -> Result<Option<String>> {
        let mut databases = locked(&self.databases);
        Ok(databases.get_mut(tenant).map(|id| {
            if !id.starts_with(DELETING) {
                *id = format!("{DELETING}{id}");
            }
            unmarked(id).to_owned()
        }))
    }
    async fn remove(&self, tenant: &str) -> Result<()> {
        locked(&self.databases).remove(tenant);
        Ok(())
    }
}

/// A directory kept in a table of a designated database (not one of the pool's shards),
/// reached through any [`Executor`]: a Worker binding, the local backend, or REST.
///
/// The pins are the table `d1kit_directory(tenant TEXT PRIMARY KEY, shard INTEGER NOT NULL)`,
/// tenants' own databases `d1kit_tenant_databases(tenant TEXT PRIMARY KEY, database_id TEXT
/// NOT NULL, created_at)`; [`TableDirectory::create_table`] creates both, or put
/// [`TableDirectory::SCHEMA`] and [`TableDirectory::DATABASES_SCHEMA`] in a migration of the
/// designated database.
#[derive(Debug)]
pub struct TableDirectory<'e, E: ?Sized> {
    executor: &'e E,
}

impl<'e, E: Executor + ?Sized> TableDirectory<'e, E> {
    /// The table, as a statement for a migration.
    pub const SCHEMA: &'static str = router::PINS_SCHEMA;

    /// The table of tenants' own databases, as a statement for a migration.
    pub const DATABASES_SCHEMA: &'static str = "CREATE TABLE IF NOT EXISTS d1kit_tenant_databases (tenant TEXT PRIMARY KEY, database_id TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP) WITHOUT ROWID";

    /// A directory in the database `executor` runs on.
    pub fn new(executor: &'e E) -> Self {
        TableDirectory { executor }
    }

    /// Creates the tables if they do not exist (and `d1kit_routing`, whose generation every
    /// pin bumps; [`router::set_up`] also records a routing size).
    pub async fn create_table(&self) -> Result<()> {
        self.executor
            .batch((
                Sql::<()>::new(Self::SCHEMA, Vec::new()),
                Sql::<()>::new(Self::DATABASES_SCHEMA, Vec::new()),
                Sql::<()>::new(router::ROUTING_SCHEMA, Vec::new()),
            ))
            .await
            .map(drop)
    }
}

impl<E: Executor + ?Sized> DatabaseDirectory for TableDirectory<'_, E> {
    async fn database_of(&self, tenant: &str) -> Result<Option<String>> {
        let row = self
            .executor
            .first(Sql::<(String,)>::new(
                "SELECT database_id FROM d1kit_tenant_databases WHERE tenant = ?1",
                vec![Value::from(tenant)],
            ))
            .await?;
        live_id(tenant, row.map(|(id,)| id))
    }
    async fn record(&self, tenant: &str, database_id: &str) -> Result<String> {
        let (_, held) = self
            .executor
            .batch((
                Sql::<()>::new(
                    "INSERT INTO d1kit_tenant_databases (tenant, database_id) VALUES (?1, ?2) \
                     ON CONFLICT (tenant) DO NOTHING",
                    vec![Value::from(tenant), Value::from(database_id)],
                ),
                Sql::<(String,)>::new(
                    "SELECT database_id FROM d1kit_tenant_databases WHERE tenant = ?1",
                    vec![Value::from(tenant)],
                ),
            ))
            .await?;
        let held = held
            .rows
            .into_iter()
            .next()
            .map(|(id,)| id)
            .ok_or_else(|| {
                Error::Backend(format!(
                "d1kit_tenant_databases has no row for tenant `{tenant}` right after recording it"
            ))
            })?;
        live_id(tenant, Some(held)).map(|id| id.unwrap_or_default())
    }
    async fn mark_deleting(&self, tenant: &str) -> Result<Option<String>> {
        let (_, held) = self
            .executor
            .batch((
                Sql::<()>::new(
                    "UPDATE d1kit_tenant_databases SET database_id = ?2 || database_id \
                     WHERE tenant = ?1 AND substr(database_id, 1, length(?2)) <> ?2",
                    vec![Value::from(tenant), Value::from(DELETING)],
                ),
                Sql::<(String,)>::new(
                    "SELECT database_id FROM d1kit_tenant_databases WHERE tenant = ?1",
                    vec![Value::from(tenant)],
                ),
            ))
            .await?;
        Ok(held
            .rows
            .into_iter()
            .next()
            .map(|(id,)| unmarked(&id).to_owned()))
    }
    async fn remove(&self, tenant: &str) -> Result<()> {
        self.executor
            .run(Sql::<()>::new(
                "DELETE FROM d1kit_tenant_databases WHERE tenant = ?1",
                vec![Value::from(tenant)],
            ))
            .await
            .map(drop)
    }
}

impl<E: Executor + ?Sized> Directory for TableDirectory<'_, E> {
    /// The tenant's pin; a tenant being moved is [`Error::TenantMoving`].
    async fn lookup(&self, tenant: &str) -> Result<Option<u32>> {
        router::pin_of(self.executor, tenant)
            .await?
            .map(|pin| match pin {
                Pin::At(shard) => Ok(shard),
                Pin::Moving(_) => Err(Error::TenantMoving {
                    tenant: Some(tenant.to_owned()),
                }),
            })
            .transpose()
    }
    /// Pins `tenant` and bumps the routing generation, so routers read it again.
    async fn pin(&self, tenant: &str, shard: u32) -> Result<()> {
        self.executor
            .batch((
                Sql::<()>::new(
                    "INSERT INTO d1kit_directory (tenant, shard, state) VALUES (?1, ?2, 0) \
                     ON CONFLICT (tenant) DO UPDATE SET shard = excluded.shard, state = 0",
                    vec![Value::from(tenant), Value::Integer(i64::from(shard))],
                ),
                Sql::<()>::new(
                    "UPDATE d1kit_routing SET generation = generation + 1",
                    Vec::new(),
                ),
            ))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values_never_change() {
        // Pinned: changing these would move every tenant of every deployed pool.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        let shards: Vec<u32> = ["alice", "bob", "carol", "dave"]
            .iter()
            .map(|k| shard_for(k.as_bytes(), 8))
            .collect();
        assert_eq!(shards, vec![4, 2, 7, 0]);
        assert_eq!(shard_for(b"anyone", 1), 0);
        assert_eq!(shard_for(b"anyone", 0), 0);
    }

    proptest! {
        #[test]
        fn in_range_and_moves_only_to_the_new_shard(key in any::<u64>(), n in 1u32..200) {
            let before = jump_hash(key, n);
            let after = jump_hash(key, n + 1);
            prop_assert!(before < n);
            prop_assert!(after == before || after == n);
        }
    }

    /// The routing acceptance check: over 1,000,000 tenant keys, each of N shards holds within
    /// 5% of 1/N of them (N in 2..64), and growing N to N+1 moves at most 1/(N+1) + 1% of them.
    #[test]
    fn balanced_and_minimal_movement_over_a_million_keys() {
        const KEYS: usize = 1_000_000;
        let hashes: Vec<u64> = (0..KEYS)
            .map(|i| stable_hash(format!("user-{i}").as_bytes()))
            .collect();
        let mut previous: Vec<u32> = hashes.iter().map(|&h| jump_hash(h, 1)).collect();
        for n in 2..=64u32 {
            let current: Vec<u32> = hashes.iter().map(|&h| jump_hash(h, n)).collect();
            let mut counts = vec![0usize; n as usize];
            for &s in &current {
                counts[s as usize] += 1;
            }
            let ideal = KEYS as f64 / f64::from(n);
            for (shard, &c) in counts.iter().enumerate() {
                let off = (c as f64 - ideal).abs() / ideal;
                assert!(
                    off <= 0.05,
                    "N={n}: shard {shard} holds {c} keys, ideal {ideal:.0}"
                );
            }
            let moved = previous
                .iter()
                .zip(&current)
                .filter(|(a, b)| a != b)
                .count();
            let bound = KEYS as f64 * (1.0 / f64::from(n) + 0.01);
            assert!(
                moved as f64 <= bound,
                "{} -> {n} shards moved {moved} keys, more than {bound:.0}",
                n - 1
            );
            // Keys only ever move to the new shard.
            assert!(previous
                .iter()
                .zip(&current)
                .all(|(&a, &b)| a == b || b == n - 1));
            previous = current;
        }
    }

    struct Pool;
    impl Database for Pool {
        const NAME: &'static str = "pool";
        const BINDING: &'static str = "POOL";
        const SHARDS: u32 = 4;
        const FINGERPRINT: &'static str = "";
        const MIGRATIONS: &'static [crate::Migration] = &[];
    }

    async fn pins_override_the_hash(directory: &impl Directory) {
        let hashed = Pool::shard_for("alice");
        assert_eq!(
            resolve::<Pool, _>(directory, "alice").await.unwrap(),
            hashed
        );
        let other = (hashed + 1) % Pool::SHARDS;
        directory.pin("alice", other).await.unwrap();
        assert_eq!(resolve::<Pool, _>(directory, "alice").await.unwrap(), other);
        directory.pin("alice", hashed).await.unwrap();
        assert_eq!(
            resolve::<Pool, _>(directory, "alice").await.unwrap(),
            hashed
        );
        // Other tenants are untouched; a pin outside the pool is an error naming it.
        assert_eq!(
            resolve::<Pool, _>(directory, "bob").await.unwrap(),
            Pool::shard_for("bob")
        );
        directory.pin("carol", 9).await.unwrap();
        let err = resolve::<Pool, _>(directory, "carol").await.unwrap_err();
        assert!(err.to_string().contains("pinned to shard 9"), "{err}");
        assert!(err.to_string().contains("4 shard(s)"), "{err}");
    }

    #[test]
    #[cfg(feature = "local")]
    fn a_memory_directory_pins_tenants() {
        crate::local::block_on(pins_override_the_hash(&MemoryDirectory::new()));
    }

    #[test]
    #[cfg(feature = "local")]
    fn a_table_directory_pins_tenants_in_a_database() {
        let db = crate::local::Database::open_in_memory().unwrap();
        let directory = TableDirectory::new(&db);
        crate::local::block_on(async {
            directory.create_table().await.unwrap();
            directory.create_table().await.unwrap(); // idempotent
            pins_override_the_hash(&directory).await;
        });
        let rows: i64 = db
            .connection()
            .query_row("SELECT count(*) FROM d1kit_directory", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "one row per pinned tenant");
    }

    #[test]
    fn growing_the_pool_moves_few_tenants() {
        let moved = (0..10_000u32)
            .filter(|i| {
                let k = format!("user-{i}");
                shard_for(k.as_bytes(), 8) != shard_for(k.as_bytes(), 9)
            })
            .count();
        // Expected 10,000 / 9 ≈ 1,111; `hash % n` would move ~8,900.
        assert!((900..1_350).contains(&moved), "{moved}");
    }
}
