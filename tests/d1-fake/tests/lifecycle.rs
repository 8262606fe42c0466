//! The fake's lifecycle endpoints over real HTTP: GraphQL analytics, Time Travel, export,
//! import, signed URLs, and the fake's clock.

use std::time::Duration;

use d1_fake::{FakeD1, Options, RateLimit, Usage};
use rusqlite::types::ValueRef;
use serde_json::{json, Value};

/// One answer: status, a few headers, body text.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: String,
    etag: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// The `result` of a successful envelope with HTTP `status`.
    fn ok_with(&self, status: u16) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(body["success"], true, "{}", self.text);
        assert_eq!(body["errors"], json!([]));
        body["result"].clone()
    }

    fn ok(&self) -> Value {
        self.ok_with(200)
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

    /// GraphQL's `data`, asserting there is no error.
    fn data(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.text);
        let body = self.json();
        assert_eq!(body["errors"], Value::Null, "{}", self.text);
        body["data"].clone()
    }

    /// GraphQL's first error (`data` is null, HTTP 200).
    fn graphql_error(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.text);
        let body = self.json();
        assert_eq!(body["data"], Value::Null, "{}", self.text);
        body["errors"][0].clone()
    }

    /// An S3 XML error's code and message.
    fn xml_error(&self, status: u16) -> (String, String) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.content_type, "application/xml");
        let between = |open: &str, close: &str| {
            let start = self.text.find(open).expect(open) + open.len();
            let end = self.text[start..].find(close).expect(close) + start;
            self.text[start..end].to_owned()
        };
        (
            between("<Code>", "</Code>"),
            between("<Message>", "</Message>"),
        )
    }
}

struct Client {
    agent: ureq::Agent,
    url: String,
    graphql_url: String,
    token: String,
}

impl Client {
    fn new(fake: &FakeD1) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        Client {
            agent,
            url: fake.databases_url(),
            graphql_url: fake.graphql_url(),
            token: fake.token().to_owned(),
        }
    }

    fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut response = result.expect("an HTTP answer");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (retry_after, etag) = (header("retry-after"), header("etag"));
        let content_type = header("content-type").unwrap_or_default();
        Answer {
            status: response.status().as_u16(),
            retry_after,
            content_type,
            etag,
            text: response.body_mut().read_to_string().unwrap(),
        }
    }

    /// A request under `…/d1/database` with the token.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        Client::answer(match (method, body) {
            ("GET", None) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", None) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("POST", None) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(body),
            other => panic!("unsupported {other:?}"),
        })
    }

    fn create(&self, name: &str) -> String {
        self.send("POST", "", Some(json!({ "name": name }))).ok()["uuid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn query(&self, uuid: &str, sql: &str) -> Answer {
        self.send(
            "POST",
            &format!("/{uuid}/query"),
            Some(json!({ "sql": sql })),
        )
    }

    fn graphql_with_token(&self, token: &str, query: &str, variables: Value) -> Answer {
        Client::answer(
            self.agent
                .post(&self.graphql_url)
                .header("Authorization", &format!("Bearer {token}"))
                .send_json(json!({ "query": query, "variables": variables })),
        )
    }

    fn graphql(&self, query: &str, variables: Value) -> Answer {
        self.graphql_with_token(&self.token, query, variables)
    }

    /// A GET of an absolute URL (a signed one), with an `Authorization` header or none.
    fn get_url(&self, url: &str, auth: Option<&str>) -> Answer {
        let request = self.agent.get(url);
        Client::answer(match auth {
            Some(auth) => request.header("Authorization", auth).call(),
            None => request.call(),
        })
    }

    /// A PUT of `bytes` to an absolute URL, with no token.
    fn put_url(&self, url: &str, bytes: &[u8]) -> Answer {
        Client::answer(self.agent.put(url).send(bytes))
    }
}

fn quiet() -> Options {
    Options {
        threads: 4,
        ..Options::default()
    }
}

/// `rows` of `sql` on database `uuid`, every cell as `typeof:hex`, read from SQLite itself.
fn cells(fake: &FakeD1, uuid: &str, sql: &str) -> Vec<Vec<String>> {
    fake.with_connection(uuid, |conn| {
        let mut statement = conn.prepare(sql).unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let cells = (0..columns)
                .map(|i| match row.get_ref(i).unwrap() {
                    ValueRef::Null => "null".to_owned(),
                    ValueRef::Integer(n) => format!("integer:{n}"),
                    ValueRef::Real(f) => format!("real:{:016x}", f.to_bits()),
                    ValueRef::Text(t) => format!("text:{}", hex(t)),
                    ValueRef::Blob(b) => format!("blob:{}", hex(b)),
                })
                .collect();
            out.push(cells);
        }
        out
    })
    .expect("the database exists")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const SUMS: &str = r#"
query Usage($account: string!, $filter: AccountD1AnalyticsAdaptiveGroupsFilter_InputObject) {
  viewer {
    accounts(filter: {accountTag: $account}) {
      d1AnalyticsAdaptiveGroups(limit: 10000, filter: $filter) {
        sum { readQueries writeQueries rowsRead rowsWritten queryBatchResponseBytes }
        avg { queryBatchTimeMs }
        quantiles { queryBatchTimeMsP90 }
        count
        dimensions { databaseId }
      }
    }
  }
}"#;

/// The one group of `SUMS` for database `uuid`, as a [`Usage`].
fn graphql_usage(client: &Client, fake: &FakeD1, uuid: &str) -> Usage {
    let data = client
        .graphql(
            SUMS,
            json!({"account": fake.account_id(), "filter": {"databaseId": uuid}}),
        )
        .data();
    let groups = data["viewer"]["accounts"][0]["d1AnalyticsAdaptiveGroups"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let sum = &groups[0]["sum"];
    let int = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("an integer: {v}"));
    assert_eq!(groups[0]["dimensions"]["databaseId"], uuid);
    Usage {
        read_queries: int(&sum["readQueries"]),
        write_queries: int(&sum["writeQueries"]),
        rows_read: int(&sum["rowsRead"]),
        rows_written: int(&sum["rowsWritten"]),
        response_bytes: int(&sum["queryBatchResponseBytes"]),
    }
}

