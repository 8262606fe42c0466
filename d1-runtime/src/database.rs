//! What `#[derive(Database)]` knows of a database: its embedded migrations, schema
//! fingerprint, binding(s) and shard count, and how a tenant is routed to a shard.

/// One migration file, embedded in the program at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The file name (`0001_init.sql`), as wrangler records it in `d1_migrations`.
    pub name: &'static str,
    /// The file's SQL.
    pub sql: &'static str,
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

    /// The shard that holds `tenant`'s data: stable across runs, platforms and versions.
    fn shard_for(tenant: &str) -> u32 {
        crate::route::shard_for(tenant.as_bytes(), Self::SHARDS)
    }

    /// The binding name of `tenant`'s shard (`USERS_3`; just `USERS` when there is one shard).
    fn binding_for(tenant: &str) -> String {
        Self::binding_of(Self::shard_for(tenant))
    }

    /// The binding of shard `shard`: `BINDING_<shard>` in a pool, `BINDING` with one shard.
    fn binding_of(shard: u32) -> String {
        if Self::SHARDS <= 1 {
            Self::BINDING.to_owned()
        } else {
            format!("{}_{}", Self::BINDING, shard)
        }
    }
}
