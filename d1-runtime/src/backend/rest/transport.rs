//! What differs between platforms: HTTP requests, the clock and sleeping.
//!
//! Natively: ureq (blocking, rustls) and the thread's sleep; on wasm32: the Workers fetch API,
//! `Date.now()` and a Workers timer.

use std::time::Duration;

pub(super) use http::Http;

#[cfg(not(target_arch = "wasm32"))]
pub(super) fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[cfg(target_arch = "wasm32")]
pub(super) fn now_ms() -> f64 {
    ::worker::js_sys::Date::now()
}

#[cfg(not(target_arch = "wasm32"))]
pub(super) async fn sleep(d: Duration) {
    std::thread::sleep(d);
}

#[cfg(target_arch = "wasm32")]
pub(super) async fn sleep(d: Duration) {
    ::worker::Delay::from(d).await;
}

/// An HTTP answer, whatever the transport.
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) retry_after: Option<Duration>,
    pub(super) body: String,
}

#[cfg(not(target_arch = "wasm32"))]
mod http {
    //! Native HTTP: ureq, blocking, rustls.

    use std::time::Duration;

    use super::Response;

    #[derive(Clone)]
    pub struct Http {
        agent: ureq::Agent,
    }

    impl Http {
        pub fn new() -> Http {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .user_agent(concat!("d1kit/", env!("CARGO_PKG_VERSION")))
                .build();
            Http {
                agent: ureq::Agent::new_with_config(config),
            }
        }

        pub async fn send(
            &self,
            method: &str,
            url: &str,
            token: &str,
            body: Option<&str>,
        ) -> Result<Response, String> {
            let auth = format!("Bearer {token}");
            let result = match (method, body) {
                ("GET", _) => self.agent.get(url).header("Authorization", &auth).call(),
                ("DELETE", _) => self.agent.delete(url).header("Authorization", &auth).call(),
                (_, body) => self
                    .agent
                    .post(url)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(body.unwrap_or("{}")),
            };
            let mut response = result.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(super::retry_after);
            let body = response
                .body_mut()
                .with_config()
                .limit(256 * 1024 * 1024)
                .read_to_string()
                .map_err(|e| format!("reading the reply: {e}"))?;
            Ok(Response {
                status,
                retry_after,
                body,
            })
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod http {
    //! Workers: the fetch API.

    use worker::{Fetch, Headers, Method, Request, RequestInit};

    use super::Response;

    #[derive(Clone)]
    pub struct Http;

    impl Http {
        pub fn new() -> Http {
            Http
        }

        pub async fn send(
            &self,
            method: &str,
            url: &str,
            token: &str,
            body: Option<&str>,
        ) -> Result<Response, String> {
            let headers = Headers::new();
            let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
            set("Authorization", &format!("Bearer {token}"))?;
            let mut init = RequestInit::new();
            init.with_method(match method {
                "GET" => Method::Get,
                "DELETE" => Method::Delete,
                _ => Method::Post,
            });
            if let Some(body) = body {
                set("Content-Type", "application/json")?;
                init.with_body(Some(body.into()));
            }
            init.with_headers(headers);
            let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
            let mut response = Fetch::Request(request)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let retry_after = response
                .headers()
                .get("retry-after")
                .ok()
                .flatten()
                .and_then(|v| super::retry_after(&v));
            Ok(Response {
                status: response.status_code(),
                retry_after,
                body: response.text().await.map_err(|e| e.to_string())?,
            })
        }
    }
}

/// A `retry-after` header: seconds (fractions accepted), or an HTTP date (not read: `None`,
/// so the backoff applies).
fn retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
