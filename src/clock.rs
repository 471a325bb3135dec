//! The wall clock, read in one place. `clippy.toml` forbids
//! `SystemTime::now` everywhere else, so every timestamp the exporter
//! writes (metrics, checkpoints, rotation cut-offs) comes from here and a
//! test or a future clock source changes one function.
//!
//! ```
//! assert!(gateway_exporter::clock::unix_now() > 1.5e9);
//! ```

/// Seconds since the Unix epoch, as Prometheus timestamps are written.
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `2026-11-28T17:43:19.123Z` for Unix time `t`.
pub fn rfc3339_millis(t: f64) -> String {
    let total_ms = (t * 1000.0).max(0.0) as i64;
    let secs = total_ms.div_euclid(1000);
    let ms = total_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-28T17:43:19Z` for Unix time `t`, whole seconds.
pub fn rfc3339_seconds(t: f64) -> String {
    let mut s = rfc3339_millis(t.floor());
    // "….000Z" → "…Z"
    s.replace_range(s.len() - 5..s.len() - 1, "");
    s
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm, which is exact for every day of the range we care about).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
