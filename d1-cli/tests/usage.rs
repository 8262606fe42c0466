//! `d1kit usage --remote` against d1-fake: a pool of two shards and a directory database
//! provisioned by `d1kit provision --remote`, two tenant databases (and one that no longer
//! exists) recorded in the directory's `d1kit_tenant_databases`, queries run on them over the
//! REST API so that the fake records their usage; then the per-database figures of the report
//! against what the fake recorded (`FakeD1::usage`) and each database's `file_size`, per shard
//! and per tenant, and the text report.

mod common;

use common::{describe_database, json, run};
use d1_fake::{FakeD1, Options};
use d1_runtime::rest::Client;
use d1_runtime::{block_on, Executor, Sql, Value};
use serde_json::Value as Json;
use std::path::PathBuf;

/// A crate `app`: database `users` of 2 shards (`users-0`, `users-1`) and database `dir` (one
/// database, `dir`), each with an empty migrations directory.
fn krate(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-usage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for db in ["users", "dir"] {
        std::fs::create_dir_all(dir.join("migrations").join(db)).unwrap();
    }
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n\
         [package.metadata.d1kit.databases.users]\nmigrations = \"migrations/users\"\nshards = 2\ntenant_column = \"owner\"\ndatabase_name = \"users-{n}\"\n\n\
         [package.metadata.d1kit.databases.dir]\nmigrations = \"migrations/dir\"\ndatabase_name = \"dir\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    dir
}

/// Runs `sql` (no rows back) on database `uuid` over the fake's REST API.
fn exec(client: &Client, uuid: &str, sql: &'static str, params: Vec<Value>) {
    block_on(client.database(uuid).run(Sql::<()>::new(sql, params))).unwrap();
}

/// `SELECT count(*)` of `notes` on database `uuid`.
fn count_notes(client: &Client, uuid: &str) -> i64 {
    let rows = block_on(
        client
            .database(uuid)
            .all(Sql::<(i64,)>::new("SELECT count(*) FROM notes", Vec::new())),
    )
    .unwrap();
    rows[0].0
}

const NOTES: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT, title TEXT)";
/// 100 rows in one statement.
const HUNDRED: &str =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
                       INSERT INTO notes (owner, title) SELECT 'alice', 'note ' || i FROM n";

/// A text table's line as its cells (columns are two spaces or more apart).
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The entry of a report's `databases` with `label`.
fn entry<'a>(report: &'a Json, label: &str) -> &'a Json {
    report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["label"] == label)
        .unwrap_or_else(|| panic!("no {label}: {report}"))
}

/// `entry`'s figures are what the fake recorded for database `uuid`, and its storage is the
/// database's `file_size`.
fn assert_recorded(fake: &FakeD1, entry: &Json, uuid: &str) {
    let recorded = fake.usage(uuid);
    assert_eq!(entry["id"], uuid, "{entry}");
    assert_eq!(entry["read_queries"], recorded.read_queries, "{entry}");
    assert_eq!(entry["write_queries"], recorded.write_queries, "{entry}");
    assert_eq!(
        entry["queries"],
        recorded.read_queries + recorded.write_queries,
        "{entry}"
    );
    assert_eq!(entry["rows_read"], recorded.rows_read, "{entry}");
    assert_eq!(entry["rows_written"], recorded.rows_written, "{entry}");
    let size = describe_database(fake, uuid)["file_size"].as_u64().unwrap();
    assert_eq!(entry["storage_bytes"], size, "{entry}");
    assert!(entry["error"].is_null(), "{entry}");
}

/// `--since 30d` (the default): a month, so each database's marginal cost is its figures at
/// D1's prices as they are.
fn assert_marginal_cost(entry: &Json) {
    let n = |k: &str| entry[k].as_u64().unwrap() as f64;
    let want = n("rows_read") / 1e6 * 0.001
        + n("rows_written") / 1e6 * 1.00
        + n("storage_bytes") / 1e9 * 0.75;
    let got = entry["cost"]["total"].as_f64().unwrap();
    assert!((got - want).abs() < 2e-6, "{got} != {want}: {entry}");
}