#[test]
fn graphql_figures_equal_the_recorded_usage() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let a = client.create("tenant-a");
    let b = client.create("tenant-b");
    client
        .query(&a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .ok();
    client
        .query(&a, "INSERT INTO t (v) VALUES ('x'), ('y'), ('z')")
        .ok();
    client.query(&a, "SELECT * FROM t").ok();
    client.query(&a, "SELECT * FROM t WHERE id = 2").ok();
    // A failed request is no query batch.
    client.query(&a, "SELECT * FROM missing").error(400);
    // An UPDATE that matched nothing wrote nothing: a read query.
    client.query(&a, "UPDATE t SET v = 'w' WHERE id = 99").ok();
    client.query(&b, "SELECT 1").ok();

    let usage = fake.usage(&a);
    assert_eq!(usage.read_queries, 3);
    assert_eq!(usage.write_queries, 2);
    assert_eq!(usage.rows_written, 3);
    assert!(usage.rows_read >= 4, "{usage:?}");
    assert!(usage.response_bytes > 0);
    assert_eq!(graphql_usage(&client, &fake, &a), usage);
    assert_eq!(graphql_usage(&client, &fake, &b), fake.usage(&b));
    assert_eq!(fake.usage(&b).read_queries, 1);

    // Types: counts are integers, averages and quantiles floats; fields come in the order
    // the query selected them.
    let answer = client.graphql(
        SUMS,
        json!({"account": fake.account_id(), "filter": {"databaseId": a}}),
    );
    let group = &answer.data()["viewer"]["accounts"][0]["d1AnalyticsAdaptiveGroups"][0];
    assert!(group["avg"]["queryBatchTimeMs"].is_f64(), "{group}");
    assert!(
        group["quantiles"]["queryBatchTimeMsP90"].is_f64(),
        "{group}"
    );
    assert_eq!(group["count"], 5);
    let text = &answer.text;
    let order = [
        "\"sum\"",
        "\"avg\"",
        "\"quantiles\"",
        "\"count\"",
        "\"dimensions\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.contains("\"errors\":null"), "{text}");

    // Without a databaseId filter nor that dimension: one group for the account.
    let data = client
        .graphql(
            r#"{ viewer { accounts(filter: {accountTag: "ACCOUNT"}) {
                 d1AnalyticsAdaptiveGroups(limit: 5) { sum { readQueries writeQueries } } } } }"#
                .replace("ACCOUNT", fake.account_id())
                .as_str(),
            Value::Null,
        )
        .data();
    assert_eq!(
        data["viewer"]["accounts"][0]["d1AnalyticsAdaptiveGroups"],
        json!([{"sum": {"readQueries": 4, "writeQueries": 2}}])
    );
}

#[test]
fn graphql_groups_by_the_selected_dimensions() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let a = client.create("a");
    let b = client.create("b");
    let first_day = client.send("GET", &format!("/{a}"), None).ok()["created_at"]
        .as_str()
        .unwrap()[..10]
        .to_owned();
    client.query(&a, "CREATE TABLE t (x)").ok();
    client.query(&b, "SELECT 1").ok();
    fake.advance_clock(Duration::from_secs(86_400));
    for _ in 0..3 {
        client.query(&a, "INSERT INTO t VALUES (1)").ok();
    }
    client.query(&b, "SELECT 2").ok();

    let query = r#"
      query ($account: String!, $filter: Filter, $order: [Order!], $limit: Int = 100,
             $withDb: Boolean!) {
        viewer { accounts(filter: {accountTag: $account}) {
          groups: d1AnalyticsAdaptiveGroups(limit: $limit, filter: $filter, orderBy: $order) {
            total: sum { writes: writeQueries reads: readQueries }
            dimensions { day: date databaseId @include(if: $withDb) }
          }
        } }
      }"#;
    let groups = |variables: Value| {
        let mut variables = variables;
        variables["account"] = json!(fake.account_id());
        client.graphql(query, variables).data()["viewer"]["accounts"][0]["groups"].clone()
    };
    let days = groups(json!({"order": ["date_ASC"], "withDb": false}));
    let days = days.as_array().unwrap();
    assert_eq!(days.len(), 2, "{days:?}");
    assert_eq!(days[0]["dimensions"], json!({"day": first_day}));
    assert_eq!(days[0]["total"], json!({"writes": 1, "reads": 1}));
    assert_eq!(days[1]["total"], json!({"writes": 3, "reads": 1}));
    let second_day = days[1]["dimensions"]["day"].as_str().unwrap().to_owned();

    // By date and database; the biggest writer first; limit respected.
    let top = groups(json!({"order": ["sum_writeQueries_DESC"], "limit": 1, "withDb": true}));
    assert_eq!(
        top,
        json!([{"total": {"writes": 3, "reads": 0}, "dimensions": {"day": second_day, "databaseId": a}}])
    );
    // Filters: AND of a date range and databaseId_in.
    let filtered = groups(json!({
        "withDb": true,
        "order": ["date_DESC"],
        "filter": {"AND": [{"date_geq": first_day, "date_leq": second_day}, {"databaseId_in": [b]}]},
    }));
    assert_eq!(filtered.as_array().unwrap().len(), 2);
    assert_eq!(filtered[0]["dimensions"]["day"], second_day.as_str());
    assert!(filtered
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["dimensions"]["databaseId"] == b.as_str()));
    let today = groups(json!({"withDb": false, "filter": {"date_gt": first_day}}));
    assert_eq!(today.as_array().unwrap().len(), 1);
    assert_eq!(today[0]["dimensions"]["day"], second_day.as_str());

    // Minutes and hours: `datetime` is the minute, `datetimeHour` the hour.
    let data = client
        .graphql(
            r#"query ($a: string, $since: Time) { viewer { accounts(filter: {accountTag: $a}) {
                 d1AnalyticsAdaptiveGroups(limit: 10, filter: {datetime_geq: $since, databaseId: "DB"},
                                           orderBy: [datetime_ASC]) {
                   count dimensions { datetime datetimeHour } } } } }"#
                .replace("DB", &a)
                .as_str(),
            json!({"a": fake.account_id(), "since": format!("{second_day}T00:00:00.000Z")}),
        )
        .data();
    let minutes = data["viewer"]["accounts"][0]["d1AnalyticsAdaptiveGroups"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        minutes
            .iter()
            .map(|g| g["count"].as_u64().unwrap())
            .sum::<u64>(),
        3
    );
    let datetime = minutes[0]["dimensions"]["datetime"].as_str().unwrap();
    let hour = minutes[0]["dimensions"]["datetimeHour"].as_str().unwrap();
    assert!(
        datetime.starts_with(&second_day) && datetime.ends_with(":00Z"),
        "{datetime}"
    );
    assert_eq!(&hour[..13], &datetime[..13]);
    assert!(hour.ends_with(":00:00Z"), "{hour}");
}

