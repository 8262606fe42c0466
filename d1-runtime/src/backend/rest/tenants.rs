//! One database per tenant, created on first use: [`Tenants`] and its database names.

use super::{Client, CreateOptions, Database};
use crate::database::Database as DatabaseDef;
use crate::route::DatabaseDirectory;
use crate::Result;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

/// One database per tenant of `D`, created on first use.
///
/// [`Tenants::open`] looks the tenant up in the directory; a tenant seen for the first time
/// gets database `<prefix>-<tenant>` (created, or adopted when the name exists: error 7502),
/// migrated with `D`'s embedded migrations, and only then recorded, so a failure leaves no
/// record and the next call tries again. Concurrent first calls for one tenant in a process
/// wait for one creation; across processes the name makes them meet on one database.
pub struct Tenants<D, Dir> {
    client: Client,
    directory: Dir,
    prefix: String,
    options: CreateOptions,
    known: Mutex<HashMap<String, Arc<str>>>,
    flights: Mutex<HashMap<String, Arc<futures_util::lock::Mutex<()>>>>,
    database: PhantomData<fn() -> D>,
}

impl<D: DatabaseDef, Dir: DatabaseDirectory> Tenants<D, Dir> {
    /// Tenants of `D` in the account of `client`, recorded in `directory`; database names
    /// start with `D::NAME` (see [`Tenants::prefix`]); location hint and jurisdiction come
    /// from `D`'s configuration.
    pub fn new(client: Client, directory: Dir) -> Self {
        Tenants {
            client,
            directory,
            prefix: D::NAME.to_owned(),
            options: CreateOptions {
                location_hint: D::LOCATION_HINT.map(str::to_owned),
                jurisdiction: D::JURISDICTION.map(str::to_owned),
            },
            known: Mutex::default(),
            flights: Mutex::default(),
            database: PhantomData,
        }
    }

    /// Names new databases `<prefix>-<tenant>` (e.g. the Worker's name and the database's).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Where new databases live, overriding the configuration.
    pub fn options(mut self, options: CreateOptions) -> Self {
        self.options = options;
        self
    }

    /// The directory.
    pub fn directory(&self) -> &Dir {
        &self.directory
    }

    /// The name of `tenant`'s database: `<prefix>-<tenant>`, with the tenant key lower-cased
    /// and anything but letters, digits, `-` and `_` replaced; a key that had to change, or
    /// is too long for D1's 64 characters, also gets a hash of itself, so two tenants never
    /// share a name. D1's names may hold upper case, but the key stays lower-cased: a tenant's
    /// name must not change between versions (it is how its database is adopted again), and
    /// whether D1 tells `Alice` from `alice` is not known.
    pub fn database_name(&self, tenant: &str) -> String {
        database_name(&self.prefix, tenant)
    }

    /// `tenant`'s database, created, migrated and recorded on first use.
    pub async fn open(&self, tenant: &str) -> Result<Database> {
        if let Some(uuid) = self.known(tenant) {
            return Ok(self.client.database(uuid.to_string()));
        }
        if let Some(uuid) = self.directory.database_of(tenant).await? {
            return Ok(self.remember(tenant, &uuid));
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(tenant.to_owned()).or_default().clone()
        };
        let guard = flight.lock().await;
        let result = self.first_use(tenant).await;
        drop(guard);
        {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            // Only this call and the map hold it: nobody waits, forget the entry.
            if Arc::strong_count(&flight) == 2 {
                flights.remove(tenant);
            }
        }
        result
    }

    /// Under the tenant's lock: another call may have finished meanwhile.
    async fn first_use(&self, tenant: &str) -> Result<Database> {
        if let Some(uuid) = self.known(tenant) {
            return Ok(self.client.database(uuid.to_string()));
        }
        if let Some(uuid) = self.directory.database_of(tenant).await? {
            return Ok(self.remember(tenant, &uuid));
        }
        let name = self.database_name(tenant);
        let (info, _) = self
            .client
            .create_or_adopt(&name, &self.options)
            .await
            .map_err(|e| e.context(&format!("creating database `{name}` for tenant `{tenant}`")))?;
        let db = self.client.database(info.uuid.clone());
        db.migrate(D::MIGRATIONS)
            .await
            .map_err(|e| e.context(&format!("migrating database `{name}` of tenant `{tenant}`")))?;
        let recorded = self.directory.record(tenant, &info.uuid).await?;
        Ok(self.remember(tenant, &recorded))
    }

