//! Where `wrangler dev --local` keeps a D1 database's data (feature `state-files`, which
//! `local` enables): the rule the local backend opens files by, and that `cargo build` uses to
//! tell whether a shard it would unbind still holds local data.

use std::path::{Path, PathBuf};

/// The SQLite file in which wrangler's local mode (`wrangler dev --local`, `wrangler d1 ...
/// --local`) keeps the database whose `database_id` is `database_id`, under `persist_to`
/// (wrangler's `--persist-to`; `.wrangler/state` by default). Open it with
/// `d1kit::local::Database::open` to read or migrate what `wrangler dev` serves.
///
/// The name is miniflare's durable-object id for the database: with
/// `key = sha256("miniflare-D1DatabaseObject")`, `a = hmac_sha256(key, id)[..16]`,
/// `b = hmac_sha256(key, a)[..16]`, the file is `hex(a ‖ b).sqlite` in
/// `v3/d1/miniflare-D1DatabaseObject/`.
///
/// ```
/// let path = d1_runtime::state_file::wrangler_state_file(
///     ".wrangler/state",
///     "00000000-0000-0000-0000-000000000001",
/// );
/// assert!(path.ends_with(
///     "v3/d1/miniflare-D1DatabaseObject/a36f84ea60804f30bb0c7f7cad9f5336a6cca0165abdab8b9241d93dbf0b6006.sqlite"
/// ));
/// ```
pub fn wrangler_state_file(persist_to: impl AsRef<Path>, database_id: &str) -> PathBuf {
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    const OBJECT: &str = "miniflare-D1DatabaseObject";
    let key = Sha256::digest(OBJECT.as_bytes());
    let mac = |data: &[u8]| {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    let a = mac(database_id.as_bytes());
    let b = mac(&a[..16]);
    let hex: String = a[..16]
        .iter()
        .chain(&b[..16])
        .map(|byte| format!("{byte:02x}"))
        .collect();
    persist_to
        .as_ref()
        .join("v3/d1")
        .join(OBJECT)
        .join(format!("{hex}.sqlite"))
}
