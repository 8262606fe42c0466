//! New ids for a moving tenant's rows whose integer keys the target already holds: the opt-in
//! that lets such a move go ahead instead of being refused ([`super::Refusal::KeyConflict`]).
//!
//! A move copies every value as it is, so two tenants that both have `notes.id = 5` cannot
//! share a shard. [`renumber`] gives each moving row whose key is taken a new id above every
//! id either shard holds, rewrites every moving row that references it (the foreign keys
//! between tenant tables, [`references`]) to match, and returns what changed, old → new, to
//! report. It is pure: the caller reads the rows and the conflicts, and copies what it returns.
//!
//! Only a key of one column whose taken values are integers gets new ids: a text key holds
//! what the application chose (a slug, an email), and a key of several columns is free again
//! only when one of its columns is renumbered itself. A UNIQUE integer column that is not the
//! primary key is renumbered like one: whatever references it follows, and the application
//! chose its values no more than a rowid's when it is a plain counter. A foreign-key column
//! that is also a key (a one-to-one table keyed by its parent's id) is never given ids of its
//! own: it takes its parent's new ids, or the move is refused.
//!
//! # AUTOINCREMENT and `sqlite_sequence`
//!
//! A table declared `INTEGER PRIMARY KEY AUTOINCREMENT` never hands out an id twice: SQLite
//! records the largest id the table has held in `sqlite_sequence`. Inserting a row with an
//! explicit id above that record raises it (SQLite does so on every insert, whoever chose the
//! id), so the target's AUTOINCREMENT goes on above the moved ids, renumbered or not; an id
//! below leaves it as it is. Deleting rows leaves the record too, so the source, which keeps
//! its record, never hands out the moved ids again either. For the new ids to be ones neither
//! shard ever handed out (not only ones no row holds now), a caller's `next_free` should also
//! be above both shards' `sqlite_sequence` records of the table.

use super::TenantTable;
use crate::executor::{Executor, Sql};
use crate::{Result, Value};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// A foreign key between two tenant tables: `table (columns)` references
/// `parent (parent_columns)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The referencing table.
    pub table: String,
    /// Its referencing columns.
    pub columns: Vec<String>,
    /// The referenced table (itself, for a self-reference).
    pub parent: String,
    /// The referenced columns, one per referencing column. Empty: the parent's first key in
    /// [`TenantTable::keys`] (its primary key when it has one; [`references`] always fills
    /// them in).
    pub parent_columns: Vec<String>,
}

/// One id that changed: a row of `table` whose `column` was `old` is `new` on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renumbered {
    /// The table.
    pub table: String,
    /// The key column.
    pub column: String,
    /// The id on the source.
    pub old: i64,
    /// The id on the target.
    pub new: i64,
}

/// One key of one table that moving rows hold and the target already holds too.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The table.
    pub table: String,
    /// The key's columns.
    pub columns: Vec<String>,
    /// The key's values (one per column) that are taken, each of a moving row.
    pub values: Vec<Vec<Value>>,
    /// For a key of one integer column, the first id that neither shard holds in it:
    /// `max(largest on the target, largest on the source) + 1` (and above both shards'
    /// `sqlite_sequence` records, see the module's documentation). New ids are this and the
    /// ones after it. Ignored for any other key.
    pub next_free: i64,
}

/// A column of the moving rows: (index of its table, index among the table's columns).
type Column = (usize, usize);

/// One column's new ids: old → new.
type Ids = BTreeMap<i64, i64>;

/// One column of a [`Reference`] between tables of the move: the referencing column (`None`:
/// not among the copied columns, a generated one) and the referenced one.
struct Link<'a> {
    reference: &'a Reference,
    child: (usize, Option<usize>),
    parent: Column,
}

fn table_index(tables: &[TenantTable], name: &str) -> Option<usize> {
    tables
        .iter()
        .position(|t| t.name.eq_ignore_ascii_case(name))
}

fn column_index(table: &TenantTable, name: &str) -> Option<usize> {
    table
        .columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
}

/// `` `table`.`column` `` for error messages.
fn column_name(tables: &[TenantTable], (t, c): Column) -> String {
    match tables
        .get(t)
        .and_then(|t| Some((&t.name, t.columns.get(c)?)))
    {
        Some((table, column)) => format!("`{table}`.`{column}`"),
        None => String::new(),
    }
}

/// The integers column `c` of table `t` holds in `rows`.
fn integers(rows: &[Vec<Vec<Value>>], (t, c): Column) -> impl Iterator<Item = i64> + '_ {
    rows.get(t)
        .into_iter()
        .flatten()
        .filter_map(move |row| match row.get(c) {
            Some(Value::Integer(i)) => Some(*i),
            _ => None,
        })
}

