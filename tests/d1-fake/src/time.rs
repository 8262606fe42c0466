//! Time: the fake's clock, and the forms of time the API reads and writes.
//!
//! The clock is the real one plus whatever the test advanced it by
//! ([`FakeD1::advance_clock`](crate::FakeD1::advance_clock)). Times inside the fake are Unix
//! milliseconds (`i64`); they are written as ISO 8601 dates (`2024-05-01`) and UTC
//! date-times (`2024-05-01T12:34:00Z`), and read from ISO 8601 / RFC 3339 timestamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::state::{lock, Shared};

/// Milliseconds in a minute, an hour and a day.
pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;

impl Shared {
    /// The fake's now: the real clock plus the advance the test asked for.
    pub(crate) fn now(&self) -> SystemTime {
        SystemTime::now() + *lock(&self.clock_offset)
    }

    /// [`Shared::now`] in Unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        unix_ms(self.now())
    }

    pub(crate) fn advance_clock(&self, by: Duration) {
        *lock(&self.clock_offset) += by;
    }
}

/// `time` in Unix milliseconds (0 before the epoch).
pub(crate) fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The UTC date of `ms`: `2024-05-01`.
pub(crate) fn date_string(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The UTC date-time of `ms` to the second, as GraphQL's `Time` scalar: `2024-05-01T12:34:56Z`.
pub(crate) fn time_string(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date_string(ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// An S3 `X-Amz-Date`: `20240501T123456Z`.
pub(crate) fn amz_date(ms: i64) -> String {
    time_string(ms).replace(['-', ':'], "")
}

/// A date `YYYY-MM-DD`, as days since the epoch.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = digits(&text[..4])?;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    days_from_civil(year + i64::from(month == 12), month % 12 + 1, 1)
        - days_from_civil(year, month, 1)
}

fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A timestamp as Unix milliseconds: ISO 8601 / RFC 3339 (`2024-05-01T12:34:56.789Z`,
/// `…+02:00`, `…+0200`, with or without seconds and fraction; no offset means UTC; a space may
/// stand for the `T`), a bare date (its midnight UTC), or Unix seconds (digits only).
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    if text.len() < 10 {
        return None;
    }
    let days = parse_date(text.get(..10)?)?;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(days * DAY_MS);
    }
    let rest = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix('t'))
        .or_else(|| rest.strip_prefix(' '))?;
    // Split the clock from the offset.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let (hour, minute, second) = match parts.as_slice() {
        [h, m] => (two(h)?, two(m)?, 0),
        [h, m, s] => (two(h)?, two(m)?, two(s)?),
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let mut padded: String = f.chars().take(3).collect();
            while padded.len() < 3 {
                padded.push('0');
            }
            padded.parse::<i64>().ok()?
        }
        Some(_) => return None,
    };
    let offset_minutes = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let body = &zone[1..];
            let (h, m) = match body.split_once(':') {
                Some((h, m)) => (two(h)?, two(m)?),
                None if body.len() == 4 => (two(&body[..2])?, two(&body[2..])?),
                None if body.len() == 2 => (two(body)?, 0),
                None => return None,
            };
            sign * (h * 60 + m)
        }
    };
    Some(
        days * DAY_MS + hour * HOUR_MS + minute * MINUTE_MS + second * 1000 + millis
            - offset_minutes * MINUTE_MS,
    )
}

fn two(text: &str) -> Option<i64> {
    if text.len() == 2 {
        digits(text)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        let t = 1_709_210_096_789;
        assert_eq!(date_string(t), "2024-02-29");
        assert_eq!(time_string(t), "2024-02-29T12:34:56Z");
        assert_eq!(amz_date(t), "20240229T123456Z");
        assert_eq!(parse_timestamp("2024-02-29T12:34:56.789Z"), Some(t));
        assert_eq!(parse_timestamp("2024-02-29T14:34:56.789+02:00"), Some(t));
        assert_eq!(parse_timestamp("2024-02-29T12:34:56.789"), Some(t));
        assert_eq!(parse_timestamp("2024-02-29 07:34:56.789-0500"), Some(t));
        assert_eq!(parse_timestamp("1709210096"), Some(t - 789));
        assert_eq!(parse_timestamp("2024-02-29"), Some(t - 45_296_789));
        assert_eq!(parse_timestamp("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2024-02-29T25:00Z"), None);
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("1970-01-02"), Some(1));
    }
}
