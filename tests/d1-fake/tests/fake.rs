//! The fake over real HTTP, as a client sees it.

use std::time::Duration;

use d1_fake::{Failure, FakeD1, Options, RateLimit};
use serde_json::{json, Value};

/// One answer: status, `retry-after`, `content-type`, body text.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// The `result` of a successful envelope.
    fn ok(&self) -> Value {
        let body = self.json();
        assert_eq!(self.status, 200, "{}", self.text);
        assert_eq!(body["success"], true, "{}", self.text);
        assert_eq!(body["errors"], json!([]));
        assert_eq!(body["messages"], json!([]));
        body["result"].clone()
    }

    /// The `(code, message)` of a failed envelope with HTTP `status`.
    fn error(&self, status: u16) -> (u64, String) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.content_type, "application/json");
        let body = self.json();
        assert_eq!(body["success"], false, "{}", self.text);
        assert_eq!(body["result"], Value::Null);
        let error = &body["errors"][0];
        (
            error["code"].as_u64().expect("a code"),
            error["message"].as_str().expect("a message").to_owned(),
        )
    }
}

struct Client {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl Client {
    fn new(fake: &FakeD1) -> Client {
        Client::with_token(fake, fake.token())
    }

    fn with_token(fake: &FakeD1, token: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        Client {
            agent,
            url: format!(
                "{}/accounts/{}/d1/database",
                fake.base_url(),
                fake.account_id()
            ),
            token: token.to_owned(),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("GET", None) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", None) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(body),
            ("PUT", None) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send_empty(),
            ("PUT", Some(body)) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send_json(body),
            ("PATCH", None) => self
                .agent
                .patch(&url)
                .header("Authorization", &auth)
                .send_empty(),
            ("PATCH", Some(body)) => self
                .agent
                .patch(&url)
                .header("Authorization", &auth)
                .send_json(body),
            other => panic!("unsupported {other:?}"),
        };
        let mut response = result.expect("an HTTP answer");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let retry_after = header("retry-after");
        let content_type = header("content-type").unwrap_or_default();
        Answer {
            status: response.status().as_u16(),
            retry_after,
            content_type,
            text: response.body_mut().read_to_string().unwrap(),
        }
    }

    fn create(&self, name: &str) -> Answer {
        self.send("POST", "", Some(json!({ "name": name })))
    }

    fn query(&self, uuid: &str, body: Value) -> Answer {
        self.send("POST", &format!("/{uuid}/query"), Some(body))
    }

    fn raw(&self, uuid: &str, body: Value) -> Answer {
        self.send("POST", &format!("/{uuid}/raw"), Some(body))
    }
}

fn quiet() -> Options {
    Options {
        threads: 4,
        ..Options::default()
    }
}

#[test]
fn create_get_list_delete() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let created = client
        .send(
            "POST",
            "",
            Some(
                json!({"name": "tenant-a", "primary_location_hint": "weur", "jurisdiction": "eu"}),
            ),
        )
        .ok();
    let uuid = created["uuid"].as_str().unwrap().to_owned();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4", "a v4 uuid: {uuid}");
    assert_eq!(created["name"], "tenant-a");
    assert_eq!(created["version"], "production");
    let created_at = created["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.contains('T'),
        "{created_at}"
    );

    let got = client.send("GET", &format!("/{uuid}"), None).ok();
    assert_eq!(got["uuid"], uuid.as_str());
    assert_eq!(got["name"], "tenant-a");
    assert_eq!(got["num_tables"], 0);

    client
        .query(
            &uuid,
            json!({"sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY)"}),
        )
        .ok();
    let list = client.send("GET", "", None);
    let listed = list.ok();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["uuid"], uuid.as_str());
    assert_eq!(listed[0]["num_tables"], 1);
    assert!(listed[0]["file_size"].as_u64().unwrap() > 0);
    assert_eq!(list.json()["result_info"]["total_count"], 1);

    let entries = fake.databases();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].uuid, uuid);
    assert_eq!(entries[0].created_at, created_at);

    assert_eq!(
        client.send("DELETE", &format!("/{uuid}"), None).ok(),
        Value::Null
    );
    let (code, message) = client.send("GET", &format!("/{uuid}"), None).error(404);
    assert_eq!(code, 7404);
    assert_eq!(message, format!("The database {uuid} could not be found"));
    assert_eq!(
        client
            .send("DELETE", &format!("/{uuid}"), None)
            .error(404)
            .0,
        7404
    );
    assert!(fake.databases().is_empty());
    assert!(fake.with_connection(&uuid, |_| ()).is_none());

    let stats = fake.stats();
    assert_eq!((stats.create, stats.get, stats.list), (1, 2, 1));
    assert_eq!((stats.query, stats.delete, stats.raw), (1, 2, 0));
    assert_eq!(stats.requests, 7);
    assert_eq!(stats.responses_4xx, 2);
    assert_eq!(stats.max_concurrent, 1, "one request at a time");
    assert!(stats.first_request.unwrap() <= stats.last_request.unwrap());
}

