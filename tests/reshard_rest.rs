//! `d1kit::reshard` over the REST API, on the D1 fake: a pool of 2 databases holding 40
//! tenants grown to 3, with 50 ms of latency per request, 5% of requests failing with HTTP 500
//! (before any effect, as Cloudflare's transient errors do), and a rate limit that a neighbour
//! on the same token has already spent part of, so that 429s are met and honoured. Every
//! tenant's rows must be whole on the routed shard afterwards. Once offline, once online
//! through a directory database.

use d1_fake::{FakeD1, Options as FakeOptions, RateLimit};
use d1kit::reshard::{self, online};
use d1kit::rest::{Client, Database};
use d1kit::route::router;
use d1kit::route::shard_for;
use d1kit::{block_on, Executor, Sql, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const TENANTS: usize = 40;

const SCHEMA: [&str; 5] = [
    "CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "INSERT INTO plans (id, name) VALUES (1, 'free'), (2, 'pro')",
    "CREATE TABLE accounts (user_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, plan_id INTEGER NOT NULL REFERENCES plans(id))",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES accounts(user_id) ON DELETE CASCADE, title TEXT NOT NULL, body BLOB, score REAL)",
    "CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE, user_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (note_id, tag)) WITHOUT ROWID",
];

fn tenant(i: usize) -> String {
    format!("user-{i}")
}

/// Every tenant's rows on `dbs`, as text, by tenant: `(shard, rows)`.
fn contents(dbs: &[Database]) -> BTreeMap<String, Vec<(usize, String)>> {
    let mut out: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, db) in dbs.iter().enumerate() {
        for sql in [
            "SELECT user_id, 'a' || quote(email) || quote(plan_id) FROM accounts ORDER BY user_id",
            "SELECT user_id, 'n' || quote(id) || quote(title) || quote(body) || quote(score) FROM notes ORDER BY id",
            "SELECT user_id, 't' || quote(note_id) || quote(tag) FROM tags ORDER BY note_id, tag",
        ] {
            let rows: Vec<(String, String)> =
                block_on(db.all(Sql::<(String, String)>::new(sql, Vec::<Value>::new()))).unwrap();
            for (user, text) in rows {
                out.entry(user).or_default().push((i, text));
            }
        }
    }
    for rows in out.values_mut() {
        rows.sort_by(|a, b| a.1.cmp(&b.1));
    }
    out
}

#[test]
fn a_pool_grows_over_rest_through_errors_and_rate_limits() {
    grow(false);
}

/// The same, online through a directory database on the fake: fences, marks, holds and the
/// final switch of the routing size all go through the same errors and limits.
#[test]
fn a_pool_grows_online_over_rest_through_errors_and_rate_limits() {
    grow(true);
}

fn grow(online: bool) {
    let fake = FakeD1::start(FakeOptions {
        latency: Duration::from_millis(50),
        seed: 7,
        ..FakeOptions::default()
    });
    let client = Client::new(fake.account_id(), fake.token()).with_base_url(fake.base_url());
    let dbs: Vec<Database> = (0..3)
        .map(|n| client.database(fake.add_database(&format!("users-{n}"))))
        .collect();
    let directory = client.database(fake.add_database("users-directory"));
    if online {
        block_on(router::set_up(&directory, 2)).unwrap();
    }
    for db in &dbs {
        let schema: Vec<Sql<()>> = SCHEMA
            .iter()
            .map(|s| Sql::new(s, Vec::<Value>::new()))
            .collect();
        block_on(db.batch(schema)).unwrap();
    }
    for i in 0..TENANTS {
        let user = tenant(i);
        let db = &dbs[shard_for(user.as_bytes(), 2) as usize];
        let mut rows: Vec<Sql<()>> = vec![Sql::new(
            "INSERT INTO accounts (user_id, email, plan_id) VALUES (?1, ?2, ?3)",
            vec![
                user.clone().into(),
                format!("{user}@example.com").into(),
                Value::Integer(1 + (i % 2) as i64),
            ],
        )];
        for k in 0..(1 + i % 3) {
            let id = (i * 10 + k) as i64;
            rows.push(Sql::new(
                "INSERT INTO notes (id, user_id, title, body, score) VALUES (?1, ?2, ?3, unhex(?4), ?5)",
                vec![
                    Value::Integer(id),
                    user.clone().into(),
                    format!("note {k}, 'quoted'").into(),
                    // The REST API binds no bytes: hex text, read back with unhex.
                    Value::Text((0..=255u8).take(i * 4).map(|b| format!("{b:02X}")).collect()),
                    Value::Real(i as f64 / 3.0),
                ],
            ));
            rows.push(Sql::new(
                "INSERT INTO tags (note_id, user_id, tag) VALUES (?1, ?2, 'a')",
                vec![Value::Integer(id), user.clone().into()],
            ));
        }
        block_on(db.batch(rows)).unwrap();
    }
    let before = contents(&dbs);
    assert_eq!(before.len(), TENANTS);

    // From now on 5% of requests fail with a 500, and a neighbour on the same token has spent
    // most of the first window.
    fake.set_transient_failure_rate(0.05);
    fake.set_rate_limit(Some(RateLimit {
        requests: 10,
        per: Duration::from_secs(1),
    }));
    let neighbour = Client::new(fake.account_id(), fake.token()).with_base_url(fake.base_url());
    let their_db = neighbour.database(dbs[0].uuid().to_string());
    for _ in 0..10 {
        let _ = block_on(their_db.first(Sql::<(i64,)>::new("SELECT 1", Vec::<Value>::new())));
    }
    fake.reset_stats();

    let layout = block_on(reshard::layout(&dbs[0], "user_id")).unwrap();
    let report = if online {
        let settle = online::Settle {
            wait: &|| {},
            wave: 2,
            renumber: false,
        };
        block_on(online::run(&dbs, 3, &layout, &directory, &settle, |_| {})).unwrap()
    } else {
        block_on(reshard::run(&dbs, 3, &layout, |_| None, |_| {})).unwrap()
    };
    assert!(
        report.refused.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(!report.moved.is_empty());
    let stats = fake.stats();
    assert!(stats.responses_429 > 0, "no 429 was met: {stats:?}");
    assert!(stats.responses_5xx > 0, "no 500 was met: {stats:?}");

    let after = contents(&dbs);
    assert_eq!(after.len(), TENANTS);
    for (user, rows) in &after {
        let routed = shard_for(user.as_bytes(), 3) as usize;
        assert!(
            rows.iter().all(|(shard, _)| *shard == routed),
            "{user}: {rows:?}"
        );
        let texts = |r: &Vec<(usize, String)>| r.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
        assert_eq!(texts(rows), texts(&before[user]), "{user}'s rows changed");
    }
    if online {
        fake.set_transient_failure_rate(0.0);
        let routing = block_on(router::snapshot(&directory)).unwrap();
        assert_eq!(
            (routing.shards, routing.next, routing.pinned),
            (3, None, false)
        );
        for db in &dbs {
            let fences: Vec<(String,)> = block_on(db.all(Sql::new(
                "SELECT name FROM sqlite_master WHERE name LIKE 'd1kit_fence%'",
                Vec::<Value>::new(),
            )))
            .unwrap();
            assert!(fences.is_empty(), "{fences:?}");
        }
    }
}
