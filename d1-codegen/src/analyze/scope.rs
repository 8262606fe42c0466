//! Name resolution: the relations visible to an expression (FROM items, CTEs, outer queries) and the facts that change their columns' nullability.

use crate::types::Ty;
use std::cell::Cell;
use std::collections::HashSet;

/// One column of a relation in scope.
#[derive(Debug, Clone)]
pub(crate) struct SourceColumn {
    pub name: String,
    pub ty: Ty,
    /// Left out of `*` (hidden virtual-table columns, the merged side of USING/NATURAL).
    pub hidden: bool,
    /// `(table, column)` this column reads, for real table columns.
    pub origin: Option<(String, String)>,
}

/// A relation of a FROM clause (table, view, CTE, subquery, table-valued function).
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Unique within one analysis; keys narrowing facts.
    pub id: usize,
    /// What qualifies its columns: the alias, else the table name.
    pub name: String,
    pub columns: Vec<SourceColumn>,
    /// On the optional side of an outer join: every column may be NULL.
    pub outer_nullable: bool,
    /// Whether `rowid` can be selected, and which column it is.
    pub rowid: Option<Rowid>,
    /// Columns merged into an earlier relation's by USING/NATURAL: not ambiguous when unqualified.
    pub merged: HashSet<usize>,
}

/// The rowid of a relation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rowid {
    /// The INTEGER PRIMARY KEY column at this index is the rowid.
    Alias(usize),
    /// A rowid with no column of its own.
    Plain,
}

/// The relations visible at one query level, with a link to the enclosing query's.
pub(crate) struct Scope<'p> {
    pub sources: Vec<Source>,
    pub parent: Option<&'p Scope<'p>>,
    /// `(source id, column index)` known non-null from WHERE / inner-join ON terms.
    pub narrowed: HashSet<(usize, usize)>,
    /// An aggregate query without GROUP BY: column references outside aggregates are nullable.
    pub ungrouped_aggregate: bool,
    /// The query has GROUP BY.
    pub grouped: bool,
    /// How many aggregate calls enclose the expression being typed at this level.
    pub aggregate_depth: Cell<u32>,
    /// Result column aliases, visible to ORDER BY / HAVING / GROUP BY.
    pub aliases: Vec<(String, Ty)>,
    /// A FROM item could not be resolved (its error is reported): unknown columns are not.
    pub incomplete: bool,
}

/// A column reference resolved to its relation.
pub(crate) struct Resolved {
    pub ty: Ty,
    pub name: String,
    pub key: (usize, usize),
    pub origin: Option<(String, String)>,
}

/// Why a reference did not resolve.
pub(crate) enum Unresolved {
    /// No relation of that name.
    NoTable,
    /// No such column (candidates for a suggestion).
    NoColumn(Vec<String>),
    /// More than one relation has it.
    Ambiguous,
}

impl<'p> Scope<'p> {
    pub fn new(parent: Option<&'p Scope<'p>>) -> Scope<'p> {
        Scope {
            sources: Vec::new(),
            parent,
            narrowed: HashSet::new(),
            ungrouped_aggregate: false,
            grouped: false,
            aggregate_depth: Cell::new(0),
            aliases: Vec::new(),
            incomplete: false,
        }
    }

    /// The type a column of `source` has when read at this level.
    pub fn column_ty(&self, source: &Source, index: usize, from: &Scope<'_>) -> Ty {
        let col = &source.columns[index];
        let mut nullable = col.ty.nullable || source.outer_nullable;
        if from.is_narrowed(source.id, index) {
            nullable = false;
        }
        if self.ungrouped_aggregate && self.aggregate_depth.get() == 0 {
            nullable = true;
        }
        col.ty.clone().with_nullable(nullable)
    }

    /// Whether this level or an enclosing one lost a FROM item to an earlier error.
    pub fn is_incomplete(&self) -> bool {
        self.incomplete || self.parent.is_some_and(|p| p.is_incomplete())
    }

    /// Whether a narrowing fact for this column holds here or in an enclosing query.
    fn is_narrowed(&self, id: usize, index: usize) -> bool {
        self.narrowed.contains(&(id, index))
            || self.parent.is_some_and(|p| p.is_narrowed(id, index))
    }

    fn rowid_name(name: &str) -> bool {
        ["rowid", "oid", "_rowid_"]
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
    }

    /// Resolves `table.column` or a bare `column`, innermost level first.
    pub fn resolve(&self, table: Option<&str>, column: &str) -> Result<Resolved, Unresolved> {
        self.resolve_from(self, table, column)
    }

    fn resolve_from(
        &self,
        from: &Scope<'_>,
        table: Option<&str>,
        column: &str,
    ) -> Result<Resolved, Unresolved> {
        let mut candidates = Vec::new();
        let mut found: Option<Resolved> = None;
        let mut table_seen = false;
        for s in &self.sources {
            if let Some(t) = table {
                if !s.name.eq_ignore_ascii_case(t) {
                    continue;
                }
            }
            table_seen = true;
            let hit = s
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(column));
            let resolved = match hit {
                Some(i) if table.is_none() && s.merged.contains(&i) => continue,
                Some(i) => Resolved {
                    ty: self.column_ty(s, i, from),
                    name: s.columns[i].name.clone(),
                    key: (s.id, i),
                    origin: s.columns[i].origin.clone(),
                },
                None => match &s.rowid {
                    Some(Rowid::Alias(i)) if Self::rowid_name(column) => Resolved {
                        ty: self.column_ty(s, *i, from),
                        name: s.columns[*i].name.clone(),
                        key: (s.id, *i),
                        origin: s.columns[*i].origin.clone(),
                    },
                    Some(Rowid::Plain) if Self::rowid_name(column) => {
                        let outside = self.ungrouped_aggregate && self.aggregate_depth.get() == 0;
                        Resolved {
                            ty: Ty {
                                ty: crate::types::SqlType::Integer,
                                nullable: s.outer_nullable || outside,
                            },
                            name: column.to_string(),
                            key: (s.id, usize::MAX),
                            origin: None,
                        }
                    }
                    _ => {
                        candidates.extend(s.columns.iter().map(|c| c.name.clone()));
                        continue;
                    }
                },
            };
            if found.is_some() {
                return Err(Unresolved::Ambiguous);
            }
            found = Some(resolved);
        }
        if let Some(r) = found {
            return Ok(r);
        }
        match self.parent {
            Some(p) => match p.resolve_from(from, table, column) {
                Ok(r) => Ok(r),
                Err(Unresolved::NoColumn(mut more)) => {
                    candidates.append(&mut more);
                    Err(Unresolved::NoColumn(candidates))
                }
                Err(Unresolved::NoTable) if table_seen => Err(Unresolved::NoColumn(candidates)),
                Err(e) => Err(e),
            },
            None if table.is_some() && !table_seen => Err(Unresolved::NoTable),
            None => Err(Unresolved::NoColumn(candidates)),
        }
    }
}
