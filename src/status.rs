//! What a person sees of the running pipeline on the landing page: each
//! source's latest state ([`Board`]), and the last 24 hours of the watched
//! errnames' totals ([`History`]).
//!
//! The pipeline owns both, beside the counters, and writes them; `serve`
//! reads them for HTTP. This module only keeps state: it counts nothing
//! (the totals come from the counters), renders nothing, and never makes a
//! source wait. Each source has its own small lock, held for a copy of a
//! few fields, so sources never contend with each other, and a page view
//! holds one only as long as it takes to clone it.
//!
//! The history is a bounded ring: one sample every
//! [`HISTORY_INTERVAL`], [`HISTORY_POINTS`] of them (24 hours), each a
//! total per watched errname, so its memory is fixed whatever the logs do.
//!
//! ```
//! use gateway_exporter::status::History;
//! let h = History::new(vec!["EPIPE".into()]);
//! h.record(0.0, &[("EPIPE".into(), 1)]);
//! h.record(300.0, &[("EPIPE".into(), 4)]);
//! let series = h.series(400.0, &[("EPIPE".into(), 6)]);
//! let totals: Vec<u64> = series[0].points.iter().map(|p| p.1).collect();
//! assert_eq!(totals, [1, 4, 6]);
//! ```

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How often the watched errnames' totals are sampled.
pub const HISTORY_INTERVAL: Duration = Duration::from_secs(300);

/// Intervals the history covers: 24 hours of [`HISTORY_INTERVAL`].
pub const HISTORY_POINTS: usize = 288;

/// The span of the history, in seconds.
pub const HISTORY_SPAN_SECONDS: f64 = (HISTORY_POINTS as u64 * HISTORY_INTERVAL.as_secs()) as f64;

/// One source as the landing page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub name: String,
    /// `file`, `syslog`, `journald`, `stdin`.
    pub kind: String,
    /// Whether the source has finished its first pass.
    pub started: bool,
    /// Whether everything it was told to read was readable at its last
    /// pass (false before the first).
    pub up: bool,
    /// Files followed (file sources only).
    pub files: Option<usize>,
    /// When the last line arrived (Unix time); `None` before the first.
    pub last_line: Option<f64>,
    /// When a socket error was last counted (Unix time), restored ones
    /// included; `None` when never.
    pub last_error: Option<f64>,
    /// What cannot be read right now, and why.
    pub problems: Vec<ReadProblem>,
}

/// Something a source could not read at its last try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProblem {
    /// A path, a pattern, an address (`pattern /var/log/gw.log`).
    pub what: String,
    /// The `reason` label of `gateway_log_read_errors_total`.
    pub reason: String,
    /// The operating system's message.
    pub message: String,
}

/// The latest state of every source, indexed as the pipeline's sources.
pub struct Board {
    sources: Vec<Mutex<SourceStatus>>,
}

/// A poisoned lock only means a source thread panicked mid-update; the
/// fields are still each valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Problems kept per source: a glob may fail for many paths at once, and
/// the page needs only enough to say what is wrong.
const MAX_PROBLEMS: usize = 16;

impl Board {
    /// A board for sources given as `(name, kind)`, none started yet.
    pub fn new(sources: &[(String, String)]) -> Board {
        Board {
            sources: sources
                .iter()
                .map(|(name, kind)| {
                    Mutex::new(SourceStatus {
                        name: name.clone(),
                        kind: kind.clone(),
                        started: false,
                        up: false,
                        files: None,
                        last_line: None,
                        last_error: None,
                        problems: Vec::new(),
                    })
                })
                .collect(),
        }
    }

    fn with(&self, index: usize, f: impl FnOnce(&mut SourceStatus)) {
        if let Some(s) = self.sources.get(index) {
            f(&mut lock(s));
        }
    }

    /// A pass ended with the source `up` (or not), following `files`.
    /// Once everything is readable, no problem of earlier passes stands
    /// (sources that never say `recovered` rely on this).
    pub fn passed(&self, index: usize, up: bool, files: Option<usize>) {
        self.with(index, |s| {
            s.up = up;
            s.files = files;
            if up {
                s.problems.clear();
            }
        });
    }

    /// The source finished its first pass.
    pub fn started(&self, index: usize) {
        self.with(index, |s| s.started = true);
    }

    /// Lines arrived at `now`.
    pub fn line(&self, index: usize, now: f64) {
        self.with(index, |s| s.last_line = Some(now));
    }

    /// `what` could not be read; replaces an earlier problem with it.
    pub fn read_error(&self, index: usize, what: &str, reason: &str, message: &str) {
        self.with(index, |s| {
            let problem = ReadProblem {
                what: what.to_string(),
                reason: reason.to_string(),
                message: message.to_string(),
            };
            if let Some(i) = s.problems.iter().position(|p| p.what == what) {
                s.problems[i] = problem;
            } else if s.problems.len() < MAX_PROBLEMS {
                s.problems.push(problem);
            }
        });
    }

    /// `what` is readable again.
    pub fn recovered(&self, index: usize, what: &str) {
        self.with(index, |s| s.problems.retain(|p| p.what != what));
    }

    /// A copy of every source's state, in the configured order.
    pub fn snapshot(&self) -> Vec<SourceStatus> {
        self.sources.iter().map(|s| lock(s).clone()).collect()
    }
}

/// One watched errname over the history's span.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrnameHistory {
    pub errname: String,
    /// `(Unix time, total)`, oldest first; the last point is "now". Totals
    /// are the counters' (summed over sources, ops and errnos), so the
    /// increase between two points is the errors counted in between.
    pub points: Vec<(f64, u64)>,
}

struct Sample {
    at: f64,
    /// In the order of [`History::names`].
    totals: Vec<u64>,
}

