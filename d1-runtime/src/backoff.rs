//! Exponential backoff with jitter, for every retry loop of d1kit: the REST client's, a fleet's,
//! the CLI's.

use std::time::Duration;

/// How long to wait before retry number `attempt` (1-based): `base` doubled per attempt, at
/// most `max`, then drawn in its upper half (jitter), so that clients that failed together do
/// not retry together.
///
/// ```
/// use std::time::Duration;
/// let wait = d1_runtime::backoff(Duration::from_millis(100), 3, Duration::from_secs(60));
/// assert!(wait >= Duration::from_millis(400) && wait <= Duration::from_millis(800));
/// ```
pub fn backoff(base: Duration, attempt: u32, max: Duration) -> Duration {
    let cap = base.saturating_mul(1 << attempt.min(16)).min(max);
    cap.mul_f64(0.5 + 0.5 * jitter())
}

/// A number in `0..1`, different on every call (not for secrets).
fn jitter() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = clock_bits() ^ STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    let mut x = seed.wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1;
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Something that differs between processes and isolates started at different times.
#[cfg(not(target_arch = "wasm32"))]
fn clock_bits() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

#[cfg(all(target_arch = "wasm32", feature = "worker"))]
fn clock_bits() -> u64 {
    ::worker::js_sys::Date::now().to_bits()
}

#[cfg(all(target_arch = "wasm32", not(feature = "worker")))]
fn clock_bits() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_stays_in_the_upper_half() {
        let base = Duration::from_millis(10);
        for attempt in 1..20 {
            let cap = (base * (1 << attempt.min(16))).min(Duration::from_secs(1));
            let wait = backoff(base, attempt, Duration::from_secs(1));
            assert!(
                wait >= cap / 2 && wait <= cap,
                "{attempt}: {wait:?} vs {cap:?}"
            );
        }
    }
}