/// `references`, column by column, between `tables` (the others move nothing).
fn links<'a>(tables: &[TenantTable], references: &'a [Reference]) -> Result<Vec<Link<'a>>, String> {
    let mut out = Vec::new();
    for r in references {
        let (Some(t), Some(p)) = (
            table_index(tables, &r.table),
            table_index(tables, &r.parent),
        ) else {
            continue;
        };
        let parent_columns = match r.parent_columns.as_slice() {
            [] => tables[p]
                .keys
                .first()
                .map(Vec::as_slice)
                .unwrap_or_default(),
            named => named,
        };
        if parent_columns.len() != r.columns.len() {
            return Err(format!(
                "the foreign key `{}` ({}) references {} column(s) of `{}`",
                r.table,
                r.columns.join(", "),
                parent_columns.len(),
                r.parent
            ));
        }
        for (from, to) in r.columns.iter().zip(parent_columns) {
            // A referenced column that is not copied is generated: it never changes here.
            let Some(pc) = column_index(&tables[p], to) else {
                continue;
            };
            out.push(Link {
                reference: r,
                child: (t, column_index(&tables[t], from)),
                parent: (p, pc),
            });
        }
    }
    Ok(out)
}

/// The table and the copied columns of `conflict`'s key.
fn locate(tables: &[TenantTable], conflict: &Conflict) -> Result<(usize, Vec<usize>), String> {
    let t = table_index(tables, &conflict.table)
        .ok_or_else(|| format!("`{}` is not a tenant table", conflict.table))?;
    let columns = conflict
        .columns
        .iter()
        .map(|c| {
            column_index(&tables[t], c).ok_or_else(|| {
                format!(
                    "`{}`.`{c}` is not copied (a generated column): it cannot be renumbered",
                    conflict.table
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((t, columns))
}

/// The taken ids of a conflict whose every value is one integer, if it is one.
fn integer_keys(conflict: &Conflict) -> Option<Vec<i64>> {
    conflict
        .values
        .iter()
        .map(|key| match key.as_slice() {
            [Value::Integer(i)] => Some(*i),
            _ => None,
        })
        .collect()
}

/// New ids for the `taken` ids that `column` holds in `rows`: `next_free` and on, in the
/// order of the old ids (so that ordering by id keeps the renumbered rows' order).
fn fresh_ids(
    tables: &[TenantTable],
    rows: &[Vec<Vec<Value>>],
    column: Column,
    taken: &BTreeSet<i64>,
    next_free: i64,
) -> Result<Ids, String> {
    let held: BTreeSet<i64> = integers(rows, column).collect();
    if let Some(&largest) = held.last().filter(|&&l| l >= next_free) {
        return Err(format!(
            "{}: the first free id given, {next_free}, is not above the moving rows' {largest}",
            column_name(tables, column)
        ));
    }
    held.intersection(taken)
        .enumerate()
        .map(|(i, &old)| {
            let new = i64::try_from(i)
                .ok()
                .and_then(|i| next_free.checked_add(i))
                .ok_or_else(|| {
                    format!(
                        "{}: a new id for {old} would be above {}",
                        column_name(tables, column),
                        i64::MAX
                    )
                })?;
            Ok((old, new))
        })
        .collect()
}

/// Extends `ids` along `links` until nothing changes: a referencing column takes its parent's
/// new ids for the values it holds, and passes them on to whatever references it (a key that
/// is also a foreign key, one hop further).
fn follow(
    tables: &[TenantTable],
    links: &[Link],
    rows: &[Vec<Vec<Value>>],
    ids: &mut BTreeMap<Column, Ids>,
) -> Result<(), String> {
    loop {
        let mut found = Vec::new();
        for link in links {
            let Some(parent) = ids.get(&link.parent).filter(|m| !m.is_empty()) else {
                continue;
            };
            let (t, Some(c)) = link.child else {
                return Err(format!(
                    "`{}` references renumbered ids of {} through a generated column, which cannot be rewritten",
                    link.reference.table,
                    column_name(tables, link.parent)
                ));
            };
            found.extend(
                integers(rows, (t, c))
                    .filter_map(|old| Some(((t, c), old, *parent.get(&old)?, link))),
            );
        }
        let mut changed = false;
        for (column, old, new, link) in found {
            match ids.entry(column).or_default().entry(old) {
                Entry::Vacant(e) => {
                    e.insert(new);
                    changed = true;
                }
                Entry::Occupied(e) if *e.get() != new => {
                    return Err(format!(
                        "{} = {old} references rows renumbered differently ({} and {new}, through `{}`)",
                        column_name(tables, column),
                        e.get(),
                        link.reference.parent
                    ))
                }
                Entry::Occupied(_) => {}
            }
        }
        if !changed {
            return Ok(());
        }
    }
}

/// Refuses unless every taken key of `conflict` is free on the target once `ids` are applied
/// (one of its columns gets a new id), saying why it is not.
fn covered(
    ids: &BTreeMap<Column, Ids>,
    referencing: &BTreeSet<Column>,
    conflict: &Conflict,
    (t, columns): (usize, &[usize]),
) -> Result<(), String> {
    for key in &conflict.values {
        let renumbered = columns.iter().zip(key).any(|(&c, v)| {
            matches!(v, Value::Integer(old) if ids.get(&(t, c)).is_some_and(|m| m.contains_key(old)))
        });
        if renumbered {
            continue;
        }
        let why = match columns {
            [c] if referencing.contains(&(t, *c)) => {
                "it is a foreign key too, which changes only with the row it references"
            }
            [_] => "only a key of one INTEGER column gets new ids",
            _ => "a key of several columns is free only when one of its columns gets new ids",
        };
        let shown: Vec<String> = key.iter().map(Value::to_string).collect();
        return Err(format!(
            "`{}` on the target already holds ({}) = ({}), and {why}",
            conflict.table,
            conflict.columns.join(", "),
            shown.join(", ")
        ));
    }
    Ok(())
}

/// Gives new ids to the keys of the moving rows that the target already holds, and rewrites
/// the moving rows that reference them; returns the ids that changed.
///
/// `rows[t]` are the moving rows of `tables[t]` (each row's values in `tables[t].columns`
/// order; only the moving tenants' rows, whose keys the source holds once each). `conflicts`
/// are the keys the target already holds, each with its first free id. A key of one column
/// whose taken values are integers gets ids `next_free`, `next_free + 1`... (the old ids'
/// order kept); every column that references it, through `references` (self-references,
/// several tables, a key that is itself a foreign key and so on, hop after hop), is rewritten
/// old → new, NULLs and values of no renumbered row left as they are. Every value of a
/// renumbered id in a referencing column follows, also in a foreign key of several columns
/// whose other columns are NULL (no reference to SQLite, but surely meant as one).
///
/// Refused, with `rows` unchanged, when a taken key cannot be freed: a text key, a key of
/// several columns none of whose columns gets a new id, a foreign-key column whose parent
/// keeps its id, a new id above `i64::MAX`, a `next_free` not above the moving rows' ids.
///
/// Returns the changes of key columns (a plain foreign-key column follows its parent, so is
/// not listed), in `tables`' order, then by column and old id.
pub fn renumber(
    tables: &[TenantTable],
    references: &[Reference],
    rows: &mut [Vec<Vec<Value>>],
    conflicts: &[Conflict],
) -> Result<Vec<Renumbered>, String> {
    let links = links(tables, references)?;
    let referencing: BTreeSet<Column> = links
        .iter()
        .filter_map(|l| Some((l.child.0, l.child.1?)))
        .collect();
    // The keys that get new ids of their own, merged per column: taken ids, first free id.
    let mut fresh: BTreeMap<Column, (BTreeSet<i64>, i64)> = BTreeMap::new();
    let mut others = Vec::new();
    for conflict in conflicts {
        let (t, columns) = locate(tables, conflict)?;
        match (columns.as_slice(), integer_keys(conflict)) {
            ([c], Some(taken)) if !referencing.contains(&(t, *c)) => {
                let (ids, next) = fresh
                    .entry((t, *c))
                    .or_insert((BTreeSet::new(), conflict.next_free));
                ids.extend(taken);
                *next = (*next).max(conflict.next_free);
            }
            _ => others.push((conflict, t, columns)),
        }
    }
    let mut ids = BTreeMap::new();
    for (&column, (taken, next_free)) in &fresh {
        ids.insert(column, fresh_ids(tables, rows, column, taken, *next_free)?);
    }
    follow(tables, &links, rows, &mut ids)?;
    for (conflict, t, columns) in others {
        covered(&ids, &referencing, conflict, (t, &columns))?;
    }
    for (&(t, c), m) in &ids {
        for row in rows.get_mut(t).into_iter().flatten() {
            if let Some(Value::Integer(id)) = row.get_mut(c) {
                if let Some(&new) = m.get(id) {
                    *id = new;
                }
            }
        }
    }
    let is_key = |(t, c): Column| {
        let table = &tables[t];
        let name = &table.columns[c];
        table
            .keys
            .iter()
            .flatten()
            .any(|k| k.eq_ignore_ascii_case(name))
    };
    Ok(ids
        .iter()
        .filter(|(&column, _)| fresh.contains_key(&column) || is_key(column))
        .flat_map(|(&(t, c), m)| {
            m.iter().map(move |(&old, &new)| Renumbered {
                table: tables[t].name.clone(),
                column: tables[t].columns[c].clone(),
                old,
                new,
            })
        })
        .collect())
}

/// `name` as `table` spells it, when it is one of its columns.
fn spelled(table: &TenantTable, name: &str) -> String {
    column_index(table, name)
        .and_then(|c| table.columns.get(c))
        .map_or_else(|| name.to_string(), Clone::clone)
}

/// One column of a foreign key, as `pragma_foreign_key_list` gives it: the key's id, the
/// referencing column, the referenced column (`None`: the parent's primary key), the parent.
type ForeignKeyPart = (i64, String, Option<String>, String);

/// Reads the foreign keys between `tables` (the tenant tables of [`super::layout`]) in `db`,
/// names spelled as `tables` spell them. A key that names no parent columns references the
/// parent's declared primary key; one whose parent has none is left out (SQLite refuses
/// every write through it: "foreign key mismatch"), as are keys to tables not in `tables`.
pub async fn references<E: Executor>(db: &E, tables: &[TenantTable]) -> Result<Vec<Reference>> {
    let mut out = Vec::new();
    for table in tables {
        let parts: Vec<ForeignKeyPart> = db
            .all(Sql::<ForeignKeyPart>::new(
                "SELECT id, \"from\", \"to\", \"table\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
                vec![Value::Text(table.name.clone())],
            ))
            .await?;
        let mut keys: BTreeMap<i64, Vec<ForeignKeyPart>> = BTreeMap::new();
        for part in parts {
            keys.entry(part.0).or_default().push(part);
        }
        for parts in keys.into_values() {
            let Some(parent) = parts
                .first()
                .and_then(|(_, _, _, p)| tables.iter().find(|t| t.name.eq_ignore_ascii_case(p)))
            else {
                continue;
            };
            let named: Option<Vec<String>> = parts
                .iter()
                .map(|(_, _, to, _)| Some(spelled(parent, to.as_deref()?)))
                .collect();
            let parent_columns = match named {
                Some(named) => named,
                None => primary_key(db, &parent.name).await?,
            };
            if parent_columns.len() != parts.len() {
                continue;
            }
            out.push(Reference {
                table: table.name.clone(),
                columns: parts
                    .iter()
                    .map(|(_, from, _, _)| spelled(table, from))
                    .collect(),
                parent: parent.name.clone(),
                parent_columns,
            });
        }
    }
    Ok(out)
}

/// The declared primary key of `table`, in key order (none for a rowid table without one).
async fn primary_key<E: Executor>(db: &E, table: &str) -> Result<Vec<String>> {
    let columns: Vec<(String,)> = db
        .all(Sql::<(String,)>::new(
            "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk",
            vec![Value::Text(table.to_string())],
        ))
        .await?;
    Ok(columns.into_iter().map(|(c,)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, columns: &[&str], keys: &[&[&str]]) -> TenantTable {
        TenantTable {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            keys: keys
                .iter()
                .map(|k| k.iter().map(|c| c.to_string()).collect())
                .collect(),
        }
    }

    fn reference(
        table: &str,
        columns: &[&str],
        parent: &str,
        parent_columns: &[&str],
    ) -> Reference {
        Reference {
            table: table.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            parent: parent.into(),
            parent_columns: parent_columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn conflict(
        table: &str,
        columns: &[&str],
        values: Vec<Vec<Value>>,
        next_free: i64,
    ) -> Conflict {
        Conflict {
            table: table.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            values,
            next_free,
        }
    }

    fn ints(ids: &[i64]) -> Vec<Vec<Value>> {
        ids.iter().map(|&i| vec![Value::Integer(i)]).collect()
    }

    fn renumbered(table: &str, column: &str, old: i64, new: i64) -> Renumbered {
        Renumbered {
            table: table.into(),
            column: column.into(),
            old,
            new,
        }
    }

    /// `Value`s from integers, NULL for `None`.
    fn row(values: &[Option<i64>]) -> Vec<Value> {
        values
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Integer))
            .collect()
    }

    /// notes (self-referencing), comments of notes, likes of comments keyed by
    /// (comment_id, who), and a one-to-one note_meta keyed by its note's id, with pins of it.
    fn schema() -> (Vec<TenantTable>, Vec<Reference>) {
        let tables = vec![
            table("notes", &["id", "parent_id"], &[&["id"]]),
            table("comments", &["id", "note_id"], &[&["id"]]),
            table("likes", &["comment_id", "who"], &[&["comment_id", "who"]]),
            table("note_meta", &["note_id"], &[&["note_id"]]),
            table("pins", &["id", "meta_id"], &[&["id"]]),
        ];
        let references = vec![
            reference("notes", &["parent_id"], "notes", &["id"]),
            reference("comments", &["note_id"], "notes", &[]),
            reference("likes", &["comment_id"], "comments", &["id"]),
            reference("note_meta", &["note_id"], "notes", &["id"]),
            reference("pins", &["meta_id"], "note_meta", &["note_id"]),
        ];
        (tables, references)
    }

    #[test]
    fn renumbers_parents_and_rewrites_what_references_them() {
        let (tables, references) = schema();
        let mut rows = vec![
            vec![
                row(&[Some(3), None]),
                row(&[Some(4), Some(3)]),
                row(&[Some(5), Some(4)]),
            ],
            vec![row(&[Some(10), Some(3)]), row(&[Some(11), Some(5)])],
            vec![
                vec![Value::Integer(10), Value::Text("x".into())],
                vec![Value::Integer(11), Value::Text("y".into())],
            ],
            vec![row(&[Some(4)]), row(&[Some(5)])],
            vec![row(&[Some(1), Some(4)]), row(&[Some(2), Some(5)])],
        ];
        let conflicts = [
            conflict("notes", &["id"], ints(&[4, 3]), 9),
            conflict("comments", &["id"], ints(&[10]), 12),
            // Free again once comments.id 10 is renumbered.
            conflict(
                "likes",
                &["comment_id", "who"],
                vec![vec![10.into(), "x".into()]],
                0,
            ),
            // A key that is a foreign key: it follows its note.
            conflict("note_meta", &["note_id"], ints(&[4]), 0),
        ];
        let changes = renumber(&tables, &references, &mut rows, &conflicts).unwrap();
        assert_eq!(
            changes,
            vec![
                renumbered("notes", "id", 3, 9),
                renumbered("notes", "id", 4, 10),
                renumbered("comments", "id", 10, 12),
                renumbered("likes", "comment_id", 10, 12),
                renumbered("note_meta", "note_id", 4, 10),
            ]
        );
        // The self-reference follows (NULL stays NULL), the rows not renumbered keep their ids.
        assert_eq!(
            rows[0],
            vec![
                row(&[Some(9), None]),
                row(&[Some(10), Some(9)]),
                row(&[Some(5), Some(10)])
            ]
        );
        assert_eq!(
            rows[1],
            vec![row(&[Some(12), Some(9)]), row(&[Some(11), Some(5)])]
        );
        assert_eq!(
            rows[2][0],
            vec![Value::Integer(12), Value::Text("x".into())]
        );
        assert_eq!(
            rows[2][1],
            vec![Value::Integer(11), Value::Text("y".into())]
        );
        // Two hops: notes.id → note_meta.note_id (a key) → pins.meta_id.
        assert_eq!(rows[3], vec![row(&[Some(10)]), row(&[Some(5)])]);
        assert_eq!(
            rows[4],
            vec![row(&[Some(1), Some(10)]), row(&[Some(2), Some(5)])]
        );
    }

    #[test]
    fn a_unique_integer_column_and_a_foreign_key_of_several_columns_follow() {
        // invoices: id (primary key), number (UNIQUE INTEGER); lines reference the number,
        // refunds reference (tenant, id) with a NULL tenant in one row.
        let tables = vec![
            table(
                "invoices",
                &["id", "tenant", "number"],
                &[&["id"], &["number"], &["tenant", "id"]],
            ),
            table("lines", &["id", "invoice_number"], &[&["id"]]),
            table("refunds", &["tenant", "invoice_id"], &[]),
        ];
        let references = vec![
            reference("lines", &["invoice_number"], "invoices", &["number"]),
            reference(
                "refunds",
                &["tenant", "invoice_id"],
                "invoices",
                &["tenant", "id"],
            ),
        ];
        let mut rows = vec![
            vec![
                vec![1.into(), "t".into(), 100.into()],
                vec![2.into(), "t".into(), Value::Null],
            ],
            vec![row(&[Some(1), Some(100)]), row(&[Some(2), None])],
            vec![vec!["t".into(), 1.into()], vec![Value::Null, 2.into()]],
        ];
        let conflicts = [
            conflict("invoices", &["id"], ints(&[1, 2]), 7),
            conflict("invoices", &["number"], ints(&[100]), 101),
            conflict(
                "invoices",
                &["tenant", "id"],
                vec![vec!["t".into(), 1.into()]],
                0,
            ),
        ];
        let changes = renumber(&tables, &references, &mut rows, &conflicts).unwrap();
        assert_eq!(
            changes,
            vec![
                renumbered("invoices", "id", 1, 7),
                renumbered("invoices", "id", 2, 8),
                renumbered("invoices", "number", 100, 101),
            ]
        );
        assert_eq!(rows[0][0], vec![7.into(), "t".into(), 101.into()]);
        assert_eq!(rows[0][1], vec![8.into(), "t".into(), Value::Null]);
        assert_eq!(
            rows[1],
            vec![row(&[Some(1), Some(101)]), row(&[Some(2), None])]
        );
        assert_eq!(
            rows[2],
            vec![vec!["t".into(), 7.into()], vec![Value::Null, 8.into()]]
        );
    }

    #[test]
    fn keys_that_cannot_get_new_ids_refuse_and_change_nothing() {
        let (tables, references) = schema();
        let slugs = [table("slugs", &["slug"], &[&["slug"]])];
        let mut text_rows = vec![vec![vec![Value::Text("home".into())]]];
        let err = renumber(
            &slugs,
            &[],
            &mut text_rows,
            &[conflict("slugs", &["slug"], vec![vec!["home".into()]], 1)],
        )
        .unwrap_err();
        assert!(
            err.contains("`slugs`") && err.contains("'home'") && err.contains("INTEGER"),
            "{err}"
        );

        let rows = vec![
            vec![row(&[Some(4), None])],
            vec![],
            vec![vec![Value::Integer(10), Value::Text("x".into())]],
            vec![row(&[Some(4)])],
            vec![],
        ];
        let refused = |conflicts: &[Conflict]| {
            let mut copy = rows.clone();
            let err = renumber(&tables, &references, &mut copy, conflicts).unwrap_err();
            assert_eq!(copy, rows, "a refusal changes no row");
            err
        };
        let err = refused(&[conflict(
            "likes",
            &["comment_id", "who"],
            vec![vec![10.into(), "x".into()]],
            0,
        )]);
        assert!(
            err.contains("`likes`") && err.contains("(comment_id, who) = (10, 'x')"),
            "{err}"
        );
        // Its note keeps id 4: the meta row cannot take another id alone.
        let err = refused(&[conflict("note_meta", &["note_id"], ints(&[4]), 50)]);
        assert!(
            err.contains("`note_meta`") && err.contains("foreign key"),
            "{err}"
        );
        let err = refused(&[conflict("notes", &["id"], ints(&[4]), 4)]);
        assert!(
            err.contains("`notes`.`id`") && err.contains("not above the moving rows' 4"),
            "{err}"
        );
        let err = refused(&[conflict("notes", &["title"], ints(&[4]), 9)]);
        assert!(err.contains("generated"), "{err}");
    }

    #[test]
    fn a_new_id_above_i64_max_refuses() {
        let tables = [table("t", &["id"], &[&["id"]])];
        let mut rows = vec![vec![row(&[Some(1)]), row(&[Some(2)])]];
        let err = renumber(
            &tables,
            &[],
            &mut rows,
            &[conflict("t", &["id"], ints(&[1, 2]), i64::MAX)],
        )
        .unwrap_err();
        assert!(
            err.contains("`t`.`id`: a new id for 2 would be above"),
            "{err}"
        );
        assert_eq!(rows, vec![vec![row(&[Some(1)]), row(&[Some(2)])]]);
        // The last id there is may be given.
        let ok = renumber(
            &tables,
            &[],
            &mut rows,
            &[conflict("t", &["id"], ints(&[2]), i64::MAX)],
        );
        assert_eq!(ok.unwrap(), vec![renumbered("t", "id", 2, i64::MAX)]);
    }

    #[test]
    fn nothing_taken_changes_nothing_and_odd_input_does_not_panic() {
        let (tables, references) = schema();
        let mut rows = vec![vec![row(&[Some(1), None])]];
        assert_eq!(renumber(&tables, &references, &mut rows, &[]), Ok(vec![]));
        // Fewer row lists than tables, short rows, a conflict no moving row holds.
        let mut short = vec![vec![vec![]], vec![row(&[Some(1)])]];
        let changes = renumber(
            &tables,
            &references,
            &mut short,
            &[conflict("notes", &["id"], ints(&[8]), 9)],
        );
        assert_eq!(changes, Ok(vec![]));
        let err = renumber(
            &tables,
            &references,
            &mut short,
            &[conflict("nope", &["id"], ints(&[1]), 2)],
        );
        assert!(err.unwrap_err().contains("`nope` is not a tenant table"));
        let mismatched = [reference("comments", &["note_id", "id"], "notes", &[])];
        let err = renumber(&tables, &mismatched, &mut short, &[]).unwrap_err();
        assert!(err.contains("references 1 column(s) of `notes`"), "{err}");
    }

    #[cfg(feature = "local")]
    mod local {
        use super::*;
        use crate::local::Database;
        use crate::{block_on, Values};

        fn leak(sql: String) -> &'static str {
            Box::leak(sql.into_boxed_str())
        }

        fn exec(db: &Database, sql: &str) {
            db.connection().execute_batch(sql).unwrap();
        }

        fn all(db: &Database, sql: &str, params: Vec<Value>) -> Vec<Vec<Value>> {
            let rows: Vec<Values> =
                block_on(db.all(Sql::<Values>::new(leak(sql.into()), params))).unwrap();
            rows.into_iter().map(|r| r.0).collect()
        }

        fn int(db: &Database, sql: &str) -> i64 {
            db.connection().query_row(sql, [], |r| r.get(0)).unwrap()
        }

        fn columns(table: &TenantTable) -> String {
            table
                .columns
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        }

        /// The keys of `rows` (of `table`) that `target` holds, each key's first free id
        /// above both shards' ids and AUTOINCREMENT records: what a caller computes.
        fn conflicts(
            source: &Database,
            target: &Database,
            table: &TenantTable,
            rows: &[Vec<Value>],
        ) -> Vec<Conflict> {
            let mut out = Vec::new();
            for key in &table.keys {
                let at: Vec<usize> = key
                    .iter()
                    .filter_map(|k| table.columns.iter().position(|c| c == k))
                    .collect();
                let test: Vec<String> = key
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("\"{k}\" = ?{}", i + 1))
                    .collect();
                let sql = format!(
                    "SELECT 1 FROM \"{}\" WHERE {}",
                    table.name,
                    test.join(" AND ")
                );
                let values: Vec<Vec<Value>> = rows
                    .iter()
                    .map(|r| at.iter().map(|&i| r[i].clone()).collect::<Vec<_>>())
                    .filter(|k| !all(target, &sql, k.clone()).is_empty())
                    .collect();
                if values.is_empty() {
                    continue;
                }
                let next_free = match key.as_slice() {
                    [k] => {
                        let largest = format!(
                            "SELECT coalesce(max(x), 0) FROM (SELECT max(\"{k}\") AS x FROM \"{0}\" UNION ALL SELECT seq FROM sqlite_sequence WHERE name = '{0}')",
                            table.name
                        );
                        int(source, &largest).max(int(target, &largest)) + 1
                    }
                    _ => 0,
                };
                out.push(conflict(
                    &table.name,
                    &key.iter().map(String::as_str).collect::<Vec<_>>(),
                    values,
                    next_free,
                ));
            }
            out
        }

        const SCHEMA: &str = "
            CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, parent_id INTEGER REFERENCES notes (id), title TEXT NOT NULL);
            CREATE TABLE comments (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, note_id INTEGER NOT NULL REFERENCES notes, body TEXT NOT NULL);
            CREATE TABLE likes (tenant TEXT NOT NULL, comment_id INTEGER NOT NULL REFERENCES comments (id), who TEXT NOT NULL, PRIMARY KEY (comment_id, who));";

        const JOINS: &str = "
            SELECT n.title, p.title, c.body, l.who FROM notes n
            LEFT JOIN notes p ON p.id = n.parent_id
            LEFT JOIN comments c ON c.note_id = n.id
            LEFT JOIN likes l ON l.comment_id = c.id
            WHERE n.tenant = ?1 ORDER BY 1, 3, 4";

        #[test]
        fn references_reads_the_foreign_keys_between_tenant_tables() {
            let db = Database::open_in_memory().unwrap();
            exec(&db, &format!("{SCHEMA}
                CREATE TABLE tags (name TEXT PRIMARY KEY);
                CREATE TABLE loose (tenant TEXT, x INTEGER);
                CREATE TABLE pairs (tenant TEXT, a INTEGER, b INTEGER, PRIMARY KEY (a, b));
                CREATE TABLE marks (tenant TEXT, Note INTEGER REFERENCES NOTES, tag TEXT REFERENCES tags (name),
                    loose_id INTEGER REFERENCES loose, a INTEGER, b INTEGER, FOREIGN KEY (a, b) REFERENCES pairs);"));
            let layout = block_on(super::super::super::layout(&db, "tenant")).unwrap();
            let found = block_on(references(&db, &layout.tables)).unwrap();
            let mut found: Vec<String> = found
                .iter()
                .map(|r| {
                    format!(
                        "{}({}) -> {}({})",
                        r.table,
                        r.columns.join(","),
                        r.parent,
                        r.parent_columns.join(",")
                    )
                })
                .collect();
            found.sort();
            assert_eq!(
                found,
                [
                    "comments(note_id) -> notes(id)",
                    "likes(comment_id) -> comments(id)",
                    "marks(Note) -> notes(id)",
                    "marks(a,b) -> pairs(a,b)",
                    "notes(parent_id) -> notes(id)",
                ]
            );
        }

        #[test]
        fn a_renumbered_tenant_lands_whole_on_a_target_holding_its_ids() {
            let (source, target) = (
                Database::open_in_memory().unwrap(),
                Database::open_in_memory().unwrap(),
            );
            exec(&source, SCHEMA);
            exec(&target, SCHEMA);
            // Tenant a on the target: notes 1..4, comments 1..10, a like of comment 10.
            exec(&target, "
                INSERT INTO notes (tenant, title) VALUES ('a', 'a1'), ('a', 'a2'), ('a', 'a3'), ('a', 'a4');
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
                INSERT INTO comments SELECT i, 'a', 1, 'a-c' || i FROM n;
                INSERT INTO likes VALUES ('a', 10, 'x');");
            // Tenant b on the source: notes 3 (4 and 5 below it), comments 10 and 11, likes.
            exec(
                &source,
                "
                INSERT INTO notes VALUES (1, 'c', NULL, 'c1'), (2, 'c', NULL, 'c2');
                INSERT INTO notes VALUES (3, 'b', NULL, 'b3'), (4, 'b', 3, 'b4'), (5, 'b', 4, 'b5');
                INSERT INTO comments VALUES (10, 'b', 3, 'b-c10'), (11, 'b', 5, 'b-c11');
                INSERT INTO likes VALUES ('b', 10, 'x'), ('b', 11, 'y');",
            );
            let before_b = all(&source, JOINS, vec!["b".into()]);
            let before_a = all(&target, JOINS, vec!["a".into()]);

            let layout = block_on(super::super::super::layout(&source, "tenant")).unwrap();
            let refs = block_on(references(&source, &layout.tables)).unwrap();
            let mut rows: Vec<Vec<Vec<Value>>> = layout
                .tables
                .iter()
                .map(|t| {
                    all(
                        &source,
                        &format!(
                            "SELECT {} FROM \"{}\" WHERE tenant = ?1",
                            columns(t),
                            t.name
                        ),
                        vec!["b".into()],
                    )
                })
                .collect();
            let taken: Vec<Conflict> = layout
                .tables
                .iter()
                .zip(&rows)
                .flat_map(|(t, rows)| conflicts(&source, &target, t, rows))
                .collect();
            let mut changes = renumber(&layout.tables, &refs, &mut rows, &taken).unwrap();
            changes.sort_by(|a, b| (&a.table, a.old).cmp(&(&b.table, b.old)));
            assert_eq!(
                changes,
                vec![
                    renumbered("comments", "id", 10, 12),
                    renumbered("likes", "comment_id", 10, 12),
                    renumbered("notes", "id", 3, 6),
                    renumbered("notes", "id", 4, 7),
                ]
            );

            let mut copy = vec![Sql::<()>::new(
                "PRAGMA defer_foreign_keys = ON",
                Vec::<Value>::new(),
            )];
            for (table, rows) in layout.tables.iter().zip(rows) {
                let marks: Vec<String> =
                    (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
                let sql = leak(format!(
                    "INSERT INTO \"{}\" ({}) VALUES ({})",
                    table.name,
                    columns(table),
                    marks.join(", ")
                ));
                copy.extend(rows.into_iter().map(|r| Sql::new(sql, r)));
            }
            block_on(target.batch(copy)).unwrap();
            exec(&source, "DELETE FROM likes WHERE tenant = 'b'; DELETE FROM comments WHERE tenant = 'b'; DELETE FROM notes WHERE tenant = 'b';");

            assert!(all(&target, "PRAGMA foreign_key_check", vec![]).is_empty());
            assert_eq!(all(&target, JOINS, vec!["b".into()]), before_b);
            assert_eq!(all(&target, JOINS, vec!["a".into()]), before_a);
            // AUTOINCREMENT goes on above the moved ids on the target, and the source does
            // not hand out its moved ids again.
            assert_eq!(
                int(
                    &target,
                    "SELECT seq FROM sqlite_sequence WHERE name = 'notes'"
                ),
                7
            );
            exec(
                &target,
                "INSERT INTO notes (tenant, title) VALUES ('a', 'a8')",
            );
            exec(
                &source,
                "INSERT INTO notes (tenant, title) VALUES ('c', 'c6')",
            );
            assert_eq!(int(&target, "SELECT max(id) FROM notes"), 8);
            assert_eq!(int(&source, "SELECT max(id) FROM notes"), 6);
        }

        #[test]
        fn sqlite_sequence_rises_to_an_explicit_id_and_survives_deletes() {
            let db = Database::open_in_memory().unwrap();
            exec(
                &db,
                "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT);
                INSERT INTO t (x) VALUES ('a'), ('b'), ('c');",
            );
            let seq = |db: &Database| int(db, "SELECT seq FROM sqlite_sequence WHERE name = 't'");
            assert_eq!(seq(&db), 3);
            exec(&db, "INSERT INTO t VALUES (100, 'moved in')");
            assert_eq!(seq(&db), 100);
            // An explicit id below the record leaves it as it is.
            exec(&db, "INSERT INTO t VALUES (50, 'below')");
            assert_eq!(seq(&db), 100);
            // Deleting (moving out) the largest ids keeps the record: they are not reused.
            exec(
                &db,
                "DELETE FROM t WHERE id >= 50; INSERT INTO t (x) VALUES ('next');",
            );
            assert_eq!(int(&db, "SELECT max(id) FROM t"), 101);
        }
    }
}