    /// Deletes `tenant`'s database and its record, in an order a crash cannot spoil: the
    /// record is first marked as being deleted (from then on [`Tenants::open`] answers
    /// [`Error::TenantDeleted`](crate::Error::TenantDeleted) for the tenant, here and in every
    /// process reading the directory), then the database is deleted, then the record is
    /// removed. A crash anywhere leaves either the live record and database, or the mark
    /// (with or without the database): calling `delete` again finishes the job, and a tenant
    /// is never served from a database that is going away.
    ///
    /// A tenant with no record may still have a database, if a first use crashed between
    /// creating it and recording it: the database of its name (see
    /// [`Tenants::database_name`]) is deleted too. Other processes may keep the tenant's
    /// database id cached (as this one does until this call): their queries then fail with
    /// the API's 7404.
    pub async fn delete(&self, tenant: &str) -> Result<TenantDeletion> {
        {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            known.remove(tenant);
        }
        delete_database_of(
            &self.client,
            &self.directory,
            tenant,
            &self.database_name(tenant),
        )
        .await
    }

    fn known(&self, tenant: &str) -> Option<Arc<str>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(tenant).cloned()
    }

    fn remember(&self, tenant: &str, uuid: &str) -> Database {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(tenant.to_owned(), uuid.into());
        self.client.database(uuid)
    }
}

/// [`Tenants::delete`] without a [`Tenants`] (e.g. in a command that has no database type):
/// deletes `tenant`'s database recorded in `directory`, or, without a record, the database
/// named `name` (the name [`Tenants`] gives it: [`database_name`]), in the same crash-safe
/// order.
pub async fn delete_database_of<Dir: DatabaseDirectory>(
    client: &Client,
    directory: &Dir,
    tenant: &str,
    name: &str,
) -> Result<TenantDeletion> {
    let recorded = directory.mark_deleting(tenant).await?;
    let target = match &recorded {
        Some(uuid) => Some(uuid.clone()),
        None => client.find_database(name).await?.map(|info| info.uuid),
    };
    let deleted = match &target {
        Some(uuid) => match client.delete_database(uuid).await {
            Ok(()) => true,
            // Gone already: an earlier call deleted it and stopped before the record.
            Err(e) if e.api_code() == Some(super::NO_SUCH_DATABASE) => false,
            Err(e) => {
                return Err(e.context(&format!("deleting database {uuid} of tenant `{tenant}`")))
            }
        },
        None => false,
    };
    if recorded.is_some() {
        directory.remove(tenant).await?;
    }
    Ok(TenantDeletion {
        database_id: target,
        recorded: recorded.is_some(),
        deleted,
    })
}

/// What [`Tenants::delete`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantDeletion {
    /// The tenant's database (from its record, else found by its name), if it had one.
    pub database_id: Option<String>,
    /// Whether the directory had a record of the tenant (now removed).
    pub recorded: bool,
    /// Whether this call deleted the database (`false`: there was none, or an earlier,
    /// interrupted call had deleted it).
    pub deleted: bool,
}

/// `<prefix>-<tenant>` as a D1 database name (see [`Tenants::database_name`]).
pub fn database_name(prefix: &str, tenant: &str) -> String {
    const MAX: usize = 64;
    let slug: String = tenant
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '_') => c,
            _ => '-',
        })
        .collect();
    let plain = format!("{prefix}-{slug}");
    if slug == tenant && !tenant.is_empty() && plain.len() <= MAX {
        return plain;
    }
    let hash = format!("{:016x}", crate::route::stable_hash(tenant.as_bytes()));
    let room = MAX.saturating_sub(prefix.len() + 2 + 8);
    let short: String = slug.chars().take(room).collect();
    format!("{prefix}-{short}-{}", &hash[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_d1_names_and_never_collide() {
        assert_eq!(database_name("users", "alice"), "users-alice");
        assert_eq!(database_name("users", "u_42"), "users-u_42");
        let a = database_name("users", "Alice");
        let b = database_name("users", "alice!");
        assert!(
            a.starts_with("users-alice-") && b.starts_with("users-alice--"),
            "{a} {b}"
        );
        assert_ne!(a, database_name("users", "alice"));
        let long = database_name("users", &"x".repeat(200));
        assert!(long.len() <= 64, "{long}");
        assert_ne!(long, database_name("users", &"x".repeat(201)));
        assert!(database_name("users", "").starts_with("users--"));
    }
}
