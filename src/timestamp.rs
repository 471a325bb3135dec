//! When a log line says it was written: the time at its start, in the
//! formats gateways and their log writers use, as Unix seconds.
//!
//! The exporter counts a backlog in seconds that the gateway wrote over
//! hours; alerts that ask "in how many separate windows did this happen"
//! need the gateway's times, not the reading's. This module only parses:
//! it owns no clock but the one passed in, and knows nothing of sources,
//! classification or metrics.
//!
//! Recognised at the start of a line (after a syslog `<PRI>`, and the
//! RFC 5424 version, when present):
//!
//! | format | example | zone |
//! | --- | --- | --- |
//! | RFC 3339 / ISO 8601 | `2026-11-28T10:00:01.123+01:00`, `2026-11-28T10:00:01Z` | as written |
//! | ISO 8601 without zone, `T` or space (Exim) | `2026-11-28 10:00:01` | local |
//! | nginx | `2026/11/28 10:00:01` | local |
//! | RFC 3164 syslog, no year | `Nov 28 10:00:01`, `Nov  8 10:00:01` | local |
//! | Microsoft Mail gateway | `11/28/2026 10:00:01` | local |
//!
//! "Local" is the zone of `/etc/localtime` (tzdata's TZif), else UTC. An
//! RFC 3164 time takes the year that puts it closest before the reading
//! time: a December line read in January is last year's.
//!
//! ```
//! use gateway_exporter::timestamp::{Zone, parse};
//! let now = 1_796_000_000.0; // 2026-11-30
//! assert_eq!(parse(b"2026-11-28T10:00:01Z ERROR write", now, &Zone::Utc), Some(1_795_860_001.0));
//! assert_eq!(parse(b"ERROR write: (57)", now, &Zone::Utc), None);
//! ```

use std::sync::Arc;

/// How far ahead of the reading time a line's time may be: clocks of the
/// gateway and of this host differ a little. Beyond it, the reading time
/// is used, so a wrong clock or zone never puts an error in the future.
pub const MAX_FUTURE_SKEW_SECONDS: f64 = 300.0;

/// The zone of times written without one.
#[derive(Debug, Clone, Default)]
pub enum Zone {
    #[default]
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i64),
    /// tzdata transitions (`/etc/localtime`).
    Tz(Arc<Transitions>),
}

/// The part of a TZif file a conversion needs: when the offset changed.
#[derive(Debug)]
pub struct Transitions {
    /// (UTC instant from which `offset` applies, offset east of UTC),
    /// sorted; the first entry's offset also applies before it.
    changes: Vec<(i64, i64)>,
}

impl Zone {
    /// The host's zone: `$TZ` when it names a zone file (`:Europe/Berlin`,
    /// `Europe/Berlin`, `UTC`), else `/etc/localtime`, else UTC.
    pub fn local() -> Zone {
        let from_env = std::env::var("TZ").ok().and_then(|tz| {
            let name = tz.strip_prefix(':').unwrap_or(&tz).to_string();
            if name.is_empty() {
                return None;
            }
            let path = if name.starts_with('/') {
                name
            } else {
                format!("/usr/share/zoneinfo/{name}")
            };
            std::fs::read(path).ok()
        });
        let data = from_env.or_else(|| std::fs::read("/etc/localtime").ok());
        data.and_then(|d| Transitions::parse(&d))
            .map_or(Zone::Utc, |t| Zone::Tz(Arc::new(t)))
    }

    /// Offset east of UTC at the UTC instant `t`.
    fn offset_at(&self, t: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(o) => *o,
            Zone::Tz(tr) => {
                let i = tr.changes.partition_point(|(at, _)| *at <= t);
                tr.changes[i.saturating_sub(1)].1
            }
        }
    }

    /// The UTC instant of a local wall-clock time (seconds as if UTC). In a
    /// gap or overlap of a DST change, one of the candidates; within an
    /// hour of right either way.
    fn to_utc(&self, local: i64) -> i64 {
        let first = self.offset_at(local);
        let second = self.offset_at(local - first);
        local - second
    }
}

