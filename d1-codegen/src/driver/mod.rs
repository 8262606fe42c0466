//! What the macros run before they emit anything: the crate's configuration and databases,
//! loaded once per compiler process ([`project`]), the memo of analyses kept between builds
//! (`memo`), and the check of one query ([`check`]): analysis, lints, and the SQL as D1
//! receives it. Below [`crate::expand`], which turns what this returns into tokens.

mod check;
pub(crate) mod memo;
pub mod project;

pub(crate) use check::with_database;
pub use check::{check, Checked, Failure, Routing};
