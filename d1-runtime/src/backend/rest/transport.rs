//! What differs between platforms: HTTP requests, the clock and sleeping.
//!
//! Natively: ureq (blocking, rustls) and the thread's sleep; on wasm32: the Workers fetch API,
//! `Date.now()` and a Workers timer. Two kinds of request: to the API (`Http::send`, with the
//! token, JSON bodies), and to a presigned URL (`Http::send_presigned`, no token, bytes both
//! ways: an export's download, an import's upload).

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

/// An HTTP method the API (or a presigned URL) is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
    Put,
    #[cfg_attr(
        not(test),
        allow(
            dead_code,
            reason = "the API's partial update; no client method needs it yet"
        )
    )]
    Patch,
    Delete,
}

impl Method {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP answer of the API, whatever the transport.
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) retry_after: Option<Duration>,
    pub(super) body: String,
}

/// The answer of a presigned URL: its status, `ETag` (quotes stripped: an upload's is the md5
/// of what was stored) and body bytes.
pub(super) struct Presigned {
    pub(super) status: u16,
    pub(super) etag: Option<String>,
    pub(super) body: Vec<u8>,
}

/// An `ETag` header's value without its quotes (and without a weak validator's `W/`).
fn etag(value: &str) -> String {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    value.trim_matches('"').to_owned()
}

#[cfg(not(target_arch = "wasm32"))]
mod http {
    //! Native HTTP: ureq, blocking, rustls.

    use std::time::Duration;

    use super::{Method, Presigned, Response};

    /// The most bytes of an answer read: larger ones are an error.
    const BODY_LIMIT: u64 = 256 * 1024 * 1024;

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

