//! `scan --timeline`: socket errors per time bucket, by the times the
//! lines carry, so the start, the peak and the end of an incident show at
//! a glance.
//!
//! Buckets are aligned to the epoch in UTC (an hour bucket starts on the
//! hour); every bucket between the first and the last error is present,
//! empty ones too, so a gap is visible as a gap. Three renderings: a table,
//! JSON for tools, and a bar chart for a terminal.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Value, json};

use crate::timestamp::rfc3339_utc;

/// At most this many buckets between the first and the last error: a log
/// spanning years at `--bucket 1m` asks for a larger bucket instead.
pub const MAX_BUCKETS: i64 = 100_000;

/// One bucket: its start (Unix seconds) and its counts by errname.
pub type Bucket = (i64, BTreeMap<String, u64>);

/// Counts by bucket and errname.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub bucket_seconds: i64,
    /// Bucket index (start / bucket_seconds) → errname → count.
    counts: BTreeMap<i64, BTreeMap<String, u64>>,
    first: Option<i64>,
    last: Option<i64>,
}

impl Timeline {
    pub fn new(bucket_seconds: u64) -> Timeline {
        Timeline {
            bucket_seconds: i64::try_from(bucket_seconds.max(1)).unwrap_or(i64::MAX),
            ..Timeline::default()
        }
    }