#[test]
fn list_pages_and_filters() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    for i in 0..25 {
        client.create(&format!("db-{i:02}")).ok();
    }
    let mut names = Vec::new();
    for page in 1..=3 {
        let answer = client.send("GET", &format!("?page={page}&per_page=10"), None);
        let result = answer.ok();
        let info = &answer.json()["result_info"];
        let expected = if page == 3 { 5 } else { 10 };
        assert_eq!(result.as_array().unwrap().len(), expected);
        assert_eq!(info["page"], page);
        assert_eq!(info["per_page"], 10);
        assert_eq!(info["count"], expected);
        assert_eq!(info["total_count"], 25);
        names.extend(
            result
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_owned()),
        );
    }
    let expected: Vec<String> = (0..25).map(|i| format!("db-{i:02}")).collect();
    assert_eq!(names, expected, "creation order, no repeats");
    assert_eq!(
        client.send("GET", "?page=4&per_page=10", None).ok(),
        json!([])
    );

    // Default page size holds them all; `per_page` below the minimum is raised to 10.
    assert_eq!(
        client.send("GET", "", None).ok().as_array().unwrap().len(),
        25
    );
    let small = client.send("GET", "?per_page=3", None);
    assert_eq!(small.ok().as_array().unwrap().len(), 10);
    assert_eq!(small.json()["result_info"]["per_page"], 10);

    // `name` searches by substring: a client must still pick the exact name.
    let found = client.send("GET", "?name=db-1", None).ok();
    assert_eq!(found.as_array().unwrap().len(), 10, "db-10 ..= db-19");
    let exact = client.send("GET", "?name=db-07", None).ok();
    assert_eq!(exact.as_array().unwrap().len(), 1);
    assert_eq!(client.send("GET", "?name=nope", None).ok(), json!([]));

    assert_eq!(client.send("GET", "?page=0", None).error(400).0, 7400);
}

#[test]
fn creation_rules() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    client.create("taken").ok();
    let (code, message) = client.create("taken").error(400);
    assert_eq!(
        (code, message.as_str()),
        (7502, "A database with that name already exists")
    );

    // A database made outside the API is there to adopt, and its name is taken too.
    let adopted = fake.add_database("existing");
    let listed = client.send("GET", "?name=existing", None).ok();
    assert_eq!(listed[0]["uuid"], adopted.as_str());
    assert_eq!(client.create("existing").error(400).0, 7502);

    for bad in [
        "",
        "-lead",
        "_lead",
        "sp ace",
        "dot.ted",
        "é",
        &"x".repeat(65),
    ] {
        let (code, message) = client.create(bad).error(400);
        assert_eq!(code, 7400, "{bad:?}");
        assert!(message.contains("name"), "{message}");
    }
    client.create(&"x".repeat(64)).ok();
    client.create("0-digit_first").ok();

    let (code, message) = client
        .send(
            "POST",
            "",
            Some(json!({"name": "a1", "primary_location_hint": "mars"})),
        )
        .error(400);
    assert_eq!(code, 7400);
    assert!(message.contains("primary_location_hint"), "{message}");
    let (_, message) = client
        .send(
            "POST",
            "",
            Some(json!({"name": "a1", "jurisdiction": "moon"})),
        )
        .error(400);
    assert!(message.contains("jurisdiction"), "{message}");
    assert_eq!(
        client.send("POST", "", Some(json!(["a1"]))).error(400).0,
        7400
    );
    for hint in ["wnam", "enam", "weur", "eeur", "apac", "oc"] {
        let body = json!({"name": format!("in-{hint}"), "primary_location_hint": hint, "jurisdiction": "fedramp"});
        client.send("POST", "", Some(body)).ok();
    }
}

