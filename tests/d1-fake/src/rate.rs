//! Rate limiting: Cloudflare's per-token sliding window of accepted requests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::state::{lock, Shared};

/// A sliding-window rate limit: at most `requests` accepted requests per token within any
/// `per` (Cloudflare's: 1,200 per 5 minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests accepted within one window.
    pub requests: usize,
    /// The window's length.
    pub per: Duration,
}

pub(crate) struct RateState {
    pub(crate) limit: Option<RateLimit>,
    /// Per token: when each request still in the window was accepted, oldest first.
    pub(crate) windows: HashMap<String, VecDeque<Instant>>,
}

impl Shared {
    /// Accepts an API request into `token`'s window, or says in how many seconds one would be.
    pub(crate) fn admit(&self, token: &str) -> Result<(), (u64, RateLimit)> {
        admit(&self.rate, token)
    }

    /// The same for GraphQL's own window ([`Options::graphql_rate_limit`]).
    ///
    /// [`Options::graphql_rate_limit`]: crate::Options::graphql_rate_limit
    pub(crate) fn admit_graphql(&self, token: &str) -> Result<(), (u64, RateLimit)> {
        admit(&self.graphql_rate, token)
    }
}

fn admit(state: &Mutex<RateState>, token: &str) -> Result<(), (u64, RateLimit)> {
    let mut state = lock(state);
    let Some(limit) = state.limit else {
        return Ok(());
    };
    let now = Instant::now();
    let window = state.windows.entry(token.to_owned()).or_default();
    while window
        .front()
        .is_some_and(|&t| now.duration_since(t) >= limit.per)
    {
        window.pop_front();
    }
    if window.len() < limit.requests {
        window.push_back(now);
        return Ok(());
    }
    // A slot frees when `len - requests + 1` entries have aged out.
    let wait = match window.get(window.len() - limit.requests) {
        Some(&t) => (t + limit.per).saturating_duration_since(now),
        None => limit.per,
    };
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Err((secs.max(1), limit))
}