    /// One error of `errname` at `at` (Unix seconds).
    pub fn add(&mut self, errname: &str, at: f64) {
        let t = at.floor() as i64;
        let bucket = t.div_euclid(self.bucket_seconds);
        *self
            .counts
            .entry(bucket)
            .or_default()
            .entry(errname.to_string())
            .or_default() += 1;
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// Adds another timeline of the same bucket length.
    pub fn merge(&mut self, other: &Timeline) {
        for (b, counts) in &other.counts {
            let mine = self.counts.entry(*b).or_default();
            for (name, n) in counts {
                *mine.entry(name.clone()).or_default() += n;
            }
        }
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, other.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Every bucket from the first error's to the last's.
    pub fn buckets(&self) -> Result<Vec<Bucket>, TooManyBuckets> {
        let (Some(first), Some(last)) = (self.counts.keys().next(), self.counts.keys().last())
        else {
            return Ok(Vec::new());
        };
        let span = last - first + 1;
        if span > MAX_BUCKETS {
            return Err(TooManyBuckets {
                buckets: span,
                bucket_seconds: self.bucket_seconds,
            });
        }
        Ok((*first..=*last)
            .map(|b| {
                (
                    b * self.bucket_seconds,
                    self.counts.get(&b).cloned().unwrap_or_default(),
                )
            })
            .collect())
    }

    /// `{"bucket_seconds":3600,"buckets":[{"start":"…Z","counts":{…}},…]}`.
    pub fn json(&self) -> Result<Value, TooManyBuckets> {
        let buckets: Vec<Value> = self
            .buckets()?
            .into_iter()
            .map(|(start, counts)| json!({"start": rfc3339_utc(start as f64), "counts": counts}))
            .collect();
        Ok(json!({
            "bucket_seconds": self.bucket_seconds,
            "first_error": self.first.map(|t| rfc3339_utc(t as f64)),
            "last_error": self.last.map(|t| rfc3339_utc(t as f64)),
            "buckets": buckets,
        }))
    }

    /// One row per bucket, one column per errname, and the total.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        let buckets = self.buckets().map_err(io::Error::other)?;
        let names: Vec<&String> = {
            let mut all: Vec<&String> = self.counts.values().flat_map(|c| c.keys()).collect();
            all.sort();
            all.dedup();
            all
        };
        write!(out, "{:<20} {:>7}", "bucket (UTC)", "total")?;
        for n in &names {
            write!(out, " {:>w$}", n, w = n.len().max(5))?;
        }
        writeln!(out)?;
        for (start, counts) in &buckets {
            let total: u64 = counts.values().sum();
            write!(out, "{:<20} {:>7}", rfc3339_utc(*start as f64), total)?;
            for n in &names {
                let c = counts.get(*n).copied().unwrap_or(0);
                write!(out, " {:>w$}", c, w = n.len().max(5))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    /// A bar per bucket, scaled to the peak, with the first error, the peak
    /// bucket and the last error marked; for a terminal `width` wide.
    pub fn write_chart(&self, out: &mut impl Write, width: usize) -> io::Result<()> {
        let buckets = self.buckets().map_err(io::Error::other)?;
        let Some((first, last)) = self.first.zip(self.last) else {
            return writeln!(out, "no socket errors");
        };
        let totals: Vec<u64> = buckets.iter().map(|(_, c)| c.values().sum()).collect();
        let peak = totals.iter().copied().max().unwrap_or(0).max(1);
        let peak_at = totals.iter().position(|t| *t == peak).unwrap_or(0);
        // "2026-11-28 10:00 " + count + marks: the rest is the bar.
        let bar_width = width.saturating_sub(17 + 8 + 16).clamp(10, 60);
        let b = self.bucket_seconds;
        writeln!(
            out,
            "socket errors per {} (UTC); first {}, last {}, peak {} in one bucket",
            human_duration(b),
            rfc3339_utc(first as f64),
            rfc3339_utc(last as f64),
            peak
        )?;
        for (i, ((start, counts), total)) in buckets.iter().zip(&totals).enumerate() {
            let stamp = rfc3339_utc(*start as f64);
            let stamp = format!("{} {}", &stamp[..10], &stamp[11..16]);
            let mut marks = Vec::new();
            if first.div_euclid(b) * b == *start {
                marks.push("first");
            }
            if i == peak_at {
                marks.push("peak");
            }
            if last.div_euclid(b) * b == *start {
                marks.push("last");
            }
            let bar = bar(*total, peak, bar_width);
            let top = counts
                .iter()
                .max_by_key(|(_, c)| **c)
                .map(|(n, _)| n.as_str())
                .unwrap_or("");
            let marks = if marks.is_empty() {
                String::new()
            } else {
                format!("  <- {}", marks.join(", "))
            };
            let detail = if *total > 0 {
                format!(" {top}")
            } else {
                String::new()
            };
            writeln!(out, "{stamp} {bar:<bar_width$} {total:>6}{detail}{marks}")?;
        }
        Ok(())
    }
}

/// A bar of `total` against `peak` in `width` cells, in eighths.
fn bar(total: u64, peak: u64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (total as u128 * width as u128 * 8).div_ceil(peak as u128) as usize;
    let mut s = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        s.push(PARTS[eighths % 8]);
    }
    if total == 0 {
        s.push('·');
    }
    s
}

fn human_duration(s: i64) -> String {
    match s {
        86_400 => "day".into(),
        3600 => "hour".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A timeline that would need more than [`MAX_BUCKETS`] rows.
#[derive(Debug, thiserror::Error)]
#[error(
    "the errors span {buckets} buckets of {bucket_seconds}s; give a larger --bucket (at most {MAX_BUCKETS} buckets)"
)]
pub struct TooManyBuckets {
    pub buckets: i64,
    pub bucket_seconds: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_span_with_empty_ones() {
        let mut t = Timeline::new(3600);
        t.add("ENOTCONN", 7200.0 + 5.0);
        t.add("ENOTCONN", 7200.0 + 3599.0);
        t.add("ECONNREFUSED", 4.0 * 3600.0);
        let b = t.buckets().unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].0, 7200);
        assert_eq!(b[0].1["ENOTCONN"], 2);
        assert!(b[1].1.is_empty());
        assert_eq!(b[2].1["ECONNREFUSED"], 1);
        let j = t.json().unwrap();
        assert_eq!(j["buckets"][1]["counts"], json!({}));
        assert_eq!(j["buckets"][0]["start"], "1970-01-01T02:00:00Z");
    }

    #[test]
    fn too_many_buckets_is_an_error_not_an_allocation() {
        let mut t = Timeline::new(60);
        t.add("ENOTCONN", 0.0);
        t.add("ENOTCONN", 60.0 * (MAX_BUCKETS as f64 + 10.0));
        assert!(t.buckets().is_err());
    }

    #[test]
    fn bars_scale_to_the_peak() {
        assert_eq!(bar(4, 4, 4), "████");
        assert_eq!(bar(1, 4, 4), "█");
        assert_eq!(bar(1, 8, 4), "▌");
        assert_eq!(bar(0, 8, 4), "·");
    }
}