#[test]
fn account_database_limit() {
    let fake = FakeD1::start(Options {
        database_limit: 2,
        ..quiet()
    });
    let client = Client::new(&fake);
    client.create("one").ok();
    let two = client.create("two").ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, message) = client.create("three").error(400);
    assert_eq!(code, 7406);
    assert_eq!(message, "System limit reached: databases per account (2)");
    assert_eq!(fake.databases().len(), 2);
    client.send("DELETE", &format!("/{two}"), None).ok();
    client.create("three").ok();
}

#[test]
fn query_and_raw_round_trip_values_as_javascript_does() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("values").ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .query(&uuid, json!({"sql": "CREATE TABLE v (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB)"}))
        .ok();
    let inserted = client
        .query(
            &uuid,
            json!({"sql": "INSERT INTO v (i, r, t, b) VALUES (?, ?, ?, ?)", "params": [42, 0.5, "héllo \"q\"", null]}),
        )
        .ok();
    let meta = &inserted[0]["meta"];
    assert_eq!(meta["changes"], 1);
    assert_eq!(meta["last_row_id"], 1);
    assert_eq!(meta["changed_db"], true);
    assert_eq!(meta["rows_written"], 1);
    assert!(meta["duration"].is_number() && meta["size_after"].as_u64().unwrap() > 0);
    assert_eq!(inserted[0]["results"], json!([]));
    assert_eq!(inserted[0]["success"], true);

    // Values SQLite holds that JSON from JavaScript cannot say exactly.
    fake.with_connection(&uuid, |conn| {
        conn.execute(
            "INSERT INTO v (i, r, t, b) VALUES (?1, 1.0, 'one', X'0102ff'), (?2, -2.0, NULL, X'')",
            rusqlite::params![9_007_199_254_740_993_i64, i64::MAX],
        )
        .unwrap();
    })
    .unwrap();

    let rows = client
        .query(
            &uuid,
            json!({"sql": "SELECT i, r, t, b FROM v ORDER BY id"}),
        )
        .ok();
    let results = &rows[0]["results"];
    assert_eq!(
        results[0],
        json!({"i": 42, "r": 0.5, "t": "héllo \"q\"", "b": null})
    );
    assert_eq!(
        results[1]["i"].as_i64(),
        Some(9_007_199_254_740_992),
        "rounded to a double"
    );
    assert_eq!(
        results[1]["r"].as_i64(),
        Some(1),
        "1.0 is written 1: {}",
        results[1]
    );
    assert_eq!(results[1]["b"], json!([1, 2, 255]));
    assert_eq!(results[2]["i"].as_f64(), Some(9.223_372_036_854_776e18));
    assert!(
        results[2]["i"].as_i64().is_none(),
        "beyond 2^53 is a double"
    );
    assert_eq!(results[2]["r"].as_i64(), Some(-2));
    assert_eq!(results[2]["b"], json!([]));
    assert_eq!(rows[0]["meta"]["changes"], 0);
    assert_eq!(rows[0]["meta"]["changed_db"], false);
    assert!(rows[0]["meta"]["rows_read"].as_u64().unwrap() >= 3);

    let raw = client
        .raw(
            &uuid,
            json!({"sql": "SELECT t, i, b FROM v WHERE id = ?", "params": [2]}),
        )
        .ok();
    assert_eq!(raw[0]["results"]["columns"], json!(["t", "i", "b"]));
    assert_eq!(
        raw[0]["results"]["rows"],
        json!([["one", 9_007_199_254_740_992_i64, [1, 2, 255]]])
    );
    assert_eq!(raw[0]["success"], true);

    // Duplicate column names: /raw keeps both, /query keeps the key once with the last value.
    let sql = json!({"sql": "SELECT 1 AS a, 2 AS b, 3 AS a"});
    let raw = client.raw(&uuid, sql.clone()).ok();
    assert_eq!(raw[0]["results"]["columns"], json!(["a", "b", "a"]));
    assert_eq!(raw[0]["results"]["rows"], json!([[1, 2, 3]]));
    let query = client.query(&uuid, sql);
    assert!(query.text.contains(r#"[{"a":3,"b":2}]"#), "{}", query.text);
}

#[test]
fn parameters_bind_as_d1_binds_javascript_values() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("params").ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let typed = client
        .raw(
            &uuid,
            json!({
                "sql": "SELECT typeof(?1), typeof(?2), typeof(?3), typeof(?4), typeof(?5), ?5, ?6, ?7",
                "params": [true, 1.0, 0.25, "s", null, 9_007_199_254_740_993_i64, false],
            }),
        )
        .ok();
    assert_eq!(
        typed[0]["results"]["rows"][0],
        json!([
            "integer",
            "integer",
            "real",
            "text",
            "null",
            null,
            9_007_199_254_740_992_i64,
            0
        ])
    );

    for (value, shown) in [
        (json!({"a": 1}), "[object Object]"),
        (json!([1, "x"]), "1,x"),
    ] {
        let (code, message) = client
            .query(&uuid, json!({"sql": "SELECT ?", "params": [value]}))
            .error(400);
        assert_eq!(code, 7500);
        assert_eq!(
            message,
            format!("D1_TYPE_ERROR: Type 'object' not supported for value '{shown}'")
        );
    }
    let (_, message) = client
        .query(&uuid, json!({"sql": "SELECT ?, ?", "params": [1]}))
        .error(400);
    assert_eq!(message, "Wrong number of parameter bindings for SQL query.");
    let (_, message) = client
        .query(&uuid, json!({"sql": "SELECT 1", "params": [1]}))
        .error(400);
    assert_eq!(message, "Wrong number of parameter bindings for SQL query.");
    assert_eq!(
        client.query(&uuid, json!({"params": []})).error(400).0,
        7400
    );
}

