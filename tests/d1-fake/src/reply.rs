//! Answers: Cloudflare's JSON envelope, its errors, and a proxy's non-JSON 502 page.
//!
//! The envelope is `{"result", "success", "errors": [{"code", "message"}], "messages"}`.

use serde_json::{json, Value};

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) content_type: &'static str,
    pub(crate) retry_after: Option<u64>,
    /// Further headers (e.g. an upload's `ETag`).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn ok_raw(result: &str) -> Reply {
        Reply::json(
            200,
            format!(r#"{{"result":{result},"success":true,"errors":[],"messages":[]}}"#),
        )
    }

    pub(crate) fn ok(result: Value) -> Reply {
        Reply::ok_raw(&result.to_string())
    }

    /// A successful envelope with another status than 200 (202 for a running export or
    /// import).
    pub(crate) fn ok_with_status(status: u16, result: Value) -> Reply {
        Reply {
            status,
            ..Reply::ok(result)
        }
    }

    pub(crate) fn error(status: u16, code: u32, message: &str) -> Reply {
        let body = json!({
            "result": null,
            "success": false,
            "errors": [{"code": code, "message": message}],
            "messages": [],
        });
        Reply::json(status, body.to_string())
    }

    pub(crate) fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
            retry_after: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn rate_limited(retry_after: u64, message: &str) -> Reply {
        Reply {
            retry_after: Some(retry_after),
            ..Reply::error(429, 971, message)
        }
    }

    pub(crate) fn internal_error() -> Reply {
        Reply::error(500, 7500, "internal error")
    }

    pub(crate) fn bad_gateway() -> Reply {
        Reply {
            status: 502,
            body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                   <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n\
                   </body>\r\n</html>\r\n"
                .to_owned(),
            content_type: "text/html",
            retry_after: None,
            headers: Vec::new(),
        }
    }
}
