//! The counters, their label bounds, and their exposition.
//!
//! [`LogMetrics`] owns every per-source log counter and renders them in the
//! Prometheus text format. Metric names are a contract (dashboards and
//! alerts depend on them), so they are written once, here.
//!
//! Label values come only from closed sets ([`Op`], [`Errname`], source
//! names from the config) except `errno`, the number as logged. That one is
//! bounded too: numbers that name a known error are a finite set; numbers
//! that do not (a gateway's own codes) are kept up to
//! [`MAX_UNKNOWN_ERRNOS_PER_SOURCE`] distinct values per source, and beyond
//! that are counted under `errno="other"` and in
//! `gateway_socket_errors_collapsed_total`.
//!
//! ```
//! use gateway_exporter::metrics::LogMetrics;
//! use gateway_exporter::classify::{Classifier, Verdict};
//! let m = LogMetrics::new();
//! let c = Classifier::builder().build().unwrap();
//! if let Verdict::Event(e) = c.classify(b"ERROR write: (57) Socket is not connected") {
//!     m.record_event("gw", &e);
//! }
//! assert!(m.render().contains(
//!     r#"gateway_socket_errors_total{errname="ENOTCONN",errno="57",op="write",source="gw"} 1"#));
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::classify::{BlockStats, Event, Verdict};

/// The families a checkpoint carries.
const PERSISTED: &[&str] = &[
    "gateway_socket_errors_total",
    "gateway_socket_errors_collapsed_total",
    "gateway_log_lines_total",
    "gateway_log_bytes_total",
    "gateway_log_oversize_lines_total",
    "gateway_log_unrecognized_errors_total",
    "gateway_log_repeated_errors_total",
    "gateway_log_rotations_total",
    "gateway_log_read_errors_total",
    "gateway_last_socket_error_timestamp_seconds",
];

/// Distinct errno values outside the tables kept per source.
pub const MAX_UNKNOWN_ERRNOS_PER_SOURCE: usize = 32;

/// The text-format content type Prometheus expects.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub struct LogMetrics {
    registry: Registry,
    socket_errors: IntCounterVec,
    collapsed: IntCounterVec,
    lines: IntCounterVec,
    bytes: IntCounterVec,
    oversize: IntCounterVec,
    unrecognized: IntCounterVec,
    repeated: IntCounterVec,
    last_error: GaugeVec,
    rotations: IntCounterVec,
    read_errors: IntCounterVec,
    files: IntGaugeVec,
    up: IntGaugeVec,
    last_line: GaugeVec,
    unknown_errnos: Mutex<HashMap<String, HashSet<String>>>,
}

impl Default for LogMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers a metric built from literal names; both steps can only fail
/// on a programming error (a bad name, or registering a family twice).
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid literal names");
    register(registry, c)
}

fn int_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid literal names");
    register(registry, g)
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid literal names");
    register(registry, g)
}

/// Seconds since the Unix epoch, as Prometheus timestamps are written.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Registers `gateway_exporter_build_info` in `registry`.
pub fn register_build_info(registry: &Registry) {
    let g = int_gauge(
        registry,
        "gateway_exporter_build_info",
        "A metric with a constant '1' value labelled by version, revision and the rustc that built the exporter.",
        &["version", "revision", "rustc_version"],
    );
    g.with_label_values(&[
        env!("CARGO_PKG_VERSION"),
        env!("GATEWAY_EXPORTER_REVISION"),
        env!("GATEWAY_EXPORTER_RUSTC_VERSION"),
    ])
    .set(1);
}

