//! Fault injection: request failures ([`Failure`]) and query failures queued by the test.

use crate::state::{lock, Shared};

/// How an injected request failure ([`FakeD1::fail_next_requests`]) answers. Every kind but
/// [`Failure::TransientAfterEffect`] answers before the request has any effect.
///
/// [`FakeD1::fail_next_requests`]: crate::FakeD1::fail_next_requests
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 500 with the envelope error 7500 "internal error" (after the latency).
    Transient,
    /// HTTP 429 with `retry-after: <retry_after_secs>` and error 971 (at once).
    RateLimited {
        /// The `retry-after` header's value.
        retry_after_secs: u64,
    },
    /// HTTP 502 with an HTML body and `Content-Type: text/html`, as a proxy in front of the
    /// API sends it (after the latency): a client must not require a JSON body.
    BadGateway,
    /// The request is processed as usual (a create creates, a delete deletes, a write is
    /// committed), then answered HTTP 500 with the envelope error 7500 "internal error"
    /// instead of its real answer: the failure a client cannot tell from one before the
    /// effect, and which makes its retry meet the effect (a 7502 on a create, a 7404 on a
    /// delete, a write applied twice).
    TransientAfterEffect,
}

/// A rule of [`FakeD1::fail_next_query`](crate::FakeD1::fail_next_query).
pub(crate) struct QueryFailure {
    pub(crate) needle: String,
    pub(crate) remaining: usize,
    pub(crate) message: String,
}

impl Shared {
    pub(crate) fn take_query_failure(&self, sqls: &[&str]) -> Option<String> {
        let mut rules = lock(&self.query_failures);
        let index = rules
            .iter()
            .position(|r| sqls.iter().any(|sql| sql.contains(&r.needle)))?;
        rules[index].remaining -= 1;
        let message = rules[index].message.clone();
        if rules[index].remaining == 0 {
            rules.remove(index);
        }
        Some(message)
    }
}
