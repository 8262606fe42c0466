//! d1kit's compiler: a migrations directory becomes a schema, and each SQL statement a typed,
//! checked [`Signature`], without a database and without anything to prepare. (The macros keep
//! a memo of analyses between builds under the target directory; it is never needed, and is
//! used only when nothing an analysis depends on has changed.)
//!
//! The pipeline runs one way, each stage a function from plain data to plain data:
//! [`config`] → [`migrations`] → [`schema`] → [`analyze`] (with [`lint`] for D1's rules).
//!
//! ```
//! use d1_codegen::{Analyzer, migrations::{Migration, MigrationSet}};
//! let set = MigrationSet::from_migrations(vec![Migration::new(
//!     "0001_init.sql",
//!     "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, title TEXT);",
//! )]);
//! let analyzer = Analyzer::from_migrations(&set).unwrap();
//! let sig = analyzer.analyze("SELECT id, title FROM notes WHERE owner = :owner").unwrap();
//! assert_eq!(sig.columns[1].ty.to_string(), "Option<String>");
//! assert_eq!(sig.params[0].name.as_deref(), Some("owner"));
//! assert_eq!(sig.params[0].ty.to_string(), "String");
//! ```

pub mod analyze;
pub mod build;
pub mod config;
pub mod diagnostic;
pub mod expand;
pub mod lex;
pub mod lint;
mod memo;
pub mod migrations;
pub mod project;
pub mod schema;
pub mod types;
pub mod wrangler;

pub use analyze::{Analyzer, Checks, Param, ResultColumn, Signature, StatementKind};
pub use diagnostic::{Diagnostic, Diagnostics, Location, Severity};
pub use types::{SqlType, Ty};