impl LogMetrics {
    pub fn new() -> LogMetrics {
        let registry = Registry::new();
        let r = &registry;
        LogMetrics {
            socket_errors: counter(
                r,
                "gateway_socket_errors_total",
                "Socket errors logged by the gateway, by operation, errno as logged and canonical name.",
                &["source", "op", "errno", "errname"],
            ),
            collapsed: counter(
                r,
                "gateway_socket_errors_collapsed_total",
                "Socket errors whose errno (not a known errno) was counted under errno=\"other\" to bound label values.",
                &["source"],
            ),
            lines: counter(r, "gateway_log_lines_total", "Log lines read.", &["source"]),
            bytes: counter(r, "gateway_log_bytes_total", "Log bytes read.", &["source"]),
            oversize: counter(
                r,
                "gateway_log_oversize_lines_total",
                "Log lines longer than the line-length cap, skipped.",
                &["source"],
            ),
            unrecognized: counter(
                r,
                "gateway_log_unrecognized_errors_total",
                "Lines that look like errors (error/fail) but match no rule: a sign the log format changed.",
                &["source"],
            ),
            repeated: counter(
                r,
                "gateway_log_repeated_errors_total",
                "Lines that repeat an earlier socket error or report a cached failure state; not counted as socket errors.",
                &["source"],
            ),
            last_error: gauge(
                r,
                "gateway_last_socket_error_timestamp_seconds",
                "When the exporter last counted a socket error, by operation and canonical name (Unix time).",
                &["source", "op", "errname"],
            ),
            rotations: counter(
                r,
                "gateway_log_rotations_total",
                "Rotations of followed log files, by kind (rename, truncate, recreate).",
                &["source", "kind"],
            ),
            read_errors: counter(
                r,
                "gateway_log_read_errors_total",
                "Failures to find, open or read a log path, by reason.",
                &["source", "reason"],
            ),
            files: int_gauge(
                r,
                "gateway_log_files",
                "Log files currently followed.",
                &["source"],
            ),
            up: int_gauge(
                r,
                "gateway_log_up",
                "1 when every path or glob of the source resolves to readable files, else 0.",
                &["source"],
            ),
            last_line: gauge(
                r,
                "gateway_log_last_line_timestamp_seconds",
                "When a line last arrived (Unix time); the time following started until the first line.",
                &["source"],
            ),
            unknown_errnos: Mutex::new(HashMap::new()),
            registry,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts what a line was. `error_time`, when given, is recorded as the
    /// time of the last socket error (the live exporter; `scan` has no
    /// meaningful "now").
    pub fn record_verdict(&self, source: &str, v: &Verdict<'_>, error_time: Option<f64>) {
        match v {
            Verdict::Event(e) => {
                self.record_event(source, e);
                if let Some(t) = error_time {
                    self.mark_error_time(source, e.op.as_str(), e.errname.as_str(), t);
                }
            }
            Verdict::Repeat { .. } => self.record_repeat(source),
            Verdict::Unrecognized => self.record_unrecognized(source),
            Verdict::NoMatch => {}
        }
    }

    /// Counts one event for `source`.
    pub fn record_event(&self, source: &str, e: &Event<'_>) {
        let errno = e.errno.as_deref().unwrap_or("");
        let errno = if e.errname.is_unknown() && !errno.is_empty() {
            self.bounded_unknown_errno(source, errno)
        } else {
            errno
        };
        self.socket_errors
            .with_label_values(&[source, e.op.as_str(), errno, e.errname.as_str()])
            .inc();
    }

    fn bounded_unknown_errno<'a>(&self, source: &str, errno: &'a str) -> &'a str {
        // A poisoned lock only means another thread panicked mid-insert; the
        // set is still a valid set.
        let mut seen = self
            .unknown_errnos
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let set = seen.entry(source.to_string()).or_default();
        if set.contains(errno) || set.len() < MAX_UNKNOWN_ERRNOS_PER_SOURCE {
            set.insert(errno.to_string());
            errno
        } else {
            self.collapsed.with_label_values(&[source]).inc();
            "other"
        }
    }

    /// Makes a socket-error series exist at 0, so the first real error is
    /// an increase Prometheus can see.
    pub fn touch_socket_error(&self, source: &str, op: &str, errno: &str, errname: &str) {
        self.socket_errors
            .with_label_values(&[source, op, errno, errname]);
    }

    /// Makes the series of a followed source exist: counters at 0, `up` at
    /// 0 until the first pass, the last-line time at `now`.
    pub fn touch_followed_source(&self, source: &str, kinds: &[&str], reasons: &[&str], now: f64) {
        self.touch_source(source);
        for kind in kinds {
            self.rotations.with_label_values(&[source, kind]);
        }
        for reason in reasons {
            self.read_errors.with_label_values(&[source, reason]);
        }
        self.files.with_label_values(&[source]).set(0);
        self.up.with_label_values(&[source]).set(0);
        self.last_line.with_label_values(&[source]).set(now);
    }

    pub fn mark_error_time(&self, source: &str, op: &str, errname: &str, now: f64) {
        self.last_error
            .with_label_values(&[source, op, errname])
            .set(now);
    }

    pub fn mark_line_time(&self, source: &str, now: f64) {
        self.last_line.with_label_values(&[source]).set(now);
    }

    pub fn record_rotation(&self, source: &str, kind: &str) {
        self.rotations.with_label_values(&[source, kind]).inc();
    }

    pub fn record_read_error(&self, source: &str, reason: &str) {
        self.read_errors.with_label_values(&[source, reason]).inc();
    }

    pub fn set_status(&self, source: &str, files: usize, up: bool) {
        self.files.with_label_values(&[source]).set(files as i64);
        self.up.with_label_values(&[source]).set(i64::from(up));
    }

