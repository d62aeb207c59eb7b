//! Pure parsers for command-line values. Each one is a clap `value_parser`, so a bad value
//! is reported by clap with exit code 2 before any network call.

use crate::proto::v1;
use std::time::Duration;

/// Longest duration accepted anywhere on the command line (100 years), so that adding it
/// to "now" cannot overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Parses a duration such as `30s`, `5m`, `1h30m`, `7d` or `2w`.
///
/// A bare number is rejected: `--expires-in 30` could mean seconds or days.
pub fn duration(text: &str) -> Result<Duration, String> {
    const HINT: &str = "expected a duration such as 30s, 5m, 1h30m, 7d or 2w";
    let text = text.trim();
    if text.is_empty() {
        return Err(HINT.to_owned());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let number: u64 = number.parse().map_err(|_| format!("{text:?}: {HINT}"))?;
        let seconds_per_unit = match unit {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hr" | "hrs" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => return Err(format!("{text:?}: {HINT}")),
        };
        total = number
            .checked_mul(seconds_per_unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?}: too long"))?;
        rest = &rest[digits + unit_len..];
    }
    let total = Duration::from_secs(total);
    if total > MAX_DURATION {
        return Err(format!("{text:?}: too long (at most 100 years)"));
    }
    Ok(total)
}

/// A rate-limit spec `LIMIT/WINDOW`, e.g. `100/1m`; `100/s` means one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    pub limit: u32,
    pub window: Duration,
}

/// Parses `LIMIT/WINDOW` (see [`RateSpec`]). The server enforces the allowed ranges.
pub fn rate_limit(text: &str) -> Result<RateSpec, String> {
    const HINT: &str = "expected LIMIT/WINDOW such as 100/1m or 10/s";
    let (limit, window) = text.split_once('/').ok_or_else(|| HINT.to_owned())?;
    let limit: u32 = limit
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a request count; {HINT}", limit.trim()))?;
    if limit == 0 {
        return Err(format!("the limit must be at least 1; {HINT}"));
    }
    let window = window.trim();
    // "100/m" reads naturally as "100 per minute".
    let window = if window.starts_with(|c: char| c.is_ascii_digit()) {
        duration(window)?
    } else {
        duration(&format!("1{window}"))?
    };
    if window.is_zero() {
        return Err(format!("the window must not be zero; {HINT}"));
    }
    Ok(RateSpec { limit, window })
}

/// Parses one `KEY=VALUE` metadata entry; the value may itself contain `=`.
pub fn metadata(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected KEY=VALUE"))?;
    if key.trim().is_empty() {
        return Err(format!("{text:?}: the key must not be empty"));
    }
    Ok((key.trim().to_owned(), value.to_owned()))
}

/// Parses an RFC 3339 timestamp such as `2030-01-01T00:00:00Z`.
pub fn timestamp(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{text:?}: expected an RFC 3339 time such as 2030-01-01T00:00:00Z ({e})"))
}

/// The wire form of a timestamp.
pub fn to_proto_timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The wire form of a duration. Whole seconds only, as [`duration`] produces.
pub fn to_proto_duration(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

/// A role as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    Member,
    Operator,
    Admin,
    Owner,
}

impl From<RoleArg> for v1::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Member => v1::Role::Member,
            RoleArg::Operator => v1::Role::Operator,
            RoleArg::Admin => v1::Role::Admin,
            RoleArg::Owner => v1::Role::Owner,
        }
    }
}

/// A key kind as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Secret,
    Publishable,
}

impl From<KindArg> for v1::KeyKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Secret => v1::KeyKind::Secret,
            KindArg::Publishable => v1::KeyKind::Publishable,
        }
    }
}

/// A key environment as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvArg {
    Live,
    Test,
}

impl From<EnvArg> for v1::Environment {
    fn from(env: EnvArg) -> Self {
        match env {
            EnvArg::Live => v1::Environment::Live,
            EnvArg::Test => v1::Environment::Test,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_single_and_compound_units() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(duration(" 90sec "), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn durations_reject_bare_numbers_unknown_units_and_overflow() {
        for bad in [
            "",
            "30",
            "5x",
            "m",
            "1h30",
            "-5m",
            "1.5h",
            "99999999999999999999s",
            "200000w",
        ] {
            assert!(duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rate_limits_read_as_count_per_window() {
        let per_minute = RateSpec {
            limit: 100,
            window: Duration::from_secs(60),
        };
        assert_eq!(rate_limit("100/1m"), Ok(per_minute));
        assert_eq!(rate_limit("100/m"), Ok(per_minute));
        assert_eq!(
            rate_limit("10/s"),
            Ok(RateSpec {
                limit: 10,
                window: Duration::from_secs(1)
            })
        );
        assert_eq!(
            rate_limit("5000/1h30m"),
            Ok(RateSpec {
                limit: 5000,
                window: Duration::from_secs(5_400)
            })
        );
    }

    #[test]
    fn rate_limits_reject_malformed_specs() {
        for bad in ["100", "/1m", "0/1m", "x/1m", "100/", "100/0s", "100/1q", "-1/1m"] {
            assert!(rate_limit(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn metadata_splits_at_the_first_equals_sign() {
        assert_eq!(metadata("team=billing"), Ok(("team".into(), "billing".into())));
        assert_eq!(metadata("q=a=b"), Ok(("q".into(), "a=b".into())));
        assert_eq!(metadata("empty="), Ok(("empty".into(), String::new())));
        assert!(metadata("novalue").is_err());
        assert!(metadata("=value").is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_and_convert_to_the_wire_form() {
        let t = timestamp("2030-01-01T01:00:00+01:00");
        assert_eq!(t.map(to_proto_timestamp).map(|t| t.seconds), Ok(1_893_456_000));
        assert!(timestamp("2030-01-01").is_err());
    }
}
