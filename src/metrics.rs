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

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

use crate::classify::{BlockStats, Event};

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
    unknown_errnos: Mutex<HashMap<String, HashSet<String>>>,
}

impl Default for LogMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .expect("metric names and labels are valid literals");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric is registered once");
    c
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
            unknown_errnos: Mutex::new(HashMap::new()),
            registry,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
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
