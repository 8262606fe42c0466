//! The fake's object store, standing for R2: the signed URLs of exports (GET) and imports
//! (PUT), served on the fake's own port under [`PRESIGNED_PREFIX`].
//!
//! As a presigned R2 URL: it needs no token, and refuses one (an `Authorization` header: 400
//! `InvalidArgument`); a signature that does not match the URL (or another method than it was
//! signed for): 403 `SignatureDoesNotMatch`; past its hour (fake clock): 403 `AccessDenied`
//! "Request has expired"; an object the store does not have: 403 `AccessDenied`. Errors are
//! S3's XML bodies.

use std::collections::HashMap;
use std::sync::Arc;

use crate::format::{md5_hex, parse_query};
use crate::reply::Reply;
use crate::state::{lock, Shared};
use crate::time::{amz_date, HOUR_MS};

/// The path prefix of every signed URL.
pub(crate) const PRESIGNED_PREFIX: &str = "/presigned/";
/// How long a signed URL is valid: one hour.
const LIFETIME_MS: i64 = HOUR_MS;

/// What the store holds: signed URLs, and the files uploaded for imports (by etag).
#[derive(Default)]
pub(crate) struct Objects {
    signed: HashMap<String, Signed>,
    uploads: HashMap<String, Upload>,
}

/// One signed URL, by its token.
struct Signed {
    /// `GET` (a download) or `PUT` (an upload).
    method: &'static str,
    expires_ms: i64,
    content: Content,
}

enum Content {
    /// An export's file.
    Download(Arc<String>),
    /// The upload of an import's file with this etag.
    Upload(String),
}

/// A file an import announced (`init`) and maybe uploaded.
#[derive(Clone)]
pub(crate) struct Upload {
    pub(crate) filename: String,
    pub(crate) bytes: Option<Arc<Vec<u8>>>,
}

impl Shared {
    /// Signs a URL for `method` on `/presigned/{kind}/{token}/{filename}`.
    fn sign(&self, method: &'static str, kind: &str, filename: &str, content: Content) -> String {
        let token = {
            let mut rng = lock(&self.rng);
            format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
        };
        let now = self.now_ms();
        let path = format!("{PRESIGNED_PREFIX}{kind}/{token}/{filename}");
        let date = amz_date(now);
        let expires = (LIFETIME_MS / 1000).to_string();
        let signature = self.signature(method, &path, &date, &expires);
        let mut objects = lock(&self.objects);
        // Forget what expired a day ago (a request on it meanwhile still hears "expired").
        objects
            .signed
            .retain(|_, s| s.expires_ms + 24 * HOUR_MS > now);
        objects.signed.insert(
            token,
            Signed {
                method,
                expires_ms: now + LIFETIME_MS,
                content,
            },
        );
        format!(
            "{}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-Expires={expires}\
             &X-Amz-SignedHeaders=host&X-Amz-Signature={signature}",
            self.origin
        )
    }

    fn signature(&self, method: &str, path: &str, date: &str, expires: &str) -> String {
        md5_hex(format!("{}\n{method}\n{path}\n{date}\n{expires}", self.secret).as_bytes())
    }

    /// A signed URL to download an export's `dump` as `filename`.
    pub(crate) fn presign_download(&self, filename: &str, dump: String) -> String {
        self.sign("GET", "export", filename, Content::Download(Arc::new(dump)))
    }

    /// A signed URL to upload the import file of `etag` (its name: `{etag}.sql`); keeps what
    /// was uploaded for that etag before.
    pub(crate) fn presign_upload(&self, etag: &str) -> (String, String) {
        let filename = format!("{etag}.sql");
        lock(&self.objects)
            .uploads
            .entry(etag.to_owned())
            .or_insert_with(|| Upload {
                filename: filename.clone(),
                bytes: None,
            });
        let url = self.sign("PUT", "import", &filename, Content::Upload(etag.to_owned()));
        (filename, url)
    }

    /// The file announced for `etag`, uploaded or not.
    pub(crate) fn upload(&self, etag: &str) -> Option<Upload> {
        lock(&self.objects).uploads.get(etag).cloned()
    }
}

/// Answers a request to a signed URL (`path` below [`PRESIGNED_PREFIX`]).
pub(crate) fn serve(
    shared: &Shared,
    request: &mut tiny_http::Request,
    path: &str,
    query: &str,
) -> Reply {
    if request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization"))
    {
        return xml(400, "InvalidArgument", "Only one auth mechanism allowed");
    }
    let method = match request.method() {
        tiny_http::Method::Get => "GET",
        tiny_http::Method::Put => "PUT",
        _ => {
            return xml(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
        }
    };
    let params = parse_query(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(date), Some(expires), Some(signature)) = (
        param("X-Amz-Date"),
        param("X-Amz-Expires"),
        param("X-Amz-Signature"),
    ) else {
        return xml(403, "AccessDenied", "Access Denied");
    };
    if shared.signature(method, path, date, expires) != signature {
        return xml(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your secret access key and signing method.",
        );
    }
    let token = path
        .strip_prefix(PRESIGNED_PREFIX)
        .and_then(|rest| rest.split('/').nth(1))
        .unwrap_or_default();
    let now = shared.now_ms();
    let mut objects = lock(&shared.objects);
    let Some(signed) = objects.signed.get(token) else {
        return xml(403, "AccessDenied", "Access Denied");
    };
    if signed.method != method {
        return xml(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your secret access key and signing method.");
    }
    if now > signed.expires_ms {
        return xml(403, "AccessDenied", "Request has expired");
    }
    match &signed.content {
        Content::Download(dump) => Reply {
            content_type: "application/sql",
            ..Reply::json(200, dump.as_str().to_owned())
        },
        Content::Upload(etag) => {
            let etag = etag.clone();
            drop(objects);
            let mut bytes = Vec::new();
            if request.as_reader().read_to_end(&mut bytes).is_err() {
                return xml(400, "IncompleteBody", "The request body could not be read.");
            }
            let md5 = md5_hex(&bytes);
            objects = lock(&shared.objects);
            if let Some(upload) = objects.uploads.get_mut(&etag) {
                upload.bytes = Some(Arc::new(bytes));
            }
            Reply {
                content_type: "text/plain",
                headers: vec![("ETag", format!("\"{md5}\""))],
                ..Reply::json(200, String::new())
            }
        }
    }
}

/// An S3 error: `<Error><Code>…</Code><Message>…</Message></Error>`.
fn xml(status: u16, code: &str, message: &str) -> Reply {
    Reply {
        content_type: "application/xml",
        ..Reply::json(
            status,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message}</Message></Error>"
            ),
        )
    }
}