#[test]
fn a_failing_batch_or_statement_list_leaves_nothing() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("atomic").ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .query(
            &uuid,
            json!({"sql": "CREATE TABLE kept (a INTEGER UNIQUE)"}),
        )
        .ok();

    let (code, message) = client
        .query(
            &uuid,
            json!({"batch": [
                {"sql": "CREATE TABLE made (a)"},
                {"sql": "INSERT INTO kept (a) VALUES (?)", "params": [1]},
                {"sql": "INSERT INTO missing VALUES (1)"},
            ]}),
        )
        .error(400);
    assert_eq!(code, 7500);
    assert_eq!(message, "no such table: missing: SQLITE_ERROR");

    let (_, message) = client
        .raw(
            &uuid,
            json!({"sql": "INSERT INTO kept VALUES (2); INSERT INTO kept VALUES (2)"}),
        )
        .error(400);
    assert_eq!(
        message,
        "UNIQUE constraint failed: kept.a: SQLITE_CONSTRAINT"
    );

    let state = fake
        .with_connection(&uuid, |conn| {
            let tables: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'made'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let rows: i64 = conn
                .query_row("SELECT count(*) FROM kept", [], |r| r.get(0))
                .unwrap();
            (tables, rows, conn.is_autocommit())
        })
        .unwrap();
    assert_eq!(state, (0, 0, true), "nothing of either request stayed");

    // A batch that succeeds answers once per statement, and all of it stays.
    let batch = client
        .query(
            &uuid,
            json!({"batch": [
                {"sql": "INSERT INTO kept VALUES (?)", "params": [1]},
                {"sql": "INSERT INTO kept VALUES (?)", "params": [2]},
                {"sql": "SELECT count(*) AS n FROM kept"},
            ]}),
        )
        .ok();
    assert_eq!(batch.as_array().unwrap().len(), 3);
    assert_eq!(batch[2]["results"], json!([{"n": 2}]));
}