/// A ring of the watched errnames' totals: [`HISTORY_POINTS`] intervals,
/// so one sample more than that.
pub struct History {
    names: Vec<String>,
    ring: Mutex<VecDeque<Sample>>,
}

impl History {
    /// A history of `names` (deduplicated, order kept), empty.
    pub fn new(mut names: Vec<String>) -> History {
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        History {
            names,
            ring: Mutex::new(VecDeque::with_capacity(HISTORY_POINTS + 1)),
        }
    }

    /// The errnames it keeps.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn pick(&self, totals: &[(String, u64)]) -> Vec<u64> {
        self.names
            .iter()
            .map(|n| {
                totals
                    .iter()
                    .find(|(name, _)| name == n)
                    .map_or(0, |(_, v)| *v)
            })
            .collect()
    }

    /// Records the totals at `at`, dropping the oldest sample beyond the
    /// ring's size.
    pub fn record(&self, at: f64, totals: &[(String, u64)]) {
        let sample = Sample {
            at,
            totals: self.pick(totals),
        };
        let mut ring = lock(&self.ring);
        if ring.len() > HISTORY_POINTS {
            ring.pop_front();
        }
        ring.push_back(sample);
    }

    /// Every name's points within the span before `now`, then `current`
    /// (the totals now) as the last point, so the interval in progress
    /// shows too. One sample older than the span is kept as the baseline
    /// of the first interval.
    pub fn series(&self, now: f64, current: &[(String, u64)]) -> Vec<ErrnameHistory> {
        let ring = lock(&self.ring);
        let since = now - HISTORY_SPAN_SECONDS;
        let first = ring.iter().rposition(|s| s.at <= since).unwrap_or(0);
        let kept: Vec<&Sample> = ring.iter().skip(first).filter(|s| s.at <= now).collect();
        let now_totals = self.pick(current);
        self.names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut points: Vec<(f64, u64)> =
                    kept.iter().map(|s| (s.at, s.totals[i])).collect();
                points.push((now, now_totals[i]));
                ErrnameHistory {
                    errname: name.clone(),
                    points,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, v: u64) -> (String, u64) {
        (name.to_string(), v)
    }

    #[test]
    fn ring_is_bounded_to_a_day_plus_its_baseline() {
        let h = History::new(vec!["EPIPE".into()]);
        let step = HISTORY_INTERVAL.as_secs_f64();
        for i in 0..1000u64 {
            h.record(i as f64 * step, &[t("EPIPE", i)]);
        }
        let now = 999.0 * step;
        let s = h.series(now, &[t("EPIPE", 999)]);
        // 289 samples (288 intervals) plus "now".
        assert_eq!(s[0].points.len(), HISTORY_POINTS + 2);
        assert_eq!(s[0].points[0], ((999 - 288) as f64 * step, 999 - 288));
        assert!(s[0].points[0].0 <= now - HISTORY_SPAN_SECONDS);
    }

    #[test]
    fn unwatched_names_are_not_kept_and_missing_ones_are_zero() {
        let h = History::new(vec!["EPIPE".into(), "ENOTCONN".into(), "EPIPE".into()]);
        assert_eq!(h.names(), ["EPIPE", "ENOTCONN"]);
        h.record(10.0, &[t("EAGAIN", 9), t("ENOTCONN", 2)]);
        let s = h.series(20.0, &[t("ENOTCONN", 5)]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].points, vec![(10.0, 0), (20.0, 0)]);
        assert_eq!(s[1].points, vec![(10.0, 2), (20.0, 5)]);
    }

    #[test]
    fn samples_older_than_the_span_but_the_baseline_are_left_out() {
        let h = History::new(vec!["EPIPE".into()]);
        h.record(0.0, &[t("EPIPE", 1)]);
        h.record(100.0, &[t("EPIPE", 2)]);
        h.record(HISTORY_SPAN_SECONDS + 200.0, &[t("EPIPE", 3)]);
        let s = h.series(HISTORY_SPAN_SECONDS + 300.0, &[t("EPIPE", 3)]);
        let times: Vec<f64> = s[0].points.iter().map(|p| p.0).collect();
        assert_eq!(
            times,
            [
                100.0,
                HISTORY_SPAN_SECONDS + 200.0,
                HISTORY_SPAN_SECONDS + 300.0
            ]
        );
    }

    #[test]
    fn board_keeps_problems_until_readable() {
        let b = Board::new(&[("gw".into(), "file".into())]);
        b.read_error(0, "pattern /x", "not_found", "no file matches");
        b.read_error(0, "pattern /x", "not_found", "no file matches");
        b.passed(0, false, Some(0));
        b.started(0);
        let s = &b.snapshot()[0];
        assert!(s.started && !s.up);
        assert_eq!(s.problems.len(), 1);
        assert_eq!(s.problems[0].reason, "not_found");
        b.passed(0, true, Some(1));
        b.line(0, 42.0);
        let s = &b.snapshot()[0];
        assert!(s.up && s.problems.is_empty());
        assert_eq!((s.files, s.last_line), (Some(1), Some(42.0)));
        b.read_error(0, "path /y", "io", "boom");
        b.recovered(0, "path /y");
        assert!(b.snapshot()[0].problems.is_empty());
        // Out of range is ignored, never a panic.
        b.line(7, 1.0);
    }

    #[test]
    fn problems_per_source_are_bounded() {
        let b = Board::new(&[("gw".into(), "file".into())]);
        for i in 0..100 {
            b.read_error(0, &format!("path /{i}"), "io", "x");
        }
        assert_eq!(b.snapshot()[0].problems.len(), MAX_PROBLEMS);
    }
}