#[test]
fn graphql_storage_reports_each_days_largest_size() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let a = client.create("sized");
    client.query(&a, "CREATE TABLE t (x)").ok();
    client
        .query(
            &a,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO t SELECT randomblob(100) FROM n",
        )
        .ok();
    let biggest = client.send("GET", &format!("/{a}"), None).ok()["file_size"]
        .as_u64()
        .unwrap();
    client.query(&a, "DELETE FROM t").ok();
    let data = client
        .graphql(
            r#"query ($a: String!) { viewer { accounts(filter: {accountTag: $a}) {
                 d1StorageAdaptiveGroups(limit: 10, orderBy: [date_DESC]) {
                   max { databaseSizeBytes } dimensions { date databaseId } } } } }"#,
            json!({"a": fake.account_id()}),
        )
        .data();
    let groups = &data["viewer"]["accounts"][0]["d1StorageAdaptiveGroups"];
    assert_eq!(groups.as_array().unwrap().len(), 1, "{groups}");
    assert_eq!(groups[0]["max"]["databaseSizeBytes"], biggest);
    assert_eq!(groups[0]["dimensions"]["databaseId"], a.as_str());
}

#[test]
fn graphql_errors_name_the_field() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let account = json!({"a": fake.account_id()});
    let wrap = |inner: &str| {
        format!(
            "query ($a: String!) {{ viewer {{ accounts(filter: {{accountTag: $a}}) {{ {inner} }} }} }}"
        )
    };

    let error = client
        .graphql(
            &wrap("d1AnalyticsAdaptiveGroups(limit: 1) { sum { rowsRed } }"),
            account.clone(),
        )
        .graphql_error();
    assert!(
        error["message"].as_str().unwrap().contains("\"rowsRed\""),
        "{error}"
    );
    assert_eq!(
        error["path"],
        json!([
            "viewer",
            "accounts",
            0,
            "d1AnalyticsAdaptiveGroups",
            "sum",
            "rowsRed"
        ])
    );
    let error = client
        .graphql(&wrap("d1NopeGroups(limit: 1) { count }"), account.clone())
        .graphql_error();
    assert!(
        error["message"].as_str().unwrap().contains("d1NopeGroups"),
        "{error}"
    );
    let error = client
        .graphql(
            &wrap("d1AnalyticsAdaptiveGroups { count }"),
            account.clone(),
        )
        .graphql_error();
    assert!(
        error["message"].as_str().unwrap().contains("limit"),
        "{error}"
    );
    let error = client
        .graphql(
            &wrap("d1AnalyticsAdaptiveGroups(limit: 1, filter: {colo: \"x\"}) { count }"),
            account.clone(),
        )
        .graphql_error();
    assert!(
        error["message"].as_str().unwrap().contains("colo"),
        "{error}"
    );
    let error = client
        .graphql(
            &wrap("d1AnalyticsAdaptiveGroups(limit: 1, orderBy: [date_ASC]) { count }"),
            account.clone(),
        )
        .graphql_error();
    assert!(
        error["message"].as_str().unwrap().contains("date"),
        "{error}"
    );
    let error = client
        .graphql(
            &wrap("d1StorageAdaptiveGroups(limit: 1) { sum { rowsRead } }"),
            account.clone(),
        )
        .graphql_error();
    assert!(
        error["message"].as_str().unwrap().contains("\"sum\""),
        "{error}"
    );

    // Another account: an error, not someone else's data.
    let error = client
        .graphql(
            &wrap("d1AnalyticsAdaptiveGroups(limit: 1) { count }"),
            json!({"a": "ffffffffffffffffffffffffffffffff"}),
        )
        .graphql_error();
    assert_eq!(error["message"], "not authorized for that account");
    // Syntax errors and undefined variables.
    let error = client.graphql("{ viewer { ", Value::Null).graphql_error();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Syntax error"),
        "{error}"
    );
    let error = client
        .graphql(
            "{ viewer { accounts(filter: {accountTag: $x}) { __typename } } }",
            Value::Null,
        )
        .graphql_error();
    assert!(error["message"].as_str().unwrap().contains("$x"), "{error}");
    // A bad token: the API's envelope, as everywhere else.
    let answer = client.graphql_with_token("wrong", "{ viewer { __typename } }", Value::Null);
    assert_eq!(
        answer.error(403),
        (10000, "Authentication error".to_owned())
    );
    // A body that is no GraphQL request at all: 400.
    let answer = Client::answer(
        client
            .agent
            .post(&client.graphql_url)
            .header("Authorization", &format!("Bearer {}", fake.token()))
            .send("not json"),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["data"], Value::Null);
    // Fragments and __typename work.
    let data = client
        .graphql(
            "query ($a: String!) { viewer { __typename accounts(filter: {accountTag: $a}) { ...groups } } }
             fragment groups on account { d1AnalyticsAdaptiveGroups(limit: 1) { count } }",
            account,
        )
        .data();
    assert_eq!(
        data,
        json!({"viewer": {"__typename": "viewer", "accounts": [{"d1AnalyticsAdaptiveGroups": []}]}})
    );
    assert_eq!(fake.stats().graphql, 12);
}

#[test]
fn graphql_has_its_own_rate_limit() {
    let fake = FakeD1::start(Options {
        graphql_rate_limit: Some(RateLimit {
            requests: 2,
            per: Duration::from_secs(60),
        }),
        ..quiet()
    });
    let client = Client::new(&fake);
    for _ in 0..2 {
        client
            .graphql("{ viewer { __typename } }", Value::Null)
            .data();
    }
    let answer = client.graphql("{ viewer { __typename } }", Value::Null);
    let (code, message) = answer.error(429);
    assert_eq!(code, 971);
    assert!(
        message.contains("More than 2 requests per 60 seconds"),
        "{message}"
    );
    assert!(answer.retry_after.is_some());
    // The API's own window is another one.
    client.create("still-fine");
}