#[test]
fn several_statements_in_one_sql() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("multi").ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let result = client
        .query(
            &uuid,
            json!({"sql": "CREATE TABLE t (a); INSERT INTO t VALUES (1);\n INSERT INTO t VALUES (2); -- done\n SELECT a FROM t ORDER BY a;"}),
        )
        .ok();
    let statements = result.as_array().unwrap();
    assert_eq!(statements.len(), 4);
    assert_eq!(
        statements[0]["meta"]["changed_db"], true,
        "DDL changes the database"
    );
    assert_eq!(statements[2]["meta"]["changes"], 1);
    assert_eq!(statements[3]["results"], json!([{"a": 1}, {"a": 2}]));

    // Only the last statement may have parameters.
    let last = client
        .query(&uuid, json!({"sql": "INSERT INTO t VALUES (3); SELECT count(*) AS n FROM t WHERE a < ?", "params": [10]}))
        .ok();
    assert_eq!(last[1]["results"], json!([{"n": 3}]));
    let (code, message) = client
        .query(
            &uuid,
            json!({"sql": "INSERT INTO t VALUES (?); SELECT 1", "params": [4]}),
        )
        .error(400);
    assert_eq!(code, 7500);
    assert!(
        message.contains("only the last statement can have parameters"),
        "{message}"
    );
    let count = fake
        .with_connection(&uuid, |c| {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                .unwrap()
        })
        .unwrap();
    assert_eq!(count, 3);

    // No SQL transactions: D1 refuses them.
    for sql in [
        "BEGIN; INSERT INTO t VALUES (9); COMMIT",
        "SAVEPOINT s",
        "INSERT INTO t VALUES (9); ROLLBACK",
    ] {
        let (code, message) = client.query(&uuid, json!({ "sql": sql })).error(400);
        assert_eq!(code, 7500);
        assert!(message.contains("state.storage.transaction()"), "{message}");
        assert!(message.ends_with(": SQLITE_AUTH"), "{message}");
    }
    let (_, message) = client
        .query(&uuid, json!({"sql": "ATTACH 'x.db' AS x"}))
        .error(400);
    assert_eq!(message, "not authorized: SQLITE_AUTH");
    let (_, message) = client
        .query(&uuid, json!({"sql": "  -- nothing\n"}))
        .error(400);
    assert_eq!(message, "No SQL statements detected.");
    let (_, message) = client
        .query(&uuid, json!({"sql": "SELECT * FROM t WHERE boom boom"}))
        .error(400);
    assert!(
        message.starts_with("near \"boom\": syntax error at offset "),
        "{message}"
    );
    assert!(message.ends_with(": SQLITE_ERROR"), "{message}");

    // Foreign keys are enforced, as on D1.
    client
        .query(&uuid, json!({"sql": "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p(id))"}))
        .ok();
    let (_, message) = client
        .query(&uuid, json!({"sql": "INSERT INTO c VALUES (7)"}))
        .error(400);
    assert_eq!(message, "FOREIGN KEY constraint failed: SQLITE_CONSTRAINT");
}

#[test]
fn authentication_routes_and_ids() {
    let fake = FakeD1::start(quiet());
    let uuid = fake.add_database("mine");
    let wrong = Client::with_token(&fake, "not-the-token");
    let (code, message) = wrong.send("GET", "", None).error(403);
    assert_eq!((code, message.as_str()), (10000, "Authentication error"));
    assert_eq!(
        wrong.query(&uuid, json!({"sql": "SELECT 1"})).error(403).0,
        10000
    );
    assert_eq!(wrong.create("nope").error(403).0, 10000);
    assert_eq!(fake.databases().len(), 1);

    let client = Client::new(&fake);
    let other_account = Client {
        url: format!(
            "{}/accounts/ffffffffffffffffffffffffffffffff/d1/database",
            fake.base_url()
        ),
        ..Client::new(&fake)
    };
    let (code, message) = other_account.send("GET", "", None).error(403);
    assert_eq!(code, 7403);
    assert!(message.contains("not authorized to access this service"));

    let (code, message) = client.send("GET", "/x/y/z", None).error(404);
    assert_eq!((code, message.as_str()), (7000, "No route for that URI"));
    assert_eq!(client.send("PUT", "", None).error(405).0, 7001);
    // `GET` takes a name too (none here); the other endpoints want a uuid.
    assert_eq!(client.send("GET", "/placeholder", None).error(404).0, 7404);
    assert_eq!(
        client
            .query("placeholder", json!({"sql": "SELECT 1"}))
            .error(400)
            .0,
        7400
    );
    let missing = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        client
            .query(missing, json!({"sql": "SELECT 1"}))
            .error(404)
            .0,
        7404
    );
    assert_eq!(
        client.raw(missing, json!({"sql": "SELECT 1"})).error(404).0,
        7404
    );
    client.query(&uuid, json!({"sql": "SELECT 1"})).ok();
    client
        .query(&uuid.to_uppercase(), json!({"sql": "SELECT 1"}))
        .ok();
}

#[test]
fn rate_limit_answers_429_with_retry_after_then_recovers() {
    let fake = FakeD1::start(Options {
        rate_limit: Some(RateLimit {
            requests: 3,
            per: Duration::from_secs(1),
        }),
        latency: Duration::from_millis(20),
        ..quiet()
    });
    let client = Client::new(&fake);
    for _ in 0..3 {
        client.send("GET", "", None).ok();
    }
    for _ in 0..2 {
        let answer = client.send("GET", "", None);
        let (code, message) = answer.error(429);
        assert_eq!(code, 971);
        assert!(message.contains("Please wait and consider throttling your request speed"));
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
    }
    let wait: u64 = client
        .send("GET", "", None)
        .retry_after
        .unwrap()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(50));
    // Rejected requests did not count: the window holds three fresh slots again.
    for _ in 0..3 {
        client.send("GET", "", None).ok();
    }
    assert_eq!(client.send("GET", "", None).status, 429);
    let stats = fake.stats();
    assert_eq!(stats.responses_429, 4);
    assert_eq!(stats.list, 10);

    fake.set_rate_limit(None);
    client.send("GET", "", None).ok();
}