impl Transitions {
    /// Reads a TZif file (version 1, or the 64-bit data of 2 and later).
    pub fn parse(data: &[u8]) -> Option<Transitions> {
        let header = |d: &[u8]| -> Option<[usize; 6]> {
            if d.len() < 44 || &d[..4] != b"TZif" {
                return None;
            }
            let mut counts = [0usize; 6];
            for (i, c) in counts.iter_mut().enumerate() {
                let at = 20 + 4 * i;
                *c = u32::from_be_bytes(d[at..at + 4].try_into().ok()?) as usize;
            }
            Some(counts)
        };
        let [isut, isstd, leap, time, types, chars] = header(data)?;
        let v1_len = 44 + time * 5 + types * 6 + chars + leap * 8 + isstd + isut;
        let (body, width) = if data[4] >= b'2' && data.len() > v1_len {
            (&data[v1_len..], 8usize)
        } else {
            (data, 4usize)
        };
        let [_, _, _, time, types, _] = header(body)?;
        let times_at = 44;
        let idx_at = times_at + time * width;
        let info_at = idx_at + time;
        if body.len() < info_at + types * 6 || types == 0 {
            return None;
        }
        let offset_of = |t: usize| -> Option<i64> {
            let at = info_at + t * 6;
            Some(i64::from(i32::from_be_bytes(
                body.get(at..at + 4)?.try_into().ok()?,
            )))
        };
        let mut changes = vec![(i64::MIN, offset_of(0)?)];
        for i in 0..time {
            let at = times_at + i * width;
            let t = if width == 8 {
                i64::from_be_bytes(body[at..at + 8].try_into().ok()?)
            } else {
                i64::from(i32::from_be_bytes(body[at..at + 4].try_into().ok()?))
            };
            let kind = usize::from(body[idx_at + i]);
            if kind >= types {
                return None;
            }
            changes.push((t, offset_of(kind)?));
        }
        Some(Transitions { changes })
    }
}

/// The time a line was written, per its leading timestamp; `None` when it
/// has none this module knows. `now` (Unix seconds) picks the year of
/// year-less times.
pub fn parse(line: &[u8], now: f64, zone: &Zone) -> Option<f64> {
    let b = skip_syslog_prefix(line);
    if b.first()?.is_ascii_digit() {
        parse_numeric(b, zone)
    } else {
        parse_rfc3164(b, now, zone)
    }
}

/// Times for consecutive lines of one source. A line without a time of
/// its own (a continuation line, a format that logs none) takes the time
/// of the last line that had one, if that line was read at about the same
/// moment (the same block of a backlog); otherwise its reading time. No
/// time is ahead of the reading time by more than
/// [`MAX_FUTURE_SKEW_SECONDS`].
#[derive(Debug, Clone, Default)]
pub struct LineClock {
    zone: Zone,
    /// The last time a line carried, and when that line was read.
    last: Option<(f64, f64)>,
}

/// How close in reading time a line without a time must follow one with
/// a time to take it over.
const CARRY_SECONDS: f64 = 1.0;

impl LineClock {
    pub fn new(zone: Zone) -> LineClock {
        LineClock { zone, last: None }
    }

    /// The time of `line`, read at `read_time`.
    pub fn time_of(&mut self, line: &[u8], read_time: f64) -> f64 {
        let t = match parse(line, read_time, &self.zone) {
            Some(t) => {
                self.last = Some((t, read_time));
                t
            }
            None => match self.last {
                Some((t, read)) if (read_time - read).abs() <= CARRY_SECONDS => t,
                _ => read_time,
            },
        };
        if t > read_time + MAX_FUTURE_SKEW_SECONDS {
            read_time
        } else {
            t
        }
    }
}

