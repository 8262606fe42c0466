//! d1kit's compiler: a migrations directory becomes a schema, and each SQL statement a typed,
//! checked [`Signature`], without a database and without anything to prepare. (The macros keep
//! a memo of analyses between builds under the target directory; it is never needed, and is
//! used only when nothing an analysis depends on has changed.)
//!
//! The pipeline runs one way, each stage a function from plain data to plain data:
//! [`config`] → [`migrations`] → [`schema`] → [`analyze`] → [`lint`] → [`driver`] →
//! [`expand`]. [`rules`] (D1's hard rules), [`lex`], [`overrides`], [`types`] and
//! [`diagnostic`] are leaves every stage may use; [`wrangler`] and [`build`] write the
//! wrangler file from the configuration. `docs/ARCHITECTURE.md` draws the graph, and
//! `tests/module_graph.rs` keeps it acyclic.
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

#![forbid(unsafe_code)]
// docs.rs (`--cfg docsrs`, nightly): each feature-gated item is marked with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod analyze;
pub mod build;
pub mod config;
pub mod diagnostic;
pub mod driver;
pub mod expand;
pub mod glob;
pub mod lex;
pub mod lint;
pub mod migrations;
pub mod overrides;
pub mod rules;
pub mod schema;
mod sqlast;
pub mod types;
pub mod wrangler;

pub use analyze::{Analysis, Analyzer, Param, ResultColumn, Signature, StatementKind, TypedBy};
pub use diagnostic::{Diagnostic, Diagnostics, Location, Severity};
pub use lint::{Checks, QueryOptions};
pub use types::{SqlType, Ty};
