//! d1kit: typed, compile-time-checked SQL for applications that give every user their own Cloudflare D1 database.
//!
//! This facade re-exports the macros ([`d1_macros`]) and the runtime ([`d1_runtime`]).

pub use d1_macros::*;
pub use d1_runtime::*;