#[test]
fn a_deleted_database_keeps_its_analytics() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("short-lived");
    client.query(&uuid, "SELECT 1").ok();
    client.send("DELETE", &format!("/{uuid}"), None).ok();
    assert_eq!(fake.usage(&uuid).read_queries, 1);
    assert_eq!(graphql_usage(&client, &fake, &uuid).read_queries, 1);
    assert_eq!(
        fake.usage("00000000-0000-4000-8000-000000000000"),
        Usage::default()
    );
}

fn bookmark_now(client: &Client, uuid: &str) -> String {
    client
        .send("GET", &format!("/{uuid}/time_travel/bookmark"), None)
        .ok()["bookmark"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn restore(client: &Client, uuid: &str, query: &str) -> Answer {
    client.send(
        "POST",
        &format!("/{uuid}/time_travel/restore?{query}"),
        None,
    )
}

fn ids(fake: &FakeD1, uuid: &str) -> Vec<i64> {
    fake.with_connection(uuid, |conn| {
        let mut statement = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
        let ids = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<Vec<i64>, _>>()
            .unwrap();
        ids
    })
    .unwrap()
}

fn is_bookmark(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 4
        && groups
            .iter()
            .zip([8, 8, 8, 32])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn time_travel_restores_real_snapshots() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("travel");
    let created = bookmark_now(&client, &uuid);
    assert!(is_bookmark(&created), "{created}");
    client
        .query(&uuid, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .ok();
    client
        .query(
            &uuid,
            "INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        )
        .ok();
    let with_rows = bookmark_now(&client, &uuid);
    // A read changes nothing: same bookmark.
    client.query(&uuid, "SELECT * FROM t").ok();
    assert_eq!(bookmark_now(&client, &uuid), with_rows);
    assert_eq!(fake.bookmark(&uuid).as_deref(), Some(with_rows.as_str()));
    client.query(&uuid, "DELETE FROM t WHERE id > 1").ok();
    let after_delete = bookmark_now(&client, &uuid);
    assert!(
        created < with_rows && with_rows < after_delete,
        "bookmarks sort in time order"
    );
    assert_eq!(ids(&fake, &uuid), vec![1]);

    let restored = restore(&client, &uuid, &format!("bookmark={with_rows}")).ok();
    assert_eq!(restored["bookmark"], with_rows.as_str());
    assert_eq!(restored["previous_bookmark"], after_delete.as_str());
    assert!(restored["message"].is_string());
    assert_eq!(ids(&fake, &uuid), vec![1, 2, 3]);
    let after_restore = bookmark_now(&client, &uuid);
    assert!(after_restore > after_delete, "a restore is a new state");

    // Restoring to previous_bookmark undoes the restore.
    let undone = restore(&client, &uuid, &format!("bookmark={after_delete}")).ok();
    assert_eq!(undone["previous_bookmark"], after_restore.as_str());
    assert_eq!(ids(&fake, &uuid), vec![1]);

    // Back to the creation: no table at all (the schema goes back too).
    restore(&client, &uuid, &format!("bookmark={created}")).ok();
    let (code, message) = client.query(&uuid, "SELECT * FROM t").error(400);
    assert_eq!(
        (code, message.as_str()),
        (7500, "no such table: t: SQLITE_ERROR")
    );

    // By timestamp: the latest state at or before it (a future one: the current state).
    fake.advance_clock(Duration::from_secs(120));
    let future = client
        .send(
            "GET",
            &format!("/{uuid}/time_travel/bookmark?timestamp=2999-01-01T00:00:00Z"),
            None,
        )
        .ok();
    assert_eq!(future["bookmark"], bookmark_now(&client, &uuid).as_str());
    // Changes through with_connection are states too.
    let before = bookmark_now(&client, &uuid);
    fake.with_connection(&uuid, |conn| {
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (7)")
            .unwrap()
    });
    assert_ne!(bookmark_now(&client, &uuid), before);
    assert_eq!(ids(&fake, &uuid), vec![7]);
    // A minute ago (Unix seconds are accepted too): before that table.
    restore(
        &client,
        &uuid,
        &format!("timestamp={}", unix_secs_ago(&fake, 60)),
    )
    .ok();
    assert_eq!(client.query(&uuid, "SELECT * FROM t").error(400).0, 7500);
    assert_eq!(fake.stats().time_travel, 13);
}

/// The fake's now minus `secs`, in Unix seconds.
fn unix_secs_ago(fake: &FakeD1, secs: u64) -> u64 {
    fake.now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - secs
}

/// `2024-05-01T12:00:00.000Z` moved by `secs`, in Unix seconds.
fn shift(rfc3339: &str, secs: i64) -> String {
    let unix = unix_secs(rfc3339) + secs;
    format!("{unix}")
}

/// Unix seconds of `YYYY-MM-DDTHH:MM:SS…Z`.
fn unix_secs(text: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[test]
fn time_travel_refuses_what_is_outside_the_window() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("window");
    let at_creation = bookmark_now(&client, &uuid);
    let created_at = client.send("GET", &format!("/{uuid}"), None).ok()["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .query(&uuid, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .ok();
    let old = bookmark_now(&client, &uuid);

    // Malformed, unknown, both, neither, a bad timestamp: 400 naming the culprit.
    for (query, needle) in [
        ("bookmark=nonsense", "nonsense"),
        (
            "bookmark=00000001-00000002-00004e2f-0a83ea2fceebc654de0640c422be4653",
            "00000001-00000002-00004e2f-0a83ea2fceebc654de0640c422be4653",
        ),
        ("", "bookmark"),
        ("timestamp=soon", "soon"),
    ] {
        let (code, message) = restore(&client, &uuid, query).error(400);
        assert_eq!(code, 7400, "{query}");
        assert!(message.contains(needle), "{query}: {message}");
    }
    let (_, message) = restore(
        &client,
        &uuid,
        &format!("bookmark={old}&timestamp={created_at}"),
    )
    .error(400);
    assert!(message.contains("not both"), "{message}");
    // Before the database existed.
    let before = shift(&created_at, -3600);
    let (code, message) = client
        .send(
            "GET",
            &format!("/{uuid}/time_travel/bookmark?timestamp={before}"),
            None,
        )
        .error(400);
    assert_eq!(code, 7400);
    assert!(
        message.contains("before the database was created"),
        "{message}"
    );

    // 31 days later: the old state was replaced more than 30 days ago.
    fake.advance_clock(Duration::from_secs(31 * 86_400));
    client.query(&uuid, "INSERT INTO t VALUES (1)").ok();
    let (code, message) = client
        .send(
            "GET",
            &format!("/{uuid}/time_travel/bookmark?timestamp={created_at}"),
            None,
        )
        .error(400);
    assert_eq!(code, 7400);
    assert!(message.contains("30 days"), "{message}");
    // `old` stayed the current state until just now: still in the window.
    restore(&client, &uuid, &format!("bookmark={old}")).ok();
    assert_eq!(ids(&fake, &uuid), Vec::<i64>::new());
    // The creation state was replaced 31 days ago: refused.
    let (code, message) = restore(&client, &uuid, &format!("bookmark={at_creation}")).error(400);
    assert_eq!(code, 7400);
    assert!(
        message.contains(&at_creation) && message.contains("30 days"),
        "{message}"
    );
}

#[test]
fn time_travel_keeps_at_most_the_configured_snapshots() {
    let fake = FakeD1::start(Options {
        time_travel_snapshots: 3,
        time_travel_retention: Duration::from_secs(7 * 86_400),
        ..quiet()
    });
    let client = Client::new(&fake);
    let uuid = client.create("capped");
    let first = bookmark_now(&client, &uuid);
    client
        .query(&uuid, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .ok();
    for i in 0..4 {
        client
            .query(&uuid, &format!("INSERT INTO t VALUES ({i})"))
            .ok();
    }
    let (code, message) = restore(&client, &uuid, &format!("bookmark={first}")).error(400);
    assert_eq!(code, 7400);
    assert!(message.contains("retention"), "{message}");
    // The 7 days of retention.
    fake.advance_clock(Duration::from_secs(8 * 86_400));
    let details = client.send("GET", &format!("/{uuid}"), None).ok();
    let created_plus = shift(details["created_at"].as_str().unwrap(), 60);
    let (_, message) = client
        .send(
            "GET",
            &format!("/{uuid}/time_travel/bookmark?timestamp={created_plus}"),
            None,
        )
        .error(400);
    assert!(message.contains("7 days"), "{message}");
}

#[test]
fn restores_are_limited_to_ten_per_ten_minutes() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("busy");
    let first = bookmark_now(&client, &uuid);
    for _ in 0..10 {
        restore(&client, &uuid, &format!("bookmark={first}")).ok();
    }
    let answer = restore(&client, &uuid, &format!("bookmark={first}"));
    let (code, message) = answer.error(429);
    assert_eq!(code, 7429);
    assert!(message.contains("10 restores per 10 minutes"), "{message}");
    assert!(answer.retry_after.is_some());
    fake.advance_clock(Duration::from_secs(601));
    restore(&client, &uuid, &format!("bookmark={first}")).ok();
}

fn export(client: &Client, uuid: &str, body: Value) -> Answer {
    client.send("POST", &format!("/{uuid}/export"), Some(body))
}

/// Starts an export and polls it to its end: the last `result`.
fn run_export(client: &Client, uuid: &str, dump_options: Value) -> Value {
    let started = export(
        client,
        uuid,
        json!({"output_format": "polling", "dump_options": dump_options}),
    )
    .ok_with(202);
    assert_eq!(started["status"], "active");
    assert_eq!(started["type"], "export");
    let at = started["at_bookmark"].as_str().unwrap().to_owned();
    loop {
        let answer = export(
            client,
            uuid,
            json!({"output_format": "polling", "current_bookmark": at}),
        );
        if answer.status == 202 {
            assert_eq!(answer.ok_with(202)["status"], "active");
            continue;
        }
        let result = answer.ok();
        assert_eq!(result["at_bookmark"], at.as_str());
        return result;
    }
}

/// Exports database `uuid` and downloads its dump.
fn export_sql(client: &Client, uuid: &str, dump_options: Value) -> String {
    let result = run_export(client, uuid, dump_options);
    assert_eq!(result["status"], "complete", "{result}");
    let answer = client.get_url(result["result"]["signed_url"].as_str().unwrap(), None);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.content_type, "application/sql");
    answer.text
}

fn import(client: &Client, uuid: &str, body: Value) -> Answer {
    client.send("POST", &format!("/{uuid}/import"), Some(body))
}

/// md5 in hex, as a client computes an import's etag.
fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(bytes))
}

/// Imports `sql` into database `uuid` (uploading it if the fake does not have it): the final
/// poll's `result`.
fn run_import(client: &Client, uuid: &str, sql: &str) -> Value {
    let etag = md5_hex(sql.as_bytes());
    let init = import(client, uuid, json!({"action": "init", "etag": etag}));
    let mut answer = if init.status == 200 {
        let init = init.ok();
        let url = init["upload_url"].as_str().expect("an upload_url");
        let filename = init["filename"].as_str().unwrap().to_owned();
        let put = client.put_url(url, sql.as_bytes());
        assert_eq!(put.status, 200, "{}", put.text);
        assert_eq!(put.etag, Some(format!("\"{etag}\"")));
        import(
            client,
            uuid,
            json!({"action": "ingest", "etag": etag, "filename": filename}),
        )
    } else {
        init
    };
    loop {
        if answer.status == 200 {
            return answer.ok();
        }
        let active = answer.ok_with(202);
        assert_eq!(active["status"], "active");
        assert_eq!(active["type"], "import");
        answer = import(
            client,
            uuid,
            json!({"action": "poll", "current_bookmark": active["at_bookmark"]}),
        );
    }
}

const AWKWARD: &str = "CREATE TABLE awkward (id INTEGER PRIMARY KEY, v ANY, w ANY) STRICT";

#[test]
fn export_dump_reapplied_gives_identical_rows() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let source = client.create("source");
    client.query(&source, AWKWARD).ok();
    client
        .query(
            &source,
            "CREATE TABLE \"odd \"\"name\" (k TEXT PRIMARY KEY, parent INTEGER REFERENCES awkward(id))",
        )
        .ok();
    client
        .query(&source, "CREATE INDEX awkward_v ON awkward (w)")
        .ok();
    client
        .query(
            &source,
            "CREATE VIEW awkward_view AS SELECT id FROM awkward; \
             CREATE TRIGGER awkward_trigger AFTER DELETE ON awkward BEGIN SELECT 1; END",
        )
        .ok();
    let all_bytes: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
    client
        .send(
            "POST",
            &format!("/{source}/query"),
            Some(json!({"batch": [
                {"sql": format!("INSERT INTO awkward VALUES (1, NULL, X'{all_bytes}')")},
                {"sql": "INSERT INTO awkward VALUES (2, ?, ?)", "params": [9007199254740991_i64, -9007199254740991_i64]},
                {"sql": "INSERT INTO awkward VALUES (3, 9223372036854775807, -9223372036854775808)"},
                {"sql": "INSERT INTO awkward VALUES (4, 0.1, 1.0)"},
                {"sql": "INSERT INTO awkward VALUES (5, 1e300, -2.5e-308)"},
                {"sql": "INSERT INTO awkward VALUES (6, ?, ?)", "params": ["it's \"quoted\"\nnew\r\nline \\n", "nul\u{0}byte"]},
                {"sql": "INSERT INTO awkward VALUES (7, '', X'')"},
                {"sql": "INSERT INTO awkward VALUES (8, 'ünïcødé ✓', char(10))"},
                {"sql": "INSERT INTO \"odd \"\"name\" VALUES ('k', 1)"},
            ]})),
        )
        .ok();

    let sql = export_sql(&client, &source, Value::Null);
    assert!(
        sql.starts_with("PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE awkward"),
        "{sql}"
    );
    assert!(
        sql.contains("CREATE TABLE IF NOT EXISTS \"odd \"\"name\""),
        "{sql}"
    );
    assert!(
        sql.contains("INSERT INTO \"awkward\" (\"id\",\"v\",\"w\") VALUES(1,NULL,X'00"),
        "{sql}"
    );
    assert!(sql.contains("VALUES(4,0.1,1.0);"), "{sql}");
    assert!(sql.contains("char(10)"), "{sql}");
    let index = sql.find("CREATE INDEX").unwrap();
    let trigger = sql.find("CREATE TRIGGER").unwrap();
    let view = sql.find("CREATE VIEW").unwrap();
    assert!(sql.rfind("INSERT INTO").unwrap() < index && index < trigger && trigger < view);

    // Into a fresh database, through the import API.
    let copy = client.create("copy");
    let done = run_import(&client, &copy, &sql);
    assert_eq!(done["status"], "complete", "{done}");
    for query in [
        "SELECT * FROM awkward ORDER BY id",
        "SELECT * FROM \"odd \"\"name\"",
        "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name",
    ] {
        let original = cells(&fake, &source, query);
        assert!(!original.is_empty());
        assert_eq!(cells(&fake, &copy, query), original, "{query}");
    }
    // Schema only, data only, one table.
    let schema = export_sql(&client, &source, json!({"no_data": true}));
    assert!(
        schema.contains("CREATE TABLE awkward") && !schema.contains("INSERT"),
        "{schema}"
    );
    let data = export_sql(&client, &source, json!({"no_schema": true}));
    assert!(
        !data.contains("CREATE") && data.contains("INSERT INTO \"awkward\""),
        "{data}"
    );
    let one = export_sql(&client, &source, json!({"tables": ["odd \"name"]}));
    assert!(
        !one.contains("awkward\" (") && one.contains("INSERT INTO \"odd \"\"name\""),
        "{one}"
    );
    assert!(
        !one.contains("CREATE INDEX"),
        "D1 filters indexes by their own name: {one}"
    );
}

#[test]
fn an_export_blocks_queries_and_serves_its_dump_behind_a_signed_url() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("exported");
    client
        .query(&uuid, "CREATE TABLE t (x); INSERT INTO t VALUES (1)")
        .ok();
    let at = bookmark_now(&client, &uuid);
    let started = export(&client, &uuid, json!({"output_format": "polling"})).ok_with(202);
    assert_eq!(
        started,
        json!({"at_bookmark": at, "messages": started["messages"], "status": "active", "success": true, "type": "export"})
    );
    assert!(started["messages"][0].is_string());
    // The database serves no queries, no other export, no restore meanwhile.
    let (code, message) = client.query(&uuid, "SELECT 1").error(400);
    assert_eq!(
        (code, message.as_str()),
        (7500, "Currently processing a long-running export.")
    );
    let (_, message) = export(&client, &uuid, json!({"output_format": "polling"})).error(400);
    assert!(message.contains("Cannot start a new export"), "{message}");
    restore(&client, &uuid, &format!("bookmark={at}")).error(400);
    // Default: one more "active" poll, then complete.
    let poll = json!({"output_format": "polling", "current_bookmark": at});
    assert_eq!(
        export(&client, &uuid, poll.clone()).ok_with(202)["status"],
        "active"
    );
    let done = export(&client, &uuid, poll.clone()).ok();
    assert_eq!(done["status"], "complete");
    assert_eq!(done["success"], true);
    assert_eq!(done["type"], "export");
    assert!(done["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_string));
    assert_eq!(done["result"]["filename"], format!("exported-{at}.sql"));
    let url = done["result"]["signed_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{}/", fake.port())),
        "{url}"
    );
    assert!(!url.contains("/client/v4"));
    // Polling again gives the same answer; queries run again.
    assert_eq!(export(&client, &uuid, poll).ok(), done);
    client.query(&uuid, "SELECT 1").ok();

    // The signed URL: no token wanted, none accepted.
    let dump = client.get_url(&url, None);
    assert_eq!(dump.status, 200);
    assert!(
        dump.text.contains("INSERT INTO \"t\" (\"x\") VALUES(1);"),
        "{}",
        dump.text
    );
    let (code, message) = client
        .get_url(&url, Some(&format!("Bearer {}", fake.token())))
        .xml_error(400);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("InvalidArgument", "Only one auth mechanism allowed")
    );
    let tampered = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=86400");
    assert_eq!(
        client.get_url(&tampered, None).xml_error(403).0,
        "SignatureDoesNotMatch"
    );
    let (head, signature) = url.rsplit_once("X-Amz-Signature=").unwrap();
    let forged = format!("{head}X-Amz-Signature={}", "0".repeat(signature.len()));
    assert_eq!(
        client.get_url(&forged, None).xml_error(403).0,
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        client.put_url(&url, b"x").xml_error(403).0,
        "SignatureDoesNotMatch"
    );
    // An hour of the fake's clock later, it has expired.
    fake.advance_clock(Duration::from_secs(3601));
    let (code, message) = client.get_url(&url, None).xml_error(403);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("AccessDenied", "Request has expired")
    );
    let stats = fake.stats();
    assert_eq!((stats.export, stats.presigned), (5, 6));
}

