//! A fleet migrated over the REST API under Cloudflare's rate limit (docs/FLEET.md, Retries and
//! rate limits): 200 databases on the D1 fake with 50 ms of latency per request and a
//! sliding-window limit of the real one's shape (1,200 per 5 minutes), scaled down to 40 per
//! second so the test takes seconds.
//! Another client of the same token spends part of the budget at the start, so the fleet meets
//! real 429s and must honour them; the whole run must still finish within 1.2x the time the
//! limit allows for the requests it took.

use d1_fake::{FakeD1, Options as FakeOptions, RateLimit};
use d1kit::fleet::{self, Options, Target};
use d1kit::rest::Client;
use d1kit::{block_on, Migration, Sql};
use std::time::{Duration, Instant};

const DATABASES: usize = 200;
const LIMIT: usize = 40;
const WINDOW: Duration = Duration::from_secs(1);

const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_notes.sql",
        sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        statements: &["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"],
        checksum: "r1",
    },
    Migration {
        name: "0002_pinned.sql",
        sql: "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;",
        statements: &["ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0"],
        checksum: "r2",
    },
];

#[test]
fn two_hundred_databases_migrate_within_the_rate_limit() {
    let fake = FakeD1::start(FakeOptions {
        latency: Duration::from_millis(50),
        ..FakeOptions::default()
    });
    let targets: Vec<Target> = (0..DATABASES)
        .map(|n| {
            Target::new(
                format!("tenant-{n:03}"),
                fake.add_database(&format!("t-{n:03}")),
            )
        })
        .collect();
    fake.set_rate_limit(Some(RateLimit {
        requests: LIMIT,
        per: WINDOW,
    }));
    let client = Client::new(fake.account_id(), fake.token())
        .with_base_url(fake.base_url())
        .with_request_budget(LIMIT as u32, WINDOW);

    // Another user of the token takes part of the first window's budget.
    let neighbour = Client::new(fake.account_id(), fake.token()).with_base_url(fake.base_url());
    let neighbour_db = neighbour.database(targets[0].id.clone());
    for _ in 0..15 {
        block_on(Sql::<(i64,)>::new("SELECT 1", Vec::new()).first(&neighbour_db)).unwrap();
    }

    fake.reset_stats();
    let start = Instant::now();
    let report = fleet::run(
        targets,
        MIGRATIONS,
        &Options {
            concurrency: 16,
            ..Options::default()
        },
        |t| Ok(client.database(t.id.clone())),
        |_| {},
    );
    let elapsed = start.elapsed();
    assert_eq!(
        report.failed(),
        0,
        "{:?}",
        report.databases.iter().find(|d| !d.is_ok())
    );
    assert_eq!(report.applied(), DATABASES * MIGRATIONS.len());

    let stats = fake.stats();
    let accepted = stats.requests - stats.responses_429;
    // The fastest a sliding window allows: the first LIMIT requests at once, then LIMIT more
    // per window (the neighbour's 15 are in the first window too); plus one request's latency.
    let windows = (accepted as usize + 15).div_ceil(LIMIT) - 1;
    let bound = WINDOW * windows as u32 + Duration::from_millis(50);
    let ratio = elapsed.as_secs_f64() / bound.as_secs_f64();
    println!(
        "REST fleet: {DATABASES} databases, {accepted} requests accepted, {} answered 429; \
         {:.2} s vs the limit's bound {:.2} s: {ratio:.3}x",
        stats.responses_429,
        elapsed.as_secs_f64(),
        bound.as_secs_f64()
    );
    assert!(
        stats.responses_429 > 0,
        "the neighbour should have caused 429s"
    );
    assert!(ratio <= 1.2, "{ratio:.3}x the rate limit's bound");
    // Every database has both migrations, once.
    for entry in fake.databases() {
        let n: i64 = fake
            .with_connection(&entry.uuid, |c| {
                c.query_row("SELECT count(*) FROM d1_migrations", [], |r| r.get(0))
                    .unwrap()
            })
            .unwrap();
        assert_eq!(n, 2, "{}", entry.name);
    }
}