#[test]
fn usage_per_shard_database_and_tenant_matches_what_the_fake_recorded() {
    let fake = FakeD1::start(Options::default());
    let dir = krate("fleet");
    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    let ids: std::collections::BTreeMap<String, String> = fake
        .databases()
        .into_iter()
        .map(|d| (d.name, d.uuid))
        .collect();
    let (shard0, shard1, directory) = (&ids["users-0"], &ids["users-1"], &ids["dir"]);
    let alice = fake.add_database("tenant-alice");
    let bob = fake.add_database("tenant-bob");
    let ghost = "00000000-0000-4000-8000-00000000dead";

    // Queries over the REST API, which the fake records as D1's analytics would.
    let client = Client::new(fake.account_id(), fake.token()).with_base_url(fake.base_url());
    for (uuid, rows) in [(shard0, 3), (shard1, 1)] {
        exec(&client, uuid, NOTES, vec![]);
        for i in 0..rows {
            exec(
                &client,
                uuid,
                "INSERT INTO notes (owner, title) VALUES (?1, ?2)",
                vec![Value::Text(format!("o{i}")), Value::Text("t".into())],
            );
        }
        assert_eq!(count_notes(&client, uuid), rows);
    }
    exec(&client, &alice, NOTES, vec![]);
    exec(&client, &alice, HUNDRED, vec![]);
    assert_eq!(count_notes(&client, &alice), 100);
    assert_eq!(count_notes(&client, &alice), 100);
    exec(&client, &bob, NOTES, vec![]);
    exec(
        &client,
        directory,
        "CREATE TABLE d1kit_tenant_databases (tenant TEXT PRIMARY KEY, database_id TEXT NOT NULL)",
        vec![],
    );
    for (tenant, uuid) in [("alice", alice.as_str()), ("bob", &bob), ("ghost", ghost)] {
        exec(
            &client,
            directory,
            "INSERT INTO d1kit_tenant_databases (tenant, database_id) VALUES (?1, ?2)",
            vec![Value::Text(tenant.into()), Value::Text(uuid.into())],
        );
    }
    assert!(fake.usage(&alice).rows_written >= 100);

    // The wrangler file's fleet: the pool's two shards and the directory database.
    let (code, report) = json(&dir, &["usage", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["command"], "usage");
    assert_eq!(report["mode"], "remote");
    assert_eq!(report["period"], "30d");
    assert_eq!(report["period_hours"], 720);
    assert_eq!(report["month_days"], 30);
    assert_eq!(report["prices"]["rows_read_per_million"], 0.001);
    assert_eq!(report["prices"]["rows_written_per_million"], 1.0);
    assert_eq!(report["prices"]["storage_per_gb_month"], 0.75);
    assert_eq!(report["prices"]["included_rows_read"], 25_000_000_000u64);
    assert_eq!(report["prices"]["included_rows_written"], 50_000_000);
    assert_eq!(report["prices"]["included_storage_gb"], 5.0);
    assert_eq!(report["databases"].as_array().unwrap().len(), 3, "{report}");
    for (label, uuid, shard) in [("USERS_0", shard0, Some(0)), ("USERS_1", shard1, Some(1))] {
        let e = entry(&report, label);
        assert_recorded(&fake, e, uuid);
        assert_marginal_cost(e);
        assert_eq!(e["database"], "users");
        assert_eq!(e["kind"], "shard");
        assert_eq!(e["shard"], shard.unwrap());
        assert!(e["tenant"].is_null());
    }
    let e = entry(&report, "DIR");
    assert_recorded(&fake, e, directory);
    assert_eq!(e["database"], "dir");
    assert_eq!(e["kind"], "database");
    assert!(e["shard"].is_null());
    // The pool's figures are its shards'.
    let users = report["by_database"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["database"] == "users")
        .unwrap();
    let (a, b) = (fake.usage(shard0), fake.usage(shard1));
    assert_eq!(users["shards"], 2);
    assert_eq!(users["databases"], 2);
    assert_eq!(users["rows_read"], a.rows_read + b.rows_read);
    assert_eq!(users["rows_written"], a.rows_written + b.rows_written);
    // Totals, and the account's cost: far under every allowance.
    let totals = &report["totals"];
    assert_eq!(totals["databases"], 3);
    assert_eq!(totals["failed"], 0);
    let all: u64 = [shard0, shard1, directory]
        .iter()
        .map(|u| fake.usage(u).rows_written)
        .sum();
    assert_eq!(totals["rows_written"], all);
    assert_eq!(totals["cost"]["total"], 0.0);
    assert!(totals["marginal_cost"].as_f64().unwrap() > 0.0);

    // Per tenant, through the directory; the tenant whose database is gone is an error (exit
    // 1), the others are measured. Most costly first: alice wrote 100 rows.
    let (code, report) = json(
        &dir,
        &["usage", "--remote", "--tenants-in", directory],
        Some(&fake),
    );
    assert_eq!(code, 1, "{report}");
    let list = report["databases"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{report}");
    assert_eq!(list[0]["label"], "alice", "{report}");
    for (tenant, uuid) in [("alice", &alice), ("bob", &bob)] {
        let e = entry(&report, tenant);
        assert_recorded(&fake, e, uuid);
        assert_marginal_cost(e);
        assert_eq!(e["kind"], "tenant");
        assert_eq!(e["tenant"], tenant);
        assert!(e["database"].is_null(), "{e}");
    }
    let costs: Vec<f64> = list
        .iter()
        .map(|d| d["cost"]["total"].as_f64().unwrap())
        .collect();
    assert!(costs.windows(2).all(|w| w[0] >= w[1]), "{costs:?}");
    let e = entry(&report, "ghost");
    assert!(e["storage_bytes"].is_null());
    assert!(
        e["error"].as_str().unwrap().contains("no database with id"),
        "{e}"
    );
    assert_eq!(e["rows_read"], 0);
    assert_eq!(report["totals"]["failed"], 1);

    // Another period and other prices: a day's figures make 30 days' costs.
    let (code, report) = json(
        &dir,
        &[
            "usage",
            "--remote",
            "--since",
            "24h",
            "--database-id",
            &alice,
            "--price-rows-written",
            "2",
            "--included-rows-written",
            "1_000",
        ],
        Some(&fake),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["period_hours"], 24);
    let e = entry(&report, &alice);
    assert_recorded(&fake, e, &alice);
    assert_eq!(e["kind"], "database");
    let written = fake.usage(&alice).rows_written;
    assert_eq!(e["monthly"]["rows_written"], written * 30);
    let want = (written * 30) as f64 / 1e6 * 2.0;
    let got = e["cost"]["rows_written"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-6, "{got} != {want}");
    // The account's: the included 1,000 rows subtracted once.
    let want = (written * 30 - 1000) as f64 / 1e6 * 2.0;
    let got = report["totals"]["cost"]["rows_written"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-6, "{got} != {want}");

    // For people.
    let (code, out, err) = run(&dir, &["usage", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("D1 usage since "), "{out}");
    assert!(
        lines[0]
            .ends_with("(the last 30 days), extrapolated to a 30-day month; most costly first."),
        "{out}"
    );
    assert_eq!(
        cells(lines[1]),
        [
            "DATABASE",
            "ID",
            "KIND",
            "ROWS READ",
            "ROWS WRITTEN",
            "QUERIES",
            "STORAGE",
            "EST. $/MONTH"
        ],
        "{out}"
    );
    let row = |label: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no row {label}: {out}"))
    };
    let u0 = fake.usage(shard0);
    let r = cells(row("USERS_0"));
    assert_eq!(r.len(), 8, "{r:?}");
    assert_eq!(
        r[..6],
        [
            "USERS_0".to_string(),
            format!("{}…", &shard0[..8]),
            "shard 0".into(),
            u0.rows_read.to_string(),
            u0.rows_written.to_string(),
            (u0.read_queries + u0.write_queries).to_string(),
        ]
    );
    assert!(r[6].ends_with(" kB"), "{r:?}");
    assert_eq!(r[7], "<$0.01");
    assert!(row("DIR").contains("database"), "{out}");
    assert!(out.contains("`users` (2 shards): rows read "), "{out}");
    assert!(out.contains("\nTotal (3 databases): rows read "), "{out}");
    assert!(
        out.contains(": est. $0.00/month ($0.00 rows read, $0.00 rows written, $0.00 storage) after the plan's included 25,000,000,000 rows read, 50,000,000 rows written and 5 GB, subtracted once (they are the account's).\n"),
        "{out}"
    );
    assert!(
        out.ends_with("Each database's cost is marginal: its own usage at $0.001 per million rows read, $1.00 per million rows written and $0.75 per GB-month, as if the included allowances were used up; storage is its size now, held all month.\n"),
        "{out}"
    );

    // Tenants for people: the tenant most costly first, the missing database's error in full.
    let (code, out, err) = run(
        &dir,
        &["usage", "--remote", "--tenants-in", directory],
        Some(&fake),
    );
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(cells(lines[1])[0], "TENANT", "{out}");
    assert_eq!(
        cells(lines[2])[..3],
        ["alice", &format!("{}…", &alice[..8]), "tenant"]
    );
    let ghost_row = cells(lines.iter().find(|l| l.starts_with("ghost ")).unwrap());
    assert_eq!(ghost_row[6], "?", "{out}");
    assert!(
        out.contains(&format!(
            "\nghost: the account has no database with id `{ghost}`\n"
        )),
        "{out}"
    );
    assert!(out.contains("\nEach tenant's cost is marginal: "), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// 501 databases: two GraphQL requests (500 ids each at most), retried through GraphQL's own
/// rate limit (one request a second here), and every size from the account's list (no
/// `GET` per database).
#[test]
fn a_large_fleet_is_measured_in_batches_with_sizes_from_the_list() {
    let fake = FakeD1::start(Options {
        graphql_rate_limit: Some(d1_fake::RateLimit {
            requests: 1,
            per: std::time::Duration::from_secs(1),
        }),
        ..Options::default()
    });
    let dir = krate("large");
    let ids: Vec<String> = (0..501)
        .map(|i| fake.add_database(&format!("tenant-{i}")))
        .collect();
    let client = Client::new(fake.account_id(), fake.token()).with_base_url(fake.base_url());
    for uuid in [&ids[0], &ids[500]] {
        exec(&client, uuid, NOTES, vec![]);
        exec(&client, uuid, HUNDRED, vec![]);
        assert_eq!(count_notes(&client, uuid), 100);
    }
    fake.reset_stats();
    let mut args = vec!["usage", "--remote", "--database", "users", "--database-id"];
    args.extend(ids.iter().map(String::as_str));
    let (code, report) = json(&dir, &args, Some(&fake));
    assert_eq!(code, 0, "{report}");
    let stats = fake.stats();
    // Two answered, after at least one 429 the client waited out.
    assert!(stats.responses_429 >= 1, "{stats:?}");
    assert_eq!(stats.graphql - stats.responses_429, 2, "{stats:?}");
    assert!(stats.list >= 1 && stats.get == 0, "{stats:?}");
    assert_eq!(report["databases"].as_array().unwrap().len(), 501);
    assert_eq!(report["totals"]["failed"], 0);
    for uuid in [&ids[0], &ids[500]] {
        let e = entry(&report, uuid);
        assert_recorded(&fake, e, uuid);
        assert_eq!(e["database"], "users");
    }
    assert_recorded(&fake, entry(&report, &ids[250]), &ids[250]);
    assert_eq!(entry(&report, &ids[250])["rows_read"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refusals_name_the_flag() {
    let dir = krate("refusals");
    let (code, _, err) = run(&dir, &["usage", "--local"], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--local: wrangler's local databases keep no analytics"),
        "{err}"
    );
    let (code, _, err) = run(&dir, &["usage", "--remote", "--since", "40d"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since") && err.contains("31 days"), "{err}");
    let (code, _, err) = run(&dir, &["usage", "--remote", "--since", "7w"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since") && err.contains("`24h`"), "{err}");
    let (code, _, err) = run(&dir, &["usage", "--remote", "--price-storage=-1"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--price-storage"), "{err}");
    // No credentials: the variables are named, nothing is read.
    let (code, _, err) = run(&dir, &["usage", "--remote"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("CLOUDFLARE_ACCOUNT_ID"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tenants of a pool, metered by `d1kit::meter` over the REST API, flushed to a database
/// of the fake, and reported by `d1kit usage --metered-in`: each tenant's figures are the
/// meter's (D1's own `meta`, as the fake answers it), and its cost is theirs at the prices.
#[test]
fn metered_pool_tenants_are_reported_from_the_meters_table() {
    use d1_runtime::meter::Meter;
    let fake = FakeD1::start(Options::default());
    let client = Client::new(fake.account_id(), fake.token()).with_base_url(fake.base_url());
    let shard = fake.add_database("users-0");
    let home = fake.add_database("usage");
    exec(&client, &shard, NOTES, Vec::new());
    exec(&client, &home, Meter::SCHEMA, Vec::new());
    let meter = Meter::new();
    let db = client.database(shard.clone());
    for (tenant, notes) in [("alice", 3), ("bob", 1)] {
        let metered = meter.on(tenant, &db);
        for i in 0..notes {
            block_on(metered.run(Sql::<()>::new(
                "INSERT INTO notes (owner, title) VALUES (?1, ?2)",
                vec![Value::from(tenant), Value::from(format!("note {i}"))],
            )))
            .unwrap();
        }
        block_on(metered.all(Sql::<(String,)>::new(
            "SELECT title FROM notes WHERE owner = ?1",
            vec![Value::from(tenant)],
        )))
        .unwrap();
    }
    let totals = meter.totals();
    assert_eq!(
        block_on(meter.flush(&client.database(home.clone()))).unwrap(),
        2
    );

    let dir = krate("metered");
    let (code, report) = json(
        &dir,
        &[
            "usage",
            "--remote",
            "--database",
            "users",
            "--database-id",
            &shard,
            "--metered-in",
            &home,
            "--since",
            "24h",
        ],
        Some(&fake),
    );
    assert_eq!(code, 0, "{report}");
    let tenants = report["metered_tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2, "{report}");
    assert_eq!(tenants[0]["tenant"], "alice", "most costly first: {report}");
    for (tenant, usage) in &totals {
        let row = tenants
            .iter()
            .find(|t| t["tenant"] == tenant.as_str())
            .unwrap();
        assert_eq!(row["queries"], usage.queries, "{tenant}");
        assert_eq!(row["rows_read"], usage.rows_read, "{tenant}");
        assert_eq!(row["rows_written"], usage.rows_written, "{tenant}");
        // 24 hours extrapolated to 30 days, at $1.00 per million rows written and $0.001
        // per million read.
        let want =
            usage.rows_written as f64 * 30.0 / 1e6 + usage.rows_read as f64 * 30.0 * 0.001 / 1e6;
        let got = row["cost"]["total"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-6, "{tenant}: {got} vs {want}");
    }
    assert_eq!(
        totals[0].1.rows_written, 3,
        "alice wrote 3 rows: {totals:?}"
    );
    let (code, out, err) = run(
        &dir,
        &[
            "usage",
            "--remote",
            "--database",
            "users",
            "--database-id",
            &shard,
            "--metered-in",
            &home,
        ],
        Some(&fake),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Tenants of pools as d1kit::meter counted them"),
        "{out}"
    );
    let alice = out.lines().find(|l| l.starts_with("alice")).unwrap();
    assert_eq!(cells(alice)[2], "3", "{alice}");
    let _ = std::fs::remove_dir_all(&dir);
}
