//! d1kit: typed, compile-time-checked SQL for applications that give every user their own Cloudflare D1 database.
//!
//! This facade re-exports the macros ([`d1_macros`]) and the runtime ([`d1_runtime`]).

// Both crates are still empty shells (their issue is next), so the globs import nothing yet.
#[allow(unused_imports)]
pub use d1_macros::*;
#[allow(unused_imports)]
pub use d1_runtime::*;