#[test]
fn export_errors_and_cancellation() {
    let fake = FakeD1::start(Options {
        export_polls: 0,
        ..quiet()
    });
    let client = Client::new(&fake);
    let uuid = client.create("errors");
    client.query(&uuid, "CREATE TABLE t (x)").ok();
    // A missing table: status "error" with the reason.
    let failed = run_export(&client, &uuid, json!({"tables": ["t", "nope"]}));
    assert_eq!(failed["status"], "error");
    assert!(
        failed["error"].as_str().unwrap().contains("nope"),
        "{failed}"
    );
    // With export_polls = 0 the first poll completes.
    assert_eq!(run_export(&client, &uuid, json!({}))["status"], "complete");
    // Bad bodies and unknown bookmarks: 400 naming the field.
    for (body, needle) in [
        (json!({}), "output_format"),
        (json!({"output_format": "file"}), "output_format"),
        (
            json!({"output_format": "polling", "dump_options": {"no_data": "yes"}}),
            "no_data",
        ),
        (
            json!({"output_format": "polling", "dump_options": {"tables": "t"}}),
            "tables",
        ),
        (
            json!({"output_format": "polling", "current_bookmark": 7}),
            "current_bookmark",
        ),
        (
            json!({"output_format": "polling", "current_bookmark": "00000000-00000000-00000000-00000000000000000000000000000000"}),
            "00000000-00000000-00000000-00000000000000000000000000000000",
        ),
    ] {
        let (code, message) = export(&client, &uuid, body.clone()).error(400);
        assert_eq!(code, 7400, "{body}");
        assert!(message.contains(needle), "{body}: {message}");
    }
    // An export nobody polls for a minute is cancelled: the database serves again.
    let started = export(&client, &uuid, json!({"output_format": "polling"})).ok_with(202);
    client.query(&uuid, "SELECT 1").error(400);
    fake.advance_clock(Duration::from_secs(61));
    client.query(&uuid, "SELECT 1").ok();
    let poll = json!({"output_format": "polling", "current_bookmark": started["at_bookmark"]});
    assert_eq!(export(&client, &uuid, poll).error(400).0, 7400);
}

