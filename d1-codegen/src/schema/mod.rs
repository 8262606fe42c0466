//! The schema model: tables, views, columns, indexes and triggers, as SQLite's catalog reports them after the migrations ran.

mod build;
mod drops;

pub(crate) use build::missing_table;
pub use build::{
    apply_migrations, apply_migrations_on, apply_migrations_within, read_catalog,
    sqlite_error_parts, Applied, STATEMENT_BUDGET,
};
pub use drops::{dropped_table, references, CascadeDrop, Reference};

use crate::types::{Affinity, SqlType, Ty};

/// Every object the migrations created, in creation order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    /// Tables, virtual tables and views.
    pub tables: Vec<Table>,
    /// Indexes, including the automatic ones of UNIQUE and PRIMARY KEY constraints.
    pub indexes: Vec<Index>,
    /// Triggers.
    pub triggers: Vec<Trigger>,
}

impl Schema {
    /// The table or view called `name` (case-insensitive, as in SQLite).
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Names of every table and view, for suggestions.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(|t| t.name.as_str())
    }

    /// The tables and views a user writes queries against (not SQLite's, D1's, wrangler's or d1kit's own).
    pub fn user_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter().filter(|t| !is_internal_table(&t.name))
    }
}

/// Tables that belong to SQLite, D1, wrangler or d1kit rather than to the application; schema
/// comparison ignores them.
pub fn is_internal_table(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("sqlite_")
        || lower.starts_with("_cf_")
        || lower == "d1_migrations"
        || lower == "d1kit_migrations"
}

/// What kind of relation a [`Table`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableKind {
    /// An ordinary table.
    Table,
    /// A view: columns typed from its SELECT.
    View,
    /// A virtual table (`fts5`...), with its module name.
    Virtual {
        /// The module, lower-case (`fts5`).
        module: String,
    },
    /// A table that backs a virtual table (`notes_fts_data`...).
    Shadow,
}

/// A table, virtual table or view.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Its name as created.
    pub name: String,
    /// Table, view, virtual or shadow.
    pub kind: TableKind,
    /// Every column, hidden ones included, in declaration order.
    pub columns: Vec<Column>,
    /// `STRICT`.
    pub strict: bool,
    /// `WITHOUT ROWID`.
    pub without_rowid: bool,
    /// `REFERENCES` / `FOREIGN KEY` constraints.
    pub foreign_keys: Vec<ForeignKey>,
    /// The `CREATE` statement SQLite stored.
    pub sql: Option<String>,
}

impl Table {
    /// The column called `name` (case-insensitive).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The columns `*` expands to (hidden columns of virtual tables are left out).
    pub fn star_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.hidden != Hidden::Hidden)
    }

    /// Whether rows of this table have a rowid (so `rowid`, `oid`, `_rowid_` can be selected).
    pub fn has_rowid(&self) -> bool {
        !self.without_rowid
            && matches!(
                self.kind,
                TableKind::Table | TableKind::Virtual { .. } | TableKind::Shadow
            )
    }

    /// The INTEGER PRIMARY KEY column that aliases the rowid, if any.
    pub fn rowid_alias(&self) -> Option<&Column> {
        self.columns.iter().find(|c| c.rowid_alias)
    }
}

/// Whether and how a column is hidden or generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// An ordinary column.
    No,
    /// A hidden column of a virtual table (fts5's table-named column and `rank`): not in `*`.
    Hidden,
    /// `GENERATED ALWAYS AS (..) VIRTUAL`: in `*`, cannot be inserted.
    GeneratedVirtual,
    /// `GENERATED ALWAYS AS (..) STORED`: in `*`, cannot be inserted.
    GeneratedStored,
}

/// One column of a table or view.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name as declared.
    pub name: String,
    /// The declared type, as written (empty when none).
    pub decl_type: String,
    /// SQLite's affinity for the declared type.
    pub affinity: Affinity,
    /// The Rust type and nullability d1kit gives it (docs/TYPING.md).
    pub ty: Ty,
    /// `NOT NULL` was declared.
    pub not_null: bool,
    /// 1-based position in the PRIMARY KEY, 0 when not part of it.
    pub primary_key: u32,
    /// The INTEGER PRIMARY KEY of a rowid table.
    pub rowid_alias: bool,
    /// The DEFAULT expression's text.
    pub default: Option<String>,
    /// Hidden or generated.
    pub hidden: Hidden,
    /// Covered alone by a UNIQUE constraint or index.
    pub unique: bool,
}

impl Column {
    /// A column of a table, typed and given nullability by docs/TYPING.md.
    pub fn declared(
        name: &str,
        decl_type: &str,
        not_null: bool,
        primary_key: u32,
        table: &TableShape,
    ) -> Column {
        let rowid_alias = !table.without_rowid
            && table.pk_columns == 1
            && primary_key == 1
            && decl_type.trim().eq_ignore_ascii_case("INTEGER");
        let nullable = !(not_null || rowid_alias || (table.without_rowid && primary_key > 0));
        Column {
            name: name.to_string(),
            decl_type: decl_type.to_string(),
            affinity: Affinity::of(decl_type),
            ty: Ty {
                ty: SqlType::of_column(decl_type, table.strict),
                nullable,
            },
            not_null,
            primary_key,
            rowid_alias,
            default: None,
            hidden: Hidden::No,
            unique: false,
        }
    }
}

/// What a column's nullability depends on in its table.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableShape {
    /// `WITHOUT ROWID`.
    pub without_rowid: bool,
    /// `STRICT`.
    pub strict: bool,
    /// How many columns the PRIMARY KEY has.
    pub pk_columns: usize,
}

/// What a foreign key does when its parent row is deleted or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkAction {
    /// `NO ACTION` (the default).
    NoAction,
    /// `RESTRICT`.
    Restrict,
    /// `SET NULL`.
    SetNull,
    /// `SET DEFAULT`.
    SetDefault,
    /// `CASCADE`.
    Cascade,
}

impl FkAction {
    /// From the text `PRAGMA foreign_key_list` prints.
    pub fn parse(text: &str) -> FkAction {
        match text.to_ascii_uppercase().as_str() {
            "CASCADE" => FkAction::Cascade,
            "SET NULL" => FkAction::SetNull,
            "SET DEFAULT" => FkAction::SetDefault,
            "RESTRICT" => FkAction::Restrict,
            _ => FkAction::NoAction,
        }
    }
}

/// A `REFERENCES` constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// Child columns.
    pub from: Vec<String>,
    /// Parent table.
    pub table: String,
    /// Parent columns (empty: the parent's primary key).
    pub to: Vec<String>,
    /// `ON DELETE`.
    pub on_delete: FkAction,
    /// `ON UPDATE`.
    pub on_update: FkAction,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Its name (`sqlite_autoindex_*` for constraint indexes).
    pub name: String,
    /// The indexed table.
    pub table: String,
    /// Its key columns (expressions appear as `None`).
    pub columns: Vec<Option<String>>,
    /// UNIQUE.
    pub unique: bool,
    /// Has a WHERE clause.
    pub partial: bool,
    /// `c` (CREATE INDEX), `u` (UNIQUE constraint) or `pk`.
    pub origin: String,
}

/// A trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Its name.
    pub name: String,
    /// The table it fires on.
    pub table: String,
    /// Its CREATE TRIGGER statement.
    pub sql: String,
}
