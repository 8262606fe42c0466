//! The HTTP client of the end-to-end tests: a Worker served by `wrangler dev` on 127.0.0.1
//! (`D1KIT_E2E_URL`), JSON in and out, any status returned rather than failed.

// Each test binary uses part of it.
#![allow(dead_code)]

use serde_json::{json, Value as Json};

/// The Worker under test.
pub struct Worker {
    base: String,
    agent: ureq::Agent,
}

impl Worker {
    /// The Worker at `D1KIT_E2E_URL`.
    pub fn from_env() -> Worker {
        let base = std::env::var("D1KIT_E2E_URL")
            .expect("D1KIT_E2E_URL is not set: run scripts/e2e-worker.sh, which starts the Worker");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Worker { base, agent }
    }

    /// `method path` with an optional JSON body: the status and the JSON answer (a body that
    /// is not JSON as `{"error": text}`).
    pub fn send(&self, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, Some(body)) => self.agent.post(&url).send_json(&body),
            (_, None) => self.agent.post(&url).send_empty(),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "error": text.clone() }));
        (status, json)
    }

    /// `send`, which must answer 200: its JSON.
    pub fn ok(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let (status, json) = self.send(method, path, body);
        assert_eq!(status, 200, "{method} {path} answered {status}: {json}");
        json
    }
}