#[test]
fn import_runs_the_uploaded_file_as_one_transaction() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("imported");
    // Children before parents: foreign keys are checked at the end.
    let sql = "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
               CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES parent(id));\n\
               INSERT INTO child VALUES (1, 10);\n\
               INSERT INTO parent VALUES (10);\n";
    let etag = md5_hex(sql.as_bytes());
    let init = import(&client, &uuid, json!({"action": "init", "etag": etag})).ok();
    assert_eq!(init["success"], true);
    assert_eq!(init["type"], "import");
    let filename = init["filename"].as_str().unwrap().to_owned();
    let url = init["upload_url"].as_str().unwrap().to_owned();
    // The upload URL refuses a token, like the export's.
    let refused = Client::answer(
        client
            .agent
            .put(&url)
            .header("Authorization", &format!("Bearer {}", fake.token()))
            .send(sql.as_bytes()),
    );
    assert_eq!(refused.xml_error(400).0, "InvalidArgument");
    // Ingesting before the upload: an error status.
    let early = import(
        &client,
        &uuid,
        json!({"action": "ingest", "etag": etag, "filename": filename}),
    )
    .ok();
    assert_eq!(
        (early["status"].as_str(), early["success"].as_bool()),
        (Some("error"), Some(false))
    );
    let put = client.put_url(&url, sql.as_bytes());
    assert_eq!(put.etag, Some(format!("\"{etag}\"")));
    let (_, message) = import(
        &client,
        &uuid,
        json!({"action": "ingest", "etag": etag, "filename": "other.sql"}),
    )
    .error(400);
    assert!(message.contains("filename"), "{message}");

    let before = bookmark_now(&client, &uuid);
    let active = import(
        &client,
        &uuid,
        json!({"action": "ingest", "etag": etag, "filename": filename}),
    )
    .ok_with(202);
    assert_eq!(active["at_bookmark"], before.as_str());
    assert_eq!(active["status"], "active");
    let (code, message) = client.query(&uuid, "SELECT 1").error(400);
    assert_eq!(
        (code, message.as_str()),
        (7500, "Currently processing a long-running import.")
    );
    let poll = json!({"action": "poll", "current_bookmark": before});
    assert_eq!(
        import(&client, &uuid, poll.clone()).ok_with(202)["status"],
        "active"
    );
    let done = import(&client, &uuid, poll.clone()).ok();
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["success"], true);
    assert_eq!(done["result"]["num_queries"], 4);
    assert_eq!(
        done["result"]["final_bookmark"],
        bookmark_now(&client, &uuid).as_str()
    );
    assert_ne!(done["result"]["final_bookmark"], before.as_str());
    let meta = &done["result"]["meta"];
    assert_eq!(
        (meta["rows_written"].as_u64(), meta["changed_db"].as_bool()),
        (Some(2), Some(true))
    );
    assert!(meta["size_after"].as_u64().unwrap() > 0 && meta["duration"].is_number());
    assert_eq!(
        import(&client, &uuid, poll).ok(),
        done,
        "a poll after the end repeats it"
    );
    assert_eq!(
        client.query(&uuid, "SELECT parent FROM child").ok()[0]["results"],
        json!([{"parent": 10}])
    );
    // An import is a write for Time Travel: restoring before it removes its tables.
    restore(&client, &uuid, &format!("bookmark={before}")).ok();
    client.query(&uuid, "SELECT * FROM child").error(400);

    // The same file for another database: already uploaded, straight to polling.
    let other = client.create("other");
    let answer = import(&client, &other, json!({"action": "init", "etag": etag}));
    let started = answer.ok_with(202);
    assert!(started.get("upload_url").is_none());
    assert_eq!(started["status"], "active");
    let poll = json!({"action": "poll", "current_bookmark": started["at_bookmark"]});
    assert_eq!(import(&client, &other, poll.clone()).status, 202);
    let finished = import(&client, &other, poll).ok();
    assert_eq!(finished["status"], "complete");
    assert_eq!(
        cells(&fake, &other, "SELECT * FROM parent"),
        vec![vec!["integer:10".to_owned()]]
    );
    // A file run again on a database that has it: the SQL error, nothing changed.
    let again = run_import(&client, &other, sql);
    assert_eq!(again["status"], "error");
    assert_eq!(
        again["error"],
        "table parent already exists at offset 13: SQLITE_ERROR"
    );
    assert_eq!(fake.stats().import, 13);
}