fn skip_syslog_prefix(line: &[u8]) -> &[u8] {
    let mut b = line;
    if b.first() == Some(&b'<') {
        if let Some(end) = b.iter().take(5).position(|&c| c == b'>') {
            b = &b[end + 1..];
            // RFC 5424: "1 " after the PRI.
            if b.len() > 2 && b[0].is_ascii_digit() && b[1] == b' ' {
                b = &b[2..];
            }
        }
    }
    b
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f][Z|±HH[:]MM]`, `YYYY/MM/DD HH:MM:SS`,
/// `MM/DD/YYYY HH:MM:SS`.
fn parse_numeric(b: &[u8], zone: &Zone) -> Option<f64> {
    let (year, month, day) = if b.get(4) == Some(&b'-') || b.get(4) == Some(&b'/') {
        let sep = b[4];
        (b.get(7) == Some(&sep)).then_some(())?;
        (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?)
    } else if b.get(2) == Some(&b'/') && b.get(5) == Some(&b'/') {
        (digits(b, 6, 4)?, digits(b, 0, 2)?, digits(b, 3, 2)?)
    } else {
        return None;
    };
    let t = b.get(10)?;
    if *t != b'T' && *t != b' ' && *t != b't' {
        return None;
    }
    let (h, m, s) = clock_at(b, 11)?;
    let mut rest = &b[19..];
    let mut fraction = 0.0;
    if let Some(r) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
        let n = r.iter().take_while(|c| c.is_ascii_digit()).count().min(9);
        if n > 0 {
            fraction = digits(r, 0, n)? as f64 / 10f64.powi(n as i32);
        }
        rest = &r[r.iter().take_while(|c| c.is_ascii_digit()).count()..];
    }
    let wall = civil_seconds(year, month, day, h, m, s)?;
    let utc = match rest.first() {
        Some(b'Z' | b'z') => wall,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(rest, 1, 2)?;
            let om = if rest.get(3) == Some(&b':') {
                digits(rest, 4, 2)?
            } else {
                digits(rest, 3, 2).unwrap_or(0)
            };
            let offset = oh * 3600 + om * 60;
            if sign == b'+' {
                wall - offset
            } else {
                wall + offset
            }
        }
        _ => zone.to_utc(wall),
    };
    Some(utc as f64 + fraction)
}

/// `Mmm dd hh:mm:ss`, the day space-padded or not.
fn parse_rfc3164(b: &[u8], now: f64, zone: &Zone) -> Option<f64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let month = MONTHS.iter().position(|m| b.get(..3) == Some(&m[..]))? as i64 + 1;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let day = match (b.get(4)?, b.get(5)?) {
        (b' ', d) if d.is_ascii_digit() => i64::from(d - b'0'),
        (a, d) if a.is_ascii_digit() && d.is_ascii_digit() => {
            i64::from(a - b'0') * 10 + i64::from(d - b'0')
        }
        _ => return None,
    };
    if b.get(6) != Some(&b' ') {
        return None;
    }
    let (h, m, s) = clock_at(b, 7)?;
    let now_year = crate::clock::civil_from_days((now as i64).div_euclid(86_400)).0;
    // The year that puts the line closest before now: this year's, unless
    // that is more than a day ahead (a December line read in January).
    let this_year = zone.to_utc(civil_seconds(now_year, month, day, h, m, s)?);
    let utc = if this_year as f64 > now + 86_400.0 {
        zone.to_utc(civil_seconds(now_year - 1, month, day, h, m, s)?)
    } else {
        this_year
    };
    Some(utc as f64)
}

fn clock_at(b: &[u8], at: usize) -> Option<(i64, i64, i64)> {
    if b.get(at + 2) != Some(&b':') || b.get(at + 5) != Some(&b':') {
        return None;
    }
    let (h, m, s) = (
        digits(b, at, 2)?,
        digits(b, at + 3, 2)?,
        digits(b, at + 6, 2)?,
    );
    (h < 24 && m < 60 && s <= 60).then_some((h, m, s))
}

/// Seconds since the epoch of a proleptic Gregorian date and time, as if
/// UTC; `None` for impossible dates.
fn civil_seconds(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-28T10:00:00Z` for a Unix time (whole seconds, UTC).
pub use crate::clock::rfc3339_seconds as rfc3339_utc;

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30T00:00:00Z
    const NOV30: f64 = 1_796_000_000.0 - 1_796_000_000.0 % 86_400.0;

    fn at(s: &str) -> f64 {
        parse(s.as_bytes(), NOV30, &Zone::Utc).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn the_epoch_arithmetic_round_trips() {
        assert_eq!(rfc3339_utc(NOV30), "2026-11-30T00:00:00Z");
        for days in [-1000, 0, 59, 60, 365, 10_957, 20_000, 24_000] {
            let (y, m, d) = crate::clock::civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }

    #[test]
    fn every_format_at_line_start() {
        let t = 1_795_860_001.0; // 2026-11-28T10:00:01Z
        assert_eq!(rfc3339_utc(t), "2026-11-28T10:00:01Z");
        for line in [
            "2026-11-28T10:00:01Z ERROR write",
            "2026-11-28T10:00:01+00:00 host postfix/smtp[1]: x",
            "2026-11-28T11:00:01+01:00 x",
            "2026-11-28T05:00:01-0500 x",
            "2026-11-28 10:00:01 1vXyZ-000001-AB == a@b.example",
            "2026-11-28T10:00:01 x",
            "2026/11/28 10:00:01 [error] 12#12: *3 connect() failed (111: Connection refused)",
            "Nov 28 10:00:01 gw postfix/smtp[42]: connect to x",
            "<34>Nov 28 10:00:01 gw smtpgate: ERROR",
            "<34>1 2026-11-28T10:00:01Z gw app - - - msg",
            "11/28/2026 10:00:01 ERROR write: (57) Socket is not connected",
        ] {
            assert_eq!(at(line), t, "{line}");
        }
        assert_eq!(at("2026-11-28T10:00:01.250Z x"), t + 0.25);
        assert_eq!(at("Nov  8 10:00:01 gw x"), t - 20.0 * 86_400.0);
    }

    #[test]
    fn lines_without_a_time() {
        for line in [
            "ERROR write: (57) Socket is not connected",
            "",
            "12345 something",
            "2026-13-01 10:00:01 bad month",
            "2026-02-30 10:00:01 no such day",
            "Nov 28 25:00:01 bad hour",
            "November 28 10:00:01",
            "[Sat Nov 28 10:00:01.123 2026] [error] apache",
        ] {
            assert_eq!(parse(line.as_bytes(), NOV30, &Zone::Utc), None, "{line}");
        }
    }

    #[test]
    fn rfc3164_year_rolls_over_for_a_december_line_read_in_january() {
        let jan2 = civil_seconds(2027, 1, 2, 0, 0, 0).unwrap() as f64;
        let t = parse(b"Dec 31 23:59:00 gw x", jan2, &Zone::Utc).unwrap();
        assert_eq!(rfc3339_utc(t), "2026-12-31T23:59:00Z");
        // A January line read in January stays in this year.
        let t = parse(b"Jan  1 00:10:00 gw x", jan2, &Zone::Utc).unwrap();
        assert_eq!(rfc3339_utc(t), "2027-01-01T00:10:00Z");
    }

    #[test]
    fn the_line_clock_carries_and_clamps() {
        let mut clock = LineClock::new(Zone::Utc);
        let read = NOV30 + 3600.0;
        // No time yet: the reading time.
        assert_eq!(clock.time_of(b"no time here", read), read);
        assert_eq!(
            clock.time_of(b"2026-11-30T00:10:00Z a", read),
            NOV30 + 600.0
        );
        // A line without one takes the previous line's, read with it...
        assert_eq!(clock.time_of(b"  continuation", read), NOV30 + 600.0);
        // ... but not one read later: that is its own reading time.
        assert_eq!(clock.time_of(b"  later", read + 60.0), read + 60.0);
        // Never in the future beyond the skew.
        assert_eq!(clock.time_of(b"2026-12-05T00:00:00Z a", read), read);
        assert_eq!(
            clock.time_of(b"2026-11-30T01:04:00Z a", read),
            NOV30 + 3840.0,
            "within the skew is kept"
        );
    }

    #[test]
    fn local_times_follow_the_zone() {
        let berlin = Zone::Fixed(3600);
        let t = parse(b"2026-11-28 11:00:01 x", NOV30, &berlin).unwrap();
        assert_eq!(rfc3339_utc(t), "2026-11-28T10:00:01Z");
        // An explicit offset wins over the zone.
        let t = parse(b"2026-11-28T10:00:01Z x", NOV30, &berlin).unwrap();
        assert_eq!(rfc3339_utc(t), "2026-11-28T10:00:01Z");
    }

    #[test]
    fn tzif_files_give_the_offset_of_the_date() {
        let Ok(data) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") else {
            return; // no tzdata here; the fixed-offset test covers the arithmetic
        };
        let zone = Zone::Tz(Arc::new(Transitions::parse(&data).unwrap()));
        let winter = parse(b"2026-01-15 12:00:00 x", NOV30, &zone).unwrap();
        assert_eq!(rfc3339_utc(winter), "2026-01-15T11:00:00Z");
        let summer = parse(b"2026-07-15 12:00:00 x", NOV30, &zone).unwrap();
        assert_eq!(rfc3339_utc(summer), "2026-07-15T10:00:00Z");
        assert!(Transitions::parse(b"not tzif").is_none());
    }
}
