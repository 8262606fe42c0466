//! What `#[derive(Database)]` knows of a database: its embedded migrations, schema
//! fingerprint, binding(s) and shard count, and how a tenant is routed to a shard.

/// One migration file, embedded in the program at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The file name (`0001_init.sql`), as wrangler records it in `d1_migrations`.
    pub name: &'static str,
    /// The file's SQL.
    pub sql: &'static str,
    /// The file's statements, split as SQLite reads them (a trigger's `BEGIN ... END` body
    /// stays whole), without their `;`: what a batch sends, one by one, in one transaction.
    pub statements: &'static [&'static str],
    /// The hex SHA-256 of the file, to catch an applied migration that was edited.
    pub checksum: &'static str,
}

/// A configured database (`[package.metadata.d1kit.databases.NAME]`), implemented by
/// `#[derive(Database)]`.
pub trait Database {
    /// The database's name in the configuration.
    const NAME: &'static str;
    /// The Worker binding, or the prefix of the pool's bindings (`USERS` → `USERS_0`..).
    const BINDING: &'static str;
    /// The number of databases in the pool (1: a single database).
    const SHARDS: u32;
    /// The hash of every migration's name and checksum: equal fingerprints, equal schemas.
    const FINGERPRINT: &'static str;
    /// The migrations, in the order they apply.
    const MIGRATIONS: &'static [Migration];
    /// Where databases created for it live (`location_hint` in the configuration:
    /// `wnam`, `enam`, `weur`, `eeur`, `apac`, `oc`), if set.
    const LOCATION_HINT: Option<&'static str> = None;
    /// The jurisdiction databases created for it are bound to (`jurisdiction`: `eu`,
    /// `fedramp` or `us`), if set.
    const JURISDICTION: Option<&'static str> = None;
    /// The Worker binding of the pool's directory (`directory = "<name>"` in the
    /// configuration): the single database whose `d1kit_directory` and `d1kit_routing` tables
    /// route the pool's tenants ([`crate::route::Router`]), so that they can move while the
    /// application serves them. `None` without a directory: tenants go where the hash over
    /// [`SHARDS`](Database::SHARDS) sends them.
    const DIRECTORY: Option<&'static str> = None;
    /// The Durable Object class whose SQLite storage holds one user's database
    /// (`durable_object = "ClassName"` in the configuration), bound as
    /// [`BINDING`](Database::BINDING): each user's object applies
    /// [`MIGRATIONS`](Database::MIGRATIONS) when it wakes. `None` for a D1 database (or pool).
    /// With a class, [`SHARDS`](Database::SHARDS) is 1 and the shard routing below does not
    /// apply: a user's object is found by the user's key.
    const DURABLE_OBJECT: Option<&'static str> = None;

    /// The shard that holds `tenant`'s data by the hash over [`SHARDS`](Database::SHARDS):
    /// stable across runs, platforms and versions. With a [`DIRECTORY`](Database::DIRECTORY)
    /// it ignores the directory's pins, moves and routing size: a router
    /// ([`crate::route::Router`]) says where the tenant is.
    fn shard_for(tenant: &str) -> u32 {
        crate::route::shard_for(tenant.as_bytes(), Self::SHARDS)
    }

    /// The binding name of `tenant`'s shard (`USERS_3`; just `USERS` when there is one shard).
    fn binding_for(tenant: &str) -> String {
        Self::binding_of(Self::shard_for(tenant))
    }

    /// The binding of shard `shard`: `BINDING_<shard>` in a pool, `BINDING` with one shard.
    fn binding_of(shard: u32) -> String {
        crate::route::binding_of(Self::BINDING, Self::SHARDS, shard)
    }
}

/// A query for one tenant of a database that scopes tenants by a column (`tenant_column` in
/// the configuration): `#[derive(Query)]` implements it when the struct has a field named
/// like that column (`:user_id` ↔ `user_id`). It knows its tenant, so it routes itself: with
/// the `worker` feature, `query.all_in(&env)` runs it on the tenant's shard.
#[allow(async_fn_in_trait)] // not Send: workers-rs types are !Send
pub trait TenantQuery: crate::Query {
    /// The Worker binding, or the prefix of the pool's bindings.
    const BINDING: &'static str;
    /// The number of databases in the pool.
    const SHARDS: u32;

    /// The tenant key this query is for (the value it binds to the tenant column).
    fn tenant(&self) -> std::borrow::Cow<'_, str>;

    /// The shard that holds this query's tenant.
    fn shard(&self) -> u32 {
        crate::route::shard_for(self.tenant().as_bytes(), Self::SHARDS)
    }

    /// The binding of this query's tenant's shard.
    fn binding(&self) -> String {
        crate::route::binding_of(Self::BINDING, Self::SHARDS, self.shard())
    }

    /// Every row, from the tenant's shard in `env` (by the hash; see [`all_via`] for pinned
    /// tenants).
    ///
    /// [`all_via`]: TenantQuery::all_via
    #[cfg(feature = "worker")]
    async fn all_in(self, env: &::worker::Env) -> crate::Result<Vec<Self::Row>> {
        let db = crate::worker::Database::from_env(env, &self.binding())?;
        crate::Executor::all(&db, self).await
    }

    /// Every row, from the tenant's shard in `env`, looking for a pin in `directory` first.
    #[cfg(feature = "worker")]
    async fn all_via<Dir: crate::route::Directory + ?Sized>(
        self,
        env: &::worker::Env,
        directory: &Dir,
    ) -> crate::Result<Vec<Self::Row>> {
        let (binding, shards) = (Self::BINDING, Self::SHARDS);
        let db = crate::worker::pool_via(env, directory, &self.tenant(), binding, binding, shards)
            .await?;
        crate::Executor::all(&db, self).await
    }

    /// The first row, from the tenant's shard in `env`.
    #[cfg(feature = "worker")]
    async fn first_in(self, env: &::worker::Env) -> crate::Result<Option<Self::Row>> {
        let db = crate::worker::Database::from_env(env, &self.binding())?;
        crate::Executor::first(&db, self).await
    }

    /// Runs it on the tenant's shard in `env`.
    #[cfg(feature = "worker")]
    async fn run_in(self, env: &::worker::Env) -> crate::Result<crate::RunResult> {
        let db = crate::worker::Database::from_env(env, &self.binding())?;
        crate::Executor::run(&db, self).await
    }
}

/// A value that can be a tenant key: text, or an integer id (routed by its decimal text).
pub trait TenantKey {
    /// The key as text, as `shard_for` hashes it.
    fn tenant_key(&self) -> std::borrow::Cow<'_, str>;
}

impl TenantKey for str {
    fn tenant_key(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self)
    }
}

impl TenantKey for String {
    fn tenant_key(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self)
    }
}

impl<T: TenantKey + ?Sized> TenantKey for &T {
    fn tenant_key(&self) -> std::borrow::Cow<'_, str> {
        (**self).tenant_key()
    }
}

macro_rules! integer_keys {
    ($($t:ty),*) => {$(
        impl TenantKey for $t {
            fn tenant_key(&self) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Owned(self.to_string())
            }
        }
    )*};
}
integer_keys!(i64, i32, u64, u32);
