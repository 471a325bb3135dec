//! Durations in Prometheus' grammar (`1h30m`, `500ms`, `1d`, `2w`), for
//! flags and config values alike. A leaf: it imports nothing of the crate.
//!
//! ```
//! use std::time::Duration;
//! use gateway_exporter::duration::parse;
//! assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
//! assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
//! assert!(parse("1.5s").is_err());
//! ```

use std::time::Duration;

/// Units in the order Prometheus requires them, with their length in ms.
const UNITS: &[(&str, u64)] = &[
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a duration above zero: one or more `<integer><unit>` parts,
/// units from largest to smallest, each at most once.
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = || format!("expected a duration like 500ms, 30s, 5m or 1h30m, got {s:?}");
    let mut rest = s;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(i) = UNITS[next_unit..].iter().position(|(u, _)| *u == unit) else {
            return Err(bad());
        };
        let (_, ms) = UNITS[next_unit + i];
        next_unit += i + 1;
        total = n
            .checked_mul(ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too long"))?;
    }
    if total == 0 {
        return Err("the duration must be above zero".into());
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_grammar() {
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse("1h30m5s100ms"), Ok(Duration::from_millis(5_405_100)));
        for bad in [
            "", "5", "s", "1s1m", "1m1m", "1.5s", "-1s", "1 s", "0s", "1x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