        /// `method` to `url`, with `authorization` as that header when given; `send` sends the
        /// methods that carry a body (GET and DELETE go without one).
        fn request(
            &self,
            method: Method,
            url: &str,
            authorization: Option<&str>,
            send: impl FnOnce(
                ureq::RequestBuilder<ureq::typestate::WithBody>,
            ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        ) -> Result<ureq::http::Response<ureq::Body>, String> {
            fn authorized<B>(
                request: ureq::RequestBuilder<B>,
                authorization: Option<&str>,
            ) -> ureq::RequestBuilder<B> {
                match authorization {
                    Some(value) => request.header("Authorization", value),
                    None => request,
                }
            }
            let result = match method {
                Method::Get => authorized(self.agent.get(url), authorization).call(),
                Method::Delete => authorized(self.agent.delete(url), authorization).call(),
                Method::Post => send(authorized(self.agent.post(url), authorization)),
                Method::Put => send(authorized(self.agent.put(url), authorization)),
                Method::Patch => send(authorized(self.agent.patch(url), authorization)),
            };
            result.map_err(|e| e.to_string())
        }

        /// Sends `method` to the API's `url` with the token and, but for GET and DELETE, a
        /// JSON body (`{}` for a POST without one, nothing for a PUT or PATCH without one).
        pub async fn send(
            &self,
            method: Method,
            url: &str,
            token: &str,
            body: Option<&str>,
        ) -> Result<Response, String> {
            let auth = format!("Bearer {token}");
            let mut response =
                self.request(method, url, Some(&auth), |request| match (method, body) {
                    (_, Some(body)) => request
                        .header("Content-Type", "application/json")
                        .send(body),
                    (Method::Post, None) => request
                        .header("Content-Type", "application/json")
                        .send("{}"),
                    (_, None) => request.send_empty(),
                })?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(super::retry_after);
            let body = response
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_string()
                .map_err(|e| format!("reading the reply: {e}"))?;
            Ok(Response {
                status,
                retry_after,
                body,
            })
        }

        /// Sends `method` to a presigned `url` (absolute, its signature in its query): no
        /// `Authorization` header, `body` as raw bytes, the answer's bytes as they come.
        pub async fn send_presigned(
            &self,
            method: Method,
            url: &str,
            body: Option<&[u8]>,
        ) -> Result<Presigned, String> {
            let mut response = self.request(method, url, None, |request| match body {
                Some(body) => request.send(body),
                None => request.send_empty(),
            })?;
            let status = response.status().as_u16();
            let etag = response
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(super::etag);
            let body = response
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()
                .map_err(|e| format!("reading the reply: {e}"))?;
            Ok(Presigned { status, etag, body })
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod http {
    //! Workers: the fetch API.

    use worker::{Fetch, Headers, Request, RequestInit};

    use super::{Method, Presigned, Response};

    #[derive(Clone)]
    pub struct Http;

    fn method_of(method: Method) -> worker::Method {
        match method {
            Method::Get => worker::Method::Get,
            Method::Post => worker::Method::Post,
            Method::Put => worker::Method::Put,
            Method::Patch => worker::Method::Patch,
            Method::Delete => worker::Method::Delete,
        }
    }

    /// `init` sent to `url`.
    async fn fetch(url: &str, init: &RequestInit) -> Result<worker::Response, String> {
        let request = Request::new_with_init(url, init).map_err(|e| e.to_string())?;
        Fetch::Request(request)
            .send()
            .await
            .map_err(|e| e.to_string())
    }

    impl Http {
        pub fn new() -> Http {
            Http
        }

        /// Sends `method` to the API's `url` with the token and, when there is one, a JSON
        /// body (`{}` for a POST without one, as natively).
        pub async fn send(
            &self,
            method: Method,
            url: &str,
            token: &str,
            body: Option<&str>,
        ) -> Result<Response, String> {
            let headers = Headers::new();
            let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
            set("Authorization", &format!("Bearer {token}"))?;
            let mut init = RequestInit::new();
            init.with_method(method_of(method));
            let body = match (method, body) {
                (Method::Get | Method::Delete, _) => None,
                (Method::Post, None) => Some("{}"),
                (_, body) => body,
            };
            if let Some(body) = body {
                set("Content-Type", "application/json")?;
                init.with_body(Some(body.into()));
            }
            init.with_headers(headers);
            let mut response = fetch(url, &init).await?;
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

        /// Sends `method` to a presigned `url`: no `Authorization` header, `body` as raw
        /// bytes, the answer's bytes as they come.
        pub async fn send_presigned(
            &self,
            method: Method,
            url: &str,
            body: Option<&[u8]>,
        ) -> Result<Presigned, String> {
            let mut init = RequestInit::new();
            init.with_method(method_of(method));
            if let Some(body) = body {
                let bytes = ::worker::js_sys::Uint8Array::from(body);
                init.with_body(Some(bytes.into()));
            }
            let mut response = fetch(url, &init).await?;
            let etag = response
                .headers()
                .get("etag")
                .ok()
                .flatten()
                .map(|v| super::etag(&v));
            Ok(Presigned {
                status: response.status_code(),
                etag,
                body: response.bytes().await.map_err(|e| e.to_string())?,
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

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(
            etag("\"0cc175b9c0f1b6a831c399e269772661\""),
            "0cc175b9c0f1b6a831c399e269772661"
        );
        assert_eq!(etag("W/\"abc\""), "abc");
        assert_eq!(etag(" abc "), "abc");
    }

    /// Native HTTP against a tiny local server that records what it receives.
    #[cfg(not(target_arch = "wasm32"))]
    mod local_server {
        use super::super::{Http, Method};
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::TcpListener;
        use std::thread::JoinHandle;
        use std::time::Duration;

        /// One request as the server saw it: its request line, its headers (names lower-cased)
        /// and its body.
        #[derive(Debug)]
        struct Seen {
            line: String,
            headers: Vec<(String, String)>,
            body: Vec<u8>,
        }

        impl Seen {
            fn header(&self, name: &str) -> Option<&str> {
                self.headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            }
        }

        /// Serves one request per connection on 127.0.0.1, answering the n-th with
        /// `answers[n]`: extra header lines (each ending in `\r\n`) and a body. Returns the
        /// server's root URL and what it saw, once every answer is sent.
        fn serve(answers: Vec<(&'static str, Vec<u8>)>) -> (String, JoinHandle<Vec<Seen>>) {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let handle = std::thread::spawn(move || {
                let mut seen = Vec::new();
                for (headers, body) in answers {
                    let (mut stream, _) = listener.accept().unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let mut request = Seen {
                        line: line.trim_end().to_owned(),
                        headers: Vec::new(),
                        body: Vec::new(),
                    };
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap();
                        request
                            .headers
                            .push((name.to_ascii_lowercase(), value.trim().to_owned()));
                    }
                    assert_eq!(request.header("transfer-encoding"), None, "{request:?}");
                    let length: usize = request
                        .header("content-length")
                        .map_or(0, |n| n.parse().unwrap());
                    request.body = vec![0; length];
                    reader.read_exact(&mut request.body).unwrap();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(&body).unwrap();
                    stream.flush().unwrap();
                    seen.push(request);
                }
                seen
            });
            (url, handle)
        }

        #[test]
        fn api_requests_go_with_their_own_method_the_token_and_json() {
            let answers = (0..5).map(|_| ("", b"{}".to_vec())).collect();
            let (url, server) = serve(answers);
            let http = Http::new();
            let body = r#"{"read_replication":{"mode":"auto"}}"#;
            for (method, body) in [
                (Method::Get, None),
                (Method::Post, Some(r#"{"name":"a"}"#)),
                (Method::Put, Some(body)),
                (Method::Patch, None),
                (Method::Delete, None),
            ] {
                let r = crate::block_on(http.send(method, &format!("{url}/db/x"), "tok", body))
                    .unwrap();
                assert_eq!((r.status, r.body.as_str()), (200, "{}"));
            }
            let seen = server.join().unwrap();
            let lines: Vec<&str> = seen.iter().map(|s| s.line.as_str()).collect();
            assert_eq!(
                lines,
                [
                    "GET /db/x HTTP/1.1",
                    "POST /db/x HTTP/1.1",
                    "PUT /db/x HTTP/1.1",
                    "PATCH /db/x HTTP/1.1",
                    "DELETE /db/x HTTP/1.1",
                ]
            );
            for s in &seen {
                assert_eq!(s.header("authorization"), Some("Bearer tok"), "{s:?}");
            }
            assert_eq!(seen[1].body, br#"{"name":"a"}"#);
            assert_eq!(seen[2].body, body.as_bytes());
            assert_eq!(seen[2].header("content-type"), Some("application/json"));
            assert!(seen[3].body.is_empty(), "a PATCH without a body sends none");
        }

        #[test]
        fn presigned_requests_carry_no_token_and_bytes_both_ways() {
            let upload: Vec<u8> = vec![0xff, 0x00, b'\n', 0xc3];
            let download: Vec<u8> = vec![0x80, b'S', b'Q', b'L', 0xfe];
            let (url, server) = serve(vec![
                ("ETag: \"0cc175b9c0f1b6a831c399e269772661\"\r\n", Vec::new()),
                ("", download.clone()),
            ]);
            let http = Http::new();
            let signed =
                format!("{url}/bucket/dump.sql?X-Amz-Signature=abc%2Fdef&X-Amz-Expires=3600");
            let put =
                crate::block_on(http.send_presigned(Method::Put, &signed, Some(&upload))).unwrap();
            assert_eq!(put.status, 200);
            assert_eq!(
                put.etag.as_deref(),
                Some("0cc175b9c0f1b6a831c399e269772661")
            );
            let get = crate::block_on(http.send_presigned(Method::Get, &signed, None)).unwrap();
            assert_eq!((get.status, &get.body), (200, &download));
            assert_eq!(get.etag, None);

            let seen = server.join().unwrap();
            assert_eq!(
                seen[0].line,
                "PUT /bucket/dump.sql?X-Amz-Signature=abc%2Fdef&X-Amz-Expires=3600 HTTP/1.1"
            );
            assert_eq!(seen[0].body, upload);
            assert_eq!(seen[1].line.split(' ').next(), Some("GET"));
            for s in &seen {
                assert_eq!(s.header("authorization"), None, "{s:?}");
            }
        }
    }
}