#[test]
fn injected_query_failures_execute_nothing() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("flaky").ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .query(&uuid, json!({"sql": "CREATE TABLE t (a)"}))
        .ok();
    fake.fail_next_query(
        "INSERT INTO t",
        2,
        "D1 DB is overloaded. Too many requests queued.",
    );

    client
        .query(&uuid, json!({"sql": "SELECT count(*) FROM t"}))
        .ok();
    let (code, message) = client
        .query(
            &uuid,
            json!({"sql": "INSERT INTO t VALUES (?)", "params": [1]}),
        )
        .error(400);
    assert_eq!(
        (code, message.as_str()),
        (7500, "D1 DB is overloaded. Too many requests queued.")
    );
    let (code, _) = client
        .raw(
            &uuid,
            json!({"batch": [{"sql": "CREATE TABLE u (a)"}, {"sql": "INSERT INTO t VALUES (2)"}]}),
        )
        .error(400);
    assert_eq!(code, 7500);
    let (tables, rows) = fake
        .with_connection(&uuid, |c| {
            let tables: i64 = c
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .unwrap();
            let rows: i64 = c
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            (tables, rows)
        })
        .unwrap();
    assert_eq!((tables, rows), (1, 0), "neither failed request ran");
    client
        .query(&uuid, json!({"sql": "INSERT INTO t VALUES (3)"}))
        .ok();
}

#[test]
fn injected_request_failures_happen_before_any_effect() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    fake.fail_next_requests(1, Failure::Transient);
    fake.fail_next_requests(1, Failure::BadGateway);
    fake.fail_next_requests(
        1,
        Failure::RateLimited {
            retry_after_secs: 7,
        },
    );

    let (code, _) = client.create("a").error(500);
    assert_eq!(code, 7500);
    let gateway = client.create("a");
    assert_eq!(gateway.status, 502);
    assert!(
        gateway.content_type.starts_with("text/html"),
        "{}",
        gateway.content_type
    );
    assert!(gateway.text.starts_with("<html>"));
    assert!(serde_json::from_str::<Value>(&gateway.text).is_err());
    let limited = client.create("a");
    assert_eq!(limited.error(429).0, 971);
    assert_eq!(limited.retry_after.as_deref(), Some("7"));
    assert!(
        fake.databases().is_empty(),
        "no failed create created anything"
    );

    client.create("a").ok();
    let stats = fake.stats();
    assert_eq!(
        (stats.responses_5xx, stats.responses_429, stats.create),
        (2, 1, 4)
    );
}

