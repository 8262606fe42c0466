//! A per-user notes service: every user's notes live in that user's own SQLite database (one
//! file each under a data directory), created on first use, migrated, and queried through
//! d1kit's checked queries. The same code runs on D1 with the Worker backend.
//!
//! `cargo run -p notes [-- --data DIR]`

#![forbid(unsafe_code)]

use d1kit::local::{self, block_on};
use d1kit::prelude::*;
use std::path::PathBuf;

/// The database every user gets a copy of: migrations embedded, shards for the Worker pool.
#[derive(Database)]
struct Notes;

/// A note as the app shows it (`sql_as!` checks each field against the query's columns).
#[derive(Row, Debug)]
struct NoteLine {
    id: i64,
    title: String,
    pinned: bool,
    tags: Option<String>,
}

/// The newest notes: a named, reusable query; `:limit` is its field.
#[derive(Query)]
#[d1(sql = "SELECT id, title, created_at FROM notes ORDER BY id DESC LIMIT :limit")]
struct Newest {
    limit: i64,
}

/// Notes carrying a tag, decoded into `NoteLine`.
#[derive(Query)]
#[d1(
    sql = "SELECT n.id, n.title, n.pinned, group_concat(t.tag, ', ') AS tags
           FROM notes n JOIN tags t ON t.note_id = n.id
           WHERE t.tag = :tag GROUP BY n.id ORDER BY n.id",
    row = NoteLine
)]
struct Tagged<'a> {
    tag: &'a str,
}

/// A note to add on first run: title, pinned, tags.
type NewNote<'a> = (&'a str, bool, &'a [&'a str]);

fn add_note(db: &local::Database, title: &str, pinned: bool, tags: &[&str]) -> d1kit::Result<i64> {
    // The note and its tags in one atomic batch: all of it is stored, or none of it.
    let tags_json = format!(
        "[{}]",
        tags.iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (note, _tags) = block_on(db.batch((
        sql!(
            "INSERT INTO notes (title, pinned) VALUES (?1, ?2)",
            title,
            pinned
        ),
        sql!(
            "INSERT INTO tags (note_id, tag) SELECT last_insert_rowid(), value FROM json_each(?1)",
            tags_json
        ),
    )))?;
    Ok(note.meta.last_row_id)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = match (args.next().as_deref(), args.next()) {
        (Some("--data"), Some(dir)) => PathBuf::from(dir),
        (None, _) => PathBuf::from("notes-data"),
        _ => return Err("usage: notes [--data DIR]".into()),
    };
    println!(
        "d1kit notes example: one SQLite database per user under {}",
        data.display()
    );
    println!(
        "schema: {} migrations, fingerprint {}…; on Workers the pool is {} bindings {}_0..{}_{}",
        Notes::MIGRATIONS.len(),
        &Notes::FINGERPRINT[..12],
        Notes::SHARDS,
        Notes::BINDING,
        Notes::BINDING,
        Notes::SHARDS - 1
    );

    let plans: [(&str, &[NewNote]); 2] = [
        (
            "alice",
            &[
                ("Groceries", false, &["home"]),
                ("Quarterly report", true, &["work", "urgent"]),
                ("Call the plumber", false, &["home", "urgent"]),
            ],
        ),
        (
            "bob",
            &[
                ("Read the docs", true, &["work"]),
                ("Bike repair", false, &[]),
            ],
        ),
    ];

    for (user, notes) in plans {
        let path = data.join(Notes::NAME).join(format!("{user}.sqlite"));
        let existed = path.exists();
        let db = local::Database::open(&path)?;
        let report = db.migrate_to::<Notes>()?;
        println!();
        println!(
            "{user}: {} {} (shard {} → binding {} in production)",
            if existed { "opened" } else { "created" },
            path.display(),
            Notes::shard_for(user),
            Notes::binding_for(user)
        );
        if report.applied.is_empty() {
            println!("{user}: schema up to date");
        } else {
            println!("{user}: applied {}", report.applied.join(", "));
        }
        let count =
            block_on(sql!("SELECT count(*) AS n FROM notes").first(&db))?.map_or(0, |r| r.n);
        if count == 0 {
            for (title, pinned, tags) in notes {
                let id = add_note(&db, title, *pinned, tags)?;
                println!("{user}: added note #{id} {title:?} tags {tags:?}");
            }
        } else {
            println!(
                "{user}: already has {count} notes (delete {} to start over)",
                data.display()
            );
        }

        let newest = block_on(Newest { limit: 2 }.all(&db))?;
        for n in &newest {
            println!(
                "{user}: newest #{} {:?} created {}",
                n.id, n.title, n.created_at
            );
        }
        let pinned = block_on(
            sql_as!(
                NoteLine,
                "SELECT n.id, n.title, n.pinned, group_concat(t.tag, ', ') AS tags
                 FROM notes n LEFT JOIN tags t ON t.note_id = n.id
                 WHERE n.pinned = ?1 GROUP BY n.id",
                true
            )
            .all(&db),
        )?;
        for n in &pinned {
            let tags = n.tags.as_deref().unwrap_or("no tags");
            println!(
                "{user}: pinned={} #{} {:?} [{tags}]",
                n.pinned, n.id, n.title
            );
        }
        let urgent = block_on(db.all(Tagged { tag: "urgent" }))?;
        println!(
            "{user}: {} urgent: {}",
            urgent.len(),
            urgent
                .iter()
                .map(|n| n.title.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }

    // Isolation: the same query on bob's database never sees alice's rows.
    let bob = local::Database::open_tenant::<Notes>(&data, "bob")?;
    let titles = block_on(sql!("SELECT title FROM notes ORDER BY id").all(&bob))?;
    println!();
    println!(
        "bob's database holds only bob's notes: {}",
        titles
            .iter()
            .map(|t| t.title.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(())
}
