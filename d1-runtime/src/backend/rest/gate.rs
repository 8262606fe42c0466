//! The request budget a client and its clones share: a pause after a 429, and an optional pace.

use super::transport::{now_ms, sleep};
use std::sync::Mutex;
use std::time::Duration;

/// A shared request budget: a pause after a 429, and an optional pace.
///
/// The pace counts a request from when its answer came back (always after the API counted
/// it), and a request in flight as taking a slot already: so however late a thread sends
/// what it was allowed to, the API's window never holds more than the budget. This costs
/// one round trip per window (50 ms in a 5-minute window: nothing).
#[derive(Default)]
pub(super) struct Gate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    /// No request before this time (ms on [`now_ms`]'s clock).
    paused_until: f64,
    /// `(requests, window in ms)`.
    budget: Option<(usize, f64)>,
    /// Requests sent and not answered yet.
    in_flight: usize,
    /// When the answers of the requests within the window came back.
    answered: std::collections::VecDeque<f64>,
}

impl Gate {
    /// Paces requests to at most `requests` in any `per` window.
    pub(super) fn set_budget(&self, requests: u32, per: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.budget = Some((requests.max(1) as usize, per.as_secs_f64() * 1000.0));
    }

    /// Waits until a request may go, and counts it as in flight.
    pub(super) async fn wait(&self) {
        loop {
            let wait_ms = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = now_ms();
                let mut wait: f64 = (state.paused_until - now).max(0.0);
                if let Some((requests, window)) = state.budget {
                    while state.answered.front().is_some_and(|t| *t <= now - window) {
                        state.answered.pop_front();
                    }
                    if state.in_flight + state.answered.len() >= requests {
                        // The oldest answer leaves the window then; an answer may come sooner.
                        let oldest = state.answered.front().map_or(window, |t| t + window - now);
                        wait = wait.max(oldest.min(10.0));
                    }
                }
                if wait <= 0.0 {
                    state.in_flight += 1;
                    return;
                }
                wait
            };
            sleep(Duration::from_secs_f64(wait_ms / 1000.0)).await;
        }
    }

    /// The answer to a request came back; `counted`: the API counted it (not a 429).
    pub(super) fn finish(&self, counted: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.in_flight = state.in_flight.saturating_sub(1);
        if counted && state.budget.is_some() {
            state.answered.push_back(now_ms());
        }
    }

    /// Holds every request back for `wait` (a 429's retry-after).
    pub(super) fn pause(&self, wait: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = now_ms() + wait.as_secs_f64() * 1000.0;
        if until > state.paused_until {
            state.paused_until = until;
        }
    }
}