#[test]
fn transient_failures_by_rate_and_seeded_uuids() {
    let fake = FakeD1::start(Options {
        transient_failure_rate: 1.0,
        ..quiet()
    });
    let client = Client::new(&fake);
    assert_eq!(client.create("a").error(500).0, 7500);
    assert!(fake.databases().is_empty());
    fake.set_transient_failure_rate(0.0);
    client.create("a").ok();

    let uuids = |seed| {
        let fake = FakeD1::start(Options { seed, ..quiet() });
        (0..3)
            .map(|i| fake.add_database(&format!("d{i}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(uuids(11), uuids(11));
    assert_ne!(uuids(11), uuids(12));
}

#[test]
fn latency_does_not_serialise_concurrent_clients() {
    let fake = FakeD1::start(Options {
        latency: Duration::from_millis(300),
        threads: 8,
        ..Options::default()
    });
    let uuid = fake.add_database("shared");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (fake, uuid) = (&fake, &uuid);
                scope.spawn(move || {
                    let client = Client::new(fake);
                    if i % 2 == 0 {
                        client.send("GET", "", None).ok();
                    } else {
                        client
                            .query(uuid, json!({"sql": "SELECT ? AS i", "params": [i]}))
                            .ok();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    let stats = fake.stats();
    assert_eq!(stats.requests, 8);
    assert!(stats.max_concurrent >= 2, "{stats:?}");
    assert_eq!((stats.list, stats.query), (4, 4));

    fake.reset_stats();
    fake.set_latency(Duration::ZERO);
    Client::new(&fake).send("GET", "", None).ok();
    assert_eq!(fake.stats().requests, 1);
}

#[test]
fn dropping_the_fake_stops_its_server() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    client.send("GET", "", None).ok();
    let url = client.url.clone();
    drop(fake);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    assert!(
        agent.get(&url).call().is_err(),
        "nothing answers after the drop"
    );
}

/// The current specification: jurisdiction `us`, and names with upper case (compared exactly).
#[test]
fn jurisdiction_us_and_upper_case_names() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let body = json!({"name": "in-us", "jurisdiction": "us"});
    let uuid = client.send("POST", "", Some(body)).ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = client.send("GET", &format!("/{uuid}"), None).ok();
    assert_eq!(got["jurisdiction"], "us");

    for name in ["Upper", "Tenant-A_1", "X", "9Lives"] {
        assert_eq!(client.create(name).ok()["name"], name);
    }
    // Another case is another name; the same name is taken.
    client.create("upper").ok();
    assert_eq!(client.create("Upper").error(400).0, 7502);
    assert_eq!(fake.databases().len(), 6);
}

#[test]
fn get_takes_a_uuid_or_a_name() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("Tenant-7").ok()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_name = client.send("GET", "/Tenant-7", None).ok();
    assert_eq!(
        (by_name["uuid"].as_str(), by_name["name"].as_str()),
        (Some(uuid.as_str()), Some("Tenant-7"))
    );
    assert_eq!(by_name["read_replication"], json!({"mode": "disabled"}));
    assert_eq!(
        client.send("GET", &format!("/{uuid}"), None).ok(),
        by_name,
        "the same details by uuid"
    );
    assert_eq!(
        client
            .send("GET", &format!("/{}", uuid.to_uppercase()), None)
            .ok()["uuid"],
        uuid.as_str()
    );
    // `fields=` is accepted.
    let fields = client.send("GET", "/Tenant-7?fields=uuid,name", None).ok();
    assert_eq!(fields["uuid"], uuid.as_str());

    // Names are exact, and a missing one is a 404 with the API's wording.
    let (code, message) = client.send("GET", "/tenant-7", None).error(404);
    assert_eq!(
        (code, message.as_str()),
        (7404, "The database tenant-7 could not be found")
    );
    assert_eq!(client.send("GET", "/Tenant", None).error(404).0, 7404);
    // A name shaped like a uuid is found by its name too.
    let odd = "00000000-0000-4000-8000-00000000000a";
    let odd_uuid = fake.add_database(odd);
    assert_eq!(
        client.send("GET", &format!("/{odd}"), None).ok()["uuid"],
        odd_uuid.as_str()
    );
    // Only GET takes names.
    assert_eq!(client.send("DELETE", "/Tenant-7", None).error(400).0, 7400);
    assert_eq!(fake.stats().get, 7);
}

#[test]
fn list_total_count_may_count_every_database_and_pages_may_be_smaller() {
    let fake = FakeD1::start(Options {
        total_count_ignores_name: true,
        max_per_page: 10,
        ..quiet()
    });
    let client = Client::new(&fake);
    for i in 0..25 {
        client.create(&format!("db-{i:02}")).ok();
    }
    client.create("other").ok();
    let filtered = client.send("GET", "?name=db-1", None);
    assert_eq!(filtered.ok().as_array().unwrap().len(), 10);
    let info = &filtered.json()["result_info"];
    assert_eq!(
        (info["count"].as_u64(), info["total_count"].as_u64()),
        (Some(10), Some(26))
    );
    // The page size is lowered to 10, whatever was asked.
    for (query, per_page) in [("", 10), ("?per_page=1000", 10), ("?per_page=5", 10)] {
        let answer = client.send("GET", query, None);
        assert_eq!(answer.ok().as_array().unwrap().len(), 10, "{query}");
        assert_eq!(
            answer.json()["result_info"]["per_page"],
            per_page,
            "{query}"
        );
    }
    let last = client.send("GET", "?page=3", None);
    assert_eq!(last.ok().as_array().unwrap().len(), 6);

    // By default `total_count` counts the matches.
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    fake.add_database("db-1");
    fake.add_database("other");
    let filtered = client.send("GET", "?name=db-1", None);
    assert_eq!(filtered.json()["result_info"]["total_count"], 1);
}

#[test]
fn a_failure_after_the_effect_keeps_the_effect() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = fake.add_database("doomed");
    fake.fail_next_requests(1, Failure::TransientAfterEffect);
    let (code, message) = client.send("DELETE", &format!("/{uuid}"), None).error(500);
    assert_eq!((code, message.as_str()), (7500, "internal error"));
    assert!(fake.databases().is_empty(), "the delete happened");
    assert_eq!(
        client
            .send("DELETE", &format!("/{uuid}"), None)
            .error(404)
            .0,
        7404,
        "its retry finds nothing"
    );

    fake.fail_next_requests(1, Failure::TransientAfterEffect);
    assert_eq!(client.create("made").error(500).0, 7500);
    assert_eq!(fake.databases().len(), 1, "the create happened");
    assert_eq!(client.create("made").error(400).0, 7502);

    let uuid = fake.databases()[0].uuid.clone();
    client
        .query(&uuid, json!({"sql": "CREATE TABLE t (a)"}))
        .ok();
    fake.fail_next_requests(1, Failure::TransientAfterEffect);
    assert_eq!(
        client
            .query(&uuid, json!({"sql": "INSERT INTO t VALUES (1)"}))
            .error(500)
            .0,
        7500
    );
    let rows: i64 = fake
        .with_connection(&uuid, |c| {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap()
        })
        .unwrap();
    assert_eq!(rows, 1, "the write was committed");
    let stats = fake.stats();
    assert_eq!((stats.responses_5xx, stats.delete, stats.create), (3, 2, 2));
}

#[test]
fn read_replication_is_set_by_put_or_patch() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = fake.add_database("replicated");
    let path = format!("/{uuid}");
    let mode = |details: &Value| details["read_replication"]["mode"].clone();

    let put = client.send(
        "PUT",
        &path,
        Some(json!({"read_replication": {"mode": "auto"}})),
    );
    let details = put.ok();
    assert_eq!(
        (details["uuid"].as_str(), details["name"].as_str()),
        (Some(uuid.as_str()), Some("replicated"))
    );
    assert_eq!(mode(&details), "auto");
    assert_eq!(mode(&client.send("GET", &path, None).ok()), "auto");
    // A PATCH without a body, or without `read_replication`, changes nothing.
    assert_eq!(mode(&client.send("PATCH", &path, None).ok()), "auto");
    assert_eq!(
        mode(&client.send("PATCH", &path, Some(json!({}))).ok()),
        "auto"
    );
    let patch = json!({"read_replication": {"mode": "disabled"}});
    assert_eq!(
        mode(&client.send("PATCH", &path, Some(patch)).ok()),
        "disabled"
    );

    // A PUT needs the setting; a mode must be one D1 knows.
    let (code, message) = client.send("PUT", &path, Some(json!({}))).error(400);
    assert_eq!(code, 7400);
    assert!(message.contains("read_replication"), "{message}");
    assert_eq!(client.send("PUT", &path, None).error(400).0, 7400);
    let bad = json!({"read_replication": {"mode": "sometimes"}});
    let (code, message) = client.send("PUT", &path, Some(bad)).error(400);
    assert_eq!(code, 7400);
    assert!(
        message.contains("sometimes") && message.contains("auto"),
        "{message}"
    );
    assert_eq!(mode(&client.send("GET", &path, None).ok()), "disabled");
    // By uuid only, like the other endpoints but GET.
    let auto = json!({"read_replication": {"mode": "auto"}});
    assert_eq!(
        client
            .send("PUT", "/replicated", Some(auto.clone()))
            .error(400)
            .0,
        7400
    );
    let missing = "/00000000-0000-4000-8000-000000000000";
    assert_eq!(
        client.send("PUT", missing, Some(auto.clone())).error(404).0,
        7404
    );
    // Authenticated, rate limited and failing as any other endpoint.
    let wrong = Client::with_token(&fake, "not-the-token");
    assert_eq!(
        wrong.send("PUT", &path, Some(auto.clone())).error(403).0,
        10000
    );
    fake.fail_next_requests(1, Failure::Transient);
    assert_eq!(
        client.send("PUT", &path, Some(auto.clone())).error(500).0,
        7500
    );
    assert_eq!(mode(&client.send("GET", &path, None).ok()), "disabled");
    fake.set_rate_limit(Some(RateLimit {
        requests: 0,
        per: Duration::from_secs(60),
    }));
    let limited = client.send("PATCH", &path, Some(auto));
    assert_eq!(limited.error(429).0, 971);
    assert!(limited.retry_after.is_some());
    fake.set_rate_limit(None);
    assert_eq!(mode(&client.send("GET", &path, None).ok()), "disabled");

    let stats = fake.stats();
    assert_eq!(stats.update, 12);
    assert_eq!(stats.get, 4);
}