    /// The series that must survive a restart, grouped by source: every
    /// counter of the log pipeline and the last-error timestamps.
    pub fn snapshot(&self) -> HashMap<String, Vec<crate::checkpoint::SeriesValue>> {
        let mut out: HashMap<String, Vec<crate::checkpoint::SeriesValue>> = HashMap::new();
        for family in self.registry.gather() {
            let name = family.name();
            if !PERSISTED.contains(&name) {
                continue;
            }
            let is_counter = family.get_field_type() == prometheus::proto::MetricType::COUNTER;
            for m in family.get_metric() {
                let labels: std::collections::BTreeMap<String, String> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), l.value().to_string()))
                    .collect();
                let Some(source) = labels.get("source").cloned() else {
                    continue;
                };
                let value = if is_counter {
                    m.get_counter().get_value()
                } else {
                    m.get_gauge().get_value()
                };
                out.entry(source)
                    .or_default()
                    .push(crate::checkpoint::SeriesValue {
                        name: name.to_string(),
                        labels,
                        value,
                    });
            }
        }
        out
    }

    /// Adds a persisted series back. Unknown names and label sets that do
    /// not fit are ignored (a newer state from a future version, or a
    /// hand-edited file).
    pub fn restore(&self, v: &crate::checkpoint::SeriesValue) {
        let labels: HashMap<&str, &str> = v
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !v.value.is_finite() || v.value < 0.0 {
            return;
        }
        if v.name == "gateway_last_socket_error_timestamp_seconds" {
            if let Ok(g) = self.last_error.get_metric_with(&labels) {
                g.set(v.value);
            }
            return;
        }
        let vec = match v.name.as_str() {
            "gateway_socket_errors_total" => &self.socket_errors,
            "gateway_socket_errors_collapsed_total" => &self.collapsed,
            "gateway_log_lines_total" => &self.lines,
            "gateway_log_bytes_total" => &self.bytes,
            "gateway_log_oversize_lines_total" => &self.oversize,
            "gateway_log_unrecognized_errors_total" => &self.unrecognized,
            "gateway_log_repeated_errors_total" => &self.repeated,
            "gateway_log_rotations_total" => &self.rotations,
            "gateway_log_read_errors_total" => &self.read_errors,
            _ => return,
        };
        if let Ok(c) = vec.get_metric_with(&labels) {
            c.inc_by(v.value as u64);
        }
        if v.name == "gateway_socket_errors_total" && labels.get("errname") == Some(&"UNKNOWN") {
            if let (Some(source), Some(errno)) = (labels.get("source"), labels.get("errno")) {
                if !errno.is_empty() && *errno != "other" {
                    let _ = self.bounded_unknown_errno(source, errno);
                }
            }
        }
    }

    /// Socket errors summed by errname over every other label.
    pub fn errname_totals(&self) -> Vec<(String, u64)> {
        let mut totals: HashMap<String, u64> = HashMap::new();
        for family in self.registry.gather() {
            if family.name() != "gateway_socket_errors_total" {
                continue;
            }
            for m in family.get_metric() {
                let name = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "errname")
                    .map(|l| l.value().to_string())
                    .unwrap_or_default();
                *totals.entry(name).or_default() += m.get_counter().get_value() as u64;
            }
        }
        let mut v: Vec<_> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Makes the per-source series exist at 0.
    pub fn touch_source(&self, source: &str) {
        for c in [
            &self.lines,
            &self.bytes,
            &self.oversize,
            &self.unrecognized,
            &self.repeated,
            &self.collapsed,
        ] {
            c.with_label_values(&[source]);
        }
    }

    pub fn add_block(&self, source: &str, stats: BlockStats) {
        self.lines.with_label_values(&[source]).inc_by(stats.lines);
        self.oversize
            .with_label_values(&[source])
            .inc_by(stats.oversize);
    }

    pub fn add_bytes(&self, source: &str, bytes: u64) {
        self.bytes.with_label_values(&[source]).inc_by(bytes);
    }

    pub fn add_oversize_skipped(&self, source: &str, n: u64) {
        self.lines.with_label_values(&[source]).inc_by(n);
        self.oversize.with_label_values(&[source]).inc_by(n);
    }

    pub fn record_unrecognized(&self, source: &str) {
        self.unrecognized.with_label_values(&[source]).inc();
    }

    pub fn record_repeat(&self, source: &str) {
        self.repeated.with_label_values(&[source]).inc();
    }

    /// The text exposition of every registered family.
    pub fn render(&self) -> String {
        render_registry(&self.registry)
    }
}

/// Renders a registry in the text format.
pub fn render_registry(registry: &Registry) -> String {
    let mut out = Vec::new();
    // Encoding into a Vec cannot fail for the text format except on invalid
    // metric data, which the typed constructors rule out.
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding into memory");
    String::from_utf8(out).expect("the text format is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Op;
    use crate::errno::{Dialect, Errname};

    #[test]
    fn unknown_errnos_are_capped_per_source() {
        let m = LogMetrics::new();
        for i in 0..(MAX_UNKNOWN_ERRNOS_PER_SOURCE + 5) {
            let e = Event {
                op: Op::Write,
                errno: Some(format!("{}", 1000 + i)),
                errname: Errname::UNKNOWN,
                dialect: Dialect::Vendor,
                rule: "t",
                witness: None,
            };
            m.record_event("gw", &e);
        }
        let text = m.render();
        assert!(
            text.contains(r#"{errname="UNKNOWN",errno="other",op="write",source="gw"} 5"#),
            "{text}"
        );
        assert!(text.contains(r#"gateway_socket_errors_collapsed_total{source="gw"} 5"#));
        let series = text
            .lines()
            .filter(|l| l.starts_with("gateway_socket_errors_total{"))
            .count();
        assert_eq!(series, MAX_UNKNOWN_ERRNOS_PER_SOURCE + 1);
    }
}
