//! What moves in a shard: its tenant tables in foreign-key order, their keys, and the foreign
//! keys into them from tables without the tenant column.

use super::{Dependent, Layout, TenantTable};
use crate::executor::{Executor, Sql};
use crate::{Result, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One column of a foreign key, as `pragma_foreign_key_list` gives it: the key's id, the
/// referencing column, the referenced column (`None`: the parent's primary key), the parent.
type ForeignKeyPart = (i64, String, Option<String>, String);

/// Reads what moves in `db`: the tables with `tenant_column` in foreign-key order, and the
/// foreign keys into them from tables without it.
pub async fn layout<E: Executor>(db: &E, tenant_column: &str) -> Result<Layout> {
    let names: Vec<(String,)> = db
        .all(Sql::<(String,)>::new(
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
            Vec::<Value>::new(),
        ))
        .await?;
    let mut tables = Vec::new();
    let mut others = Vec::new();
    let mut foreign: BTreeMap<String, Vec<ForeignKeyPart>> = BTreeMap::new();
    for (name,) in names.into_iter().filter(|(n,)| !super::is_internal(n)) {
        let columns: Vec<(String, i64, i64)> = db
            .all(Sql::<(String, i64, i64)>::new(
                "SELECT name, hidden, pk FROM pragma_table_xinfo(?1)",
                vec![Value::Text(name.clone())],
            ))
            .await?;
        let keys: Vec<ForeignKeyPart> = db
            .all(Sql::<ForeignKeyPart>::new(
                "SELECT id, \"from\", \"to\", \"table\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
                vec![Value::Text(name.clone())],
            ))
            .await?;
        foreign.insert(name.clone(), keys);
        if !columns
            .iter()
            .any(|(c, hidden, _)| *hidden == 0 && c.eq_ignore_ascii_case(tenant_column))
        {
            others.push(name);
            continue;
        }
        let mut pk: Vec<(i64, String)> = columns
            .iter()
            .filter(|(_, _, pk)| *pk > 0)
            .map(|(c, _, pk)| (*pk, c.clone()))
            .collect();
        pk.sort();
        let mut table_keys = Vec::new();
        if !pk.is_empty() {
            table_keys.push(pk.into_iter().map(|(_, c)| c).collect::<Vec<_>>());
        }
        let indexes: Vec<(String,)> = db
            .all(Sql::<(String,)>::new(
                "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 AND origin <> 'pk'",
                vec![Value::Text(name.clone())],
            ))
            .await?;
        for (index,) in indexes {
            let cols: Vec<(Option<String>,)> = db
                .all(Sql::<(Option<String>,)>::new(
                    "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
                    vec![Value::Text(index)],
                ))
                .await?;
            // An index over an expression: a conflict there fails the copy as a whole.
            if let Some(cols) = cols.into_iter().map(|(c,)| c).collect::<Option<Vec<_>>>() {
                if !table_keys.contains(&cols) {
                    table_keys.push(cols);
                }
            }
        }
        tables.push(TenantTable {
            name,
            columns: columns
                .into_iter()
                .filter(|(_, hidden, _)| *hidden == 0)
                .map(|(c, _, _)| c)
                .collect(),
            keys: table_keys,
        });
    }
    let tenant_names: BTreeSet<String> =
        tables.iter().map(|t| t.name.to_ascii_lowercase()).collect();
    // Parents first: a table comes after every tenant table its foreign keys reference.
    let mut ordered: Vec<TenantTable> = Vec::new();
    let mut left = tables;
    while !left.is_empty() {
        let placed: BTreeSet<String> = ordered
            .iter()
            .map(|t| t.name.to_ascii_lowercase())
            .collect();
        let ready = left.iter().position(|t| {
            foreign[&t.name].iter().all(|(_, _, _, parent)| {
                let p = parent.to_ascii_lowercase();
                p == t.name.to_ascii_lowercase()
                    || !tenant_names.contains(&p)
                    || placed.contains(&p)
            })
        });
        // A cycle of foreign keys: any order does, the copy defers its checks to the commit.
        ordered.push(left.remove(ready.unwrap_or(0)));
    }
    let mut dependents = Vec::new();
    for table in others {
        let mut by_id: BTreeMap<i64, Dependent> = BTreeMap::new();
        for (id, from, to, parent) in &foreign[&table] {
            let Some(p) = ordered.iter().find(|t| t.name.eq_ignore_ascii_case(parent)) else {
                continue;
            };
            let d = by_id.entry(*id).or_insert_with(|| Dependent {
                table: table.clone(),
                columns: Vec::new(),
                parent: p.name.clone(),
                parent_columns: Vec::new(),
            });
            d.columns.push(from.clone());
            // `REFERENCES parent` alone names the parent's primary key.
            let to = to.clone().or_else(|| {
                p.keys
                    .first()
                    .and_then(|k| k.get(d.parent_columns.len()).cloned())
            });
            d.parent_columns.push(to.unwrap_or_else(|| "rowid".into()));
        }
        dependents.extend(by_id.into_values());
    }
    Ok(Layout {
        tenant_column: tenant_column.to_string(),
        tables: ordered,
        dependents,
    })
}
