//! Every macro form, run against the local backend: rows decoded into the generated and the
//! derived types, parameters bound, batch atomic. The forms themselves are in
//! `tests/common/forms.rs`, shared with `tests/rest.rs`.

#[path = "common/forms.rs"]
mod forms;

use d1kit::local::{block_on, Database as Local};
use d1kit::Database;
use forms::Notes;

fn db() -> Local {
    let db = Local::open_in_memory().unwrap();
    block_on(forms::setup(&db));
    db
}

#[test]
fn inline_sql_generates_the_row_type() {
    block_on(forms::inline_sql_generates_the_row_type(&db()));
}

#[test]
fn run_reports_changes_and_last_row_id() {
    block_on(forms::run_reports_changes_and_last_row_id(&db()));
}

#[test]
fn sql_as_decodes_into_the_derived_struct_by_name() {
    block_on(forms::sql_as_decodes_into_the_derived_struct_by_name(&db()));
}

#[test]
fn generated_rows_decode_by_position_at_any_width() {
    block_on(forms::generated_rows_decode_by_position_at_any_width(&db()));
}

#[test]
fn derive_query_binds_fields_by_name() {
    block_on(forms::derive_query_binds_fields_by_name(&db()));
}

#[test]
fn batch_commits_together_or_rolls_every_statement_back() {
    block_on(forms::batch_commits_together_or_rolls_every_statement_back(
        &db(),
    ));
}

#[test]
fn arguments_are_bound_in_order_past_the_tuple_limit() {
    block_on(forms::arguments_are_bound_in_order_past_the_tuple_limit(
        &db(),
    ));
}

#[test]
fn bound_queries_of_different_arguments_share_a_batch_vec() {
    use d1kit::Executor;
    let db = db();
    let batch = vec![
        d1kit::sql!(
            notes,
            "INSERT INTO tags (owner_id, name) VALUES (1, ?1)",
            "work"
        )
        .bind(),
        d1kit::sql!(
            notes,
            "UPDATE notes SET title = ?1 WHERE id = ?2",
            "renamed",
            2
        )
        .bind(),
    ];
    let results = block_on(db.batch(batch)).unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.meta.changes == 1));
    let title = block_on(d1kit::sql!(notes, "SELECT title FROM notes WHERE id = 2").first(&db))
        .unwrap()
        .unwrap()
        .title;
    assert_eq!(title.as_deref(), Some("renamed"));
}

#[test]
fn a_query_shows_its_sql_and_arguments() {
    let q = d1kit::sql!(
        notes,
        "SELECT id FROM notes WHERE owner_id = ?1 AND title = ?2",
        7,
        "a"
    );
    assert_eq!(
        format!("{q:?}"),
        r#"Sql { sql: "SELECT id FROM notes WHERE owner_id = ?1 AND title = ?2", params: (7, "a") }"#
    );
    let q = d1kit::Sql::<()>::new(
        "DELETE FROM notes WHERE id = ?1",
        [d1kit::Value::Integer(7)],
    );
    assert_eq!(
        format!("{q:?}"),
        r#"Sql { sql: "DELETE FROM notes WHERE id = ?1", params: [Integer(7)] }"#
    );
}

#[test]
fn local_migrate_to_is_the_shared_migrator() {
    let db = Local::open_in_memory().unwrap();
    let report = db.migrate_to::<Notes>().unwrap();
    assert_eq!(report.applied.len(), Notes::MIGRATIONS.len());
    assert_eq!(db.migrate_to::<Notes>().unwrap(), Default::default());
}
#[test]
fn database_derive_embeds_migrations_and_routes_tenants() {
    assert_eq!(Notes::NAME, "notes");
    assert_eq!(Notes::SHARDS, 4);
    assert_eq!(Notes::MIGRATIONS[0].name, "0001_init.sql");
    assert_eq!(Notes::MIGRATIONS[0].checksum.len(), 64);
    assert_eq!(Notes::FINGERPRINT.len(), 64);
    let shard = Notes::shard_for("alice");
    assert!(shard < 4);
    assert_eq!(Notes::binding_for("alice"), format!("NOTES_{shard}"));
}

/// A query forwarded by a `macro_rules!` macro: as a `literal` fragment and as an `expr` one
/// (which arrives wrapped in an invisible group), with and without escapes in the string.
macro_rules! title_by_literal {
    ($sql:literal, $id:expr) => {
        d1kit::sql!(notes, $sql, $id)
    };
}
macro_rules! title_by_expr {
    ($sql:expr, $id:expr) => {
        d1kit::sql!(notes, $sql, $id)
    };
}

#[test]
fn queries_forwarded_by_macro_rules_are_checked_alike() {
    let db = db();
    let plain = block_on(title_by_literal!("SELECT title FROM notes WHERE id = ?1", 1).first(&db))
        .unwrap()
        .unwrap();
    assert_eq!(plain.title.as_deref(), Some("first"));
    let escaped = block_on(
        title_by_expr!(
            "SELECT title, 'it''s \"quoted\"\tand\\slashed' AS s FROM notes WHERE id = ?1",
            1
        )
        .first(&db),
    )
    .unwrap()
    .unwrap();
    assert_eq!(escaped.s, "it's \"quoted\"\tand\\slashed");
}