#[test]
fn a_failing_import_leaves_nothing() {
    let fake = FakeD1::start(Options {
        import_polls: 0,
        ..quiet()
    });
    let client = Client::new(&fake);
    let uuid = client.create("failing");
    client
        .query(&uuid, "CREATE TABLE kept (x); INSERT INTO kept VALUES (1)")
        .ok();
    let before = bookmark_now(&client, &uuid);
    let result = run_import(
        &client,
        &uuid,
        "INSERT INTO kept VALUES (2);\nCREATE TABLE new (y);\nINSERT INTO missing VALUES (3);",
    );
    assert_eq!(result["status"], "error");
    assert_eq!(result["error"], "no such table: missing: SQLITE_ERROR");
    assert_eq!(bookmark_now(&client, &uuid), before);
    assert_eq!(
        cells(&fake, &uuid, "SELECT x FROM kept"),
        vec![vec!["integer:1".to_owned()]]
    );
    // A foreign key still violated at the end fails the whole file.
    let result = run_import(
        &client,
        &uuid,
        "CREATE TABLE p (id INTEGER PRIMARY KEY); \
         CREATE TABLE c (p INTEGER REFERENCES p(id)); INSERT INTO c VALUES (5);",
    );
    assert_eq!(
        result["error"],
        "FOREIGN KEY constraint failed: SQLITE_CONSTRAINT"
    );
    client.query(&uuid, "SELECT * FROM p").error(400);
    // An upload that is not the announced file.
    let etag = md5_hex(b"SELECT 1;");
    let init = import(&client, &uuid, json!({"action": "init", "etag": etag})).ok();
    client.put_url(init["upload_url"].as_str().unwrap(), b"SELECT 2;");
    let answer = import(
        &client,
        &uuid,
        json!({"action": "ingest", "etag": etag, "filename": init["filename"]}),
    )
    .ok();
    assert_eq!(answer["success"], false);
    assert!(
        answer["error"].as_str().unwrap().contains("does not match"),
        "{answer}"
    );
    // Bad bodies: 400 naming the field.
    for (body, needle) in [
        (json!({"action": "launch"}), "action"),
        (json!({"action": "init"}), "etag"),
        (json!({"action": "init", "etag": "xyz"}), "etag"),
        (json!({"action": "poll"}), "current_bookmark"),
        (
            json!({"action": "poll", "current_bookmark": "00000000-00000000-00000000-00000000000000000000000000000000"}),
            "00000000-00000000-00000000-00000000000000000000000000000000",
        ),
    ] {
        let (code, message) = import(&client, &uuid, body.clone()).error(400);
        assert_eq!(code, 7400, "{body}");
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[test]
fn deleting_a_database_drops_its_export_and_history() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let uuid = client.create("doomed");
    client.query(&uuid, "CREATE TABLE t (x)").ok();
    let started = export(&client, &uuid, json!({"output_format": "polling"})).ok_with(202);
    client.send("DELETE", &format!("/{uuid}"), None).ok();
    assert_eq!(fake.bookmark(&uuid), None);
    let poll = json!({"output_format": "polling", "current_bookmark": started["at_bookmark"]});
    assert_eq!(export(&client, &uuid, poll).error(404).0, 7404);
    assert_eq!(
        client
            .send("GET", &format!("/{uuid}/time_travel/bookmark"), None)
            .error(404)
            .0,
        7404
    );
    // A new database of the same name starts afresh.
    let again = client.create("doomed");
    client.query(&again, "SELECT 1").ok();
    assert_ne!(
        bookmark_now(&client, &again),
        started["at_bookmark"].as_str().unwrap()
    );
}

#[test]
fn the_fake_clock_dates_everything() {
    let fake = FakeD1::start(quiet());
    let client = Client::new(&fake);
    let real = std::time::SystemTime::now();
    fake.advance_clock(Duration::from_secs(400 * 86_400));
    assert!(fake.now().duration_since(real).unwrap() >= Duration::from_secs(400 * 86_400));
    let uuid = client.create("future");
    let created_at = client.send("GET", &format!("/{uuid}"), None).ok()["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let fake_secs = unix_secs(&created_at);
    let real_secs = real
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(fake_secs - real_secs >= 400 * 86_400, "{created_at}");
    // Bookmarks carry the fake's time: the first 16 hex digits are its milliseconds.
    let bookmark = bookmark_now(&client, &uuid);
    let ms = u64::from_str_radix(&bookmark[..8], 16).unwrap() << 32
        | u64::from_str_radix(&bookmark[9..17], 16).unwrap();
    assert_eq!(ms as i64 / 1000, fake_secs);
    // Analytics buckets: today, by the fake's clock.
    client.query(&uuid, "SELECT 1").ok();
    let data = client
        .graphql(
            "query ($a: String!) { viewer { accounts(filter: {accountTag: $a}) {
               d1AnalyticsAdaptiveGroups(limit: 5) { dimensions { date } } } } }",
            json!({"a": fake.account_id()}),
        )
        .data();
    assert_eq!(
        data["viewer"]["accounts"][0]["d1AnalyticsAdaptiveGroups"][0]["dimensions"]["date"],
        created_at[..10]
    );
}
