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
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::checkpoint::{Counters, SeriesValue};
use crate::classify::{BlockStats, Classifier, Event, Op, RepeatFilter, Verdict};
use crate::errno::{Dialect, Errname, table};
pub use crate::limits::MAX_UNKNOWN_ERRNOS_PER_SOURCE;
use crate::source::syslog::Malformed;
use crate::source::{ReadErrorReason, RotationKind};
use crate::timestamp::{LineClock, Zone};

/// The text-format content type Prometheus expects.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    IntGauge,
}

/// One metric family: the contract dashboards and alerts depend on,
/// written once.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    pub kind: Kind,
    /// Whether a checkpoint carries it, so it survives restarts exactly.
    pub persisted: bool,
}

macro_rules! families {
    ($($id:ident: $kind:ident $name:literal [$($label:literal),*] $persisted:literal $help:literal;)*) => {
        $(pub const $id: Family = Family {
            name: $name,
            help: $help,
            labels: &[$($label),*],
            kind: Kind::$kind,
            persisted: $persisted,
        };)*
        /// Every family the counters declare, in exposition order.
        pub const FAMILIES: &[Family] = &[$($id),*];
    };
}

families! {
    SOCKET_ERRORS: Counter "gateway_socket_errors_total" ["source", "op", "errno", "errname"] true
        "Socket errors logged by the gateway, by operation, errno as logged and canonical name.";
    COLLAPSED: Counter "gateway_socket_errors_collapsed_total" ["source"] true
        "Socket errors whose errno (not a known errno) was counted under errno=\"other\" to bound label values.";
    LINES: Counter "gateway_log_lines_total" ["source"] true "Log lines read.";
    BYTES: Counter "gateway_log_bytes_total" ["source"] true "Log bytes read.";
    OVERSIZE: Counter "gateway_log_oversize_lines_total" ["source"] true
        "Log lines longer than the line-length cap, skipped.";
    UNRECOGNIZED: Counter "gateway_log_unrecognized_errors_total" ["source"] true
        "Lines that look like errors (error/fail) but match no rule: a sign the log format changed.";
    REPEATED: Counter "gateway_log_repeated_errors_total" ["source"] true
        "Lines that repeat an earlier socket error or report a cached failure state; not counted as socket errors.";
    ERROR_WINDOWS: Gauge "gateway_socket_error_windows" ["source", "op", "errname"] false
        "Separate clock-aligned windows (--gateway.error-window, 15m by default) that held at least one such error within the last 24 hours, by the times the lines carry: a backlog read at once still shows the windows it was written in.";
    LAST_ERROR: Gauge "gateway_last_socket_error_timestamp_seconds" ["source", "op", "errname"] true
        "When the exporter last counted a socket error, by operation and canonical name (Unix time).";
    ROTATIONS: Counter "gateway_log_rotations_total" ["source", "kind"] true
        "Rotations of followed log files, by kind (rename, truncate, recreate).";
    READ_ERRORS: Counter "gateway_log_read_errors_total" ["source", "reason"] true
        "Failures to find, open or read a log path, by reason.";
    SYSLOG_MALFORMED: Counter "gateway_syslog_malformed_total" ["source", "reason"] true
        "Syslog frames dropped as malformed, by reason (bad_pri, oversize, truncated, bad_frame, binary, bad_header).";
    FILES: IntGauge "gateway_log_files" ["source"] false "Log files currently followed.";
    FILES_UNHELD: IntGauge "gateway_log_files_unheld" ["source"] false
        "Followed files beyond the descriptor budget, reopened at each pass that sees them change.";
    DESCRIPTOR_BUDGET: IntGauge "gateway_log_descriptor_budget" [] false
        "Descriptors followed files may hold at once (the soft RLIMIT_NOFILE, raised to the hard limit, less a reserve).";
    UP: IntGauge "gateway_log_up" ["source"] false
        "1 when every path or glob of the source resolves to readable files, else 0.";
    LAST_LINE: Gauge "gateway_log_last_line_timestamp_seconds" ["source"] false
        "When a line last arrived (Unix time); the time following started until the first line.";
    CHECKPOINT_OK: IntGauge "gateway_checkpoint_last_success_timestamp_seconds" [] false
        "When the last checkpoint was written (Unix time); 0 when none has been.";
    CHECKPOINT_ERRORS: Counter "gateway_checkpoint_errors_total" ["op"] false
        "Checkpoints that could not be loaded (op=load) or written (op=write).";
    BUILD_INFO: IntGauge "gateway_exporter_build_info" ["version", "revision", "rustc_version"] false
        "A metric with a constant '1' value labelled by version, revision and the rustc that built the exporter.";
    RELOAD_OK: IntGauge "gateway_exporter_config_last_reload_successful" [] false
        "1 when the last configuration reload succeeded (or none was asked), 0 when it failed and the previous configuration is still running.";
    RELOAD_TIME: Gauge "gateway_exporter_config_last_reload_success_timestamp_seconds" [] false
        "When the configuration was last loaded successfully (Unix time): at start or at the last reload that succeeded.";
}

/// Why a series from a checkpoint was not restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreRefused {
    /// Not a family this version persists.
    Family,
    /// Label names or values a live series could not have.
    Labels,
    /// A counter that is no exact integer in 0..2^53, or a timestamp in
    /// the future.
    Value,
}

/// Counters are restored as f64 from JSON: above 2^53 not every integer is
/// representable, so such a value cannot be a count this exporter wrote.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// How far ahead of this host's clock a restored timestamp may be (a
/// clock stepped back since it was written).
const MAX_FUTURE_SKEW_SECONDS: f64 = 300.0;

/// Whether `errno` is the number some numbering gives `errname`.
fn is_table_number(errno: &str, errname: Errname) -> bool {
    let Ok(n) = errno.parse::<u32>() else {
        return false;
    };
    Dialect::NUMBERINGS
        .iter()
        .any(|d| table().number(*d, errname) == Some(n))
}

/// Digits, with at most a leading minus, and short: what an errno looks
/// like whatever the program.
fn is_plain_number(errno: &str) -> bool {
    let digits = errno.strip_prefix('-').unwrap_or(errno);
    !digits.is_empty() && digits.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The errname a label value names exactly (`UNKNOWN` included).
fn known_errname(value: &str) -> Option<Errname> {
    if value == Errname::UNKNOWN.as_str() {
        return Some(Errname::UNKNOWN);
    }
    table().by_name(value).filter(|n| n.as_str() == value)
}

/// A persisted family's handle, for restoring it.
enum Restorable {
    Counter(IntCounterVec),
    Gauge(GaugeVec),
}

/// Declares families in a registry, remembering the persisted ones.
struct Declare<'r> {
    registry: &'r Registry,
    restorable: Vec<(&'static Family, Restorable)>,
}

impl Declare<'_> {
    /// Both steps can only fail on a programming error (a bad literal
    /// name, or declaring a family twice).
    fn register<M: prometheus::core::Collector + Clone + 'static>(&self, metric: M) -> M {
        self.registry
            .register(Box::new(metric.clone()))
            .expect("each family is declared once");
        metric
    }

    fn counter(&mut self, f: &'static Family) -> IntCounterVec {
        debug_assert_eq!(f.kind, Kind::Counter);
        let c = IntCounterVec::new(Opts::new(f.name, f.help), f.labels).expect("valid names");
        if f.persisted {
            self.restorable.push((f, Restorable::Counter(c.clone())));
        }
        self.register(c)
    }

    fn gauge(&mut self, f: &'static Family) -> GaugeVec {
        debug_assert_eq!(f.kind, Kind::Gauge);
        let g = GaugeVec::new(Opts::new(f.name, f.help), f.labels).expect("valid names");
        if f.persisted {
            self.restorable.push((f, Restorable::Gauge(g.clone())));
        }
        self.register(g)
    }

    fn int_gauge(&mut self, f: &'static Family) -> IntGaugeVec {
        debug_assert!(f.kind == Kind::IntGauge && !f.persisted);
        let g = IntGaugeVec::new(Opts::new(f.name, f.help), f.labels).expect("valid names");
        self.register(g)
    }
}

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
    error_windows: GaugeVec,
    /// Window indices (time / window length) with errors, by source, op
    /// and errname (nested so that a lookup by `&str` allocates nothing on
    /// the per-event path); the last 24 hours' worth.
    windows: Mutex<Windows>,
    window_seconds: AtomicU64,
    rotations: IntCounterVec,
    read_errors: IntCounterVec,
    malformed: IntCounterVec,
    files: IntGaugeVec,
    files_unheld: IntGaugeVec,
    descriptor_budget: IntGaugeVec,
    up: IntGaugeVec,
    last_line: GaugeVec,
    checkpoint_ok: IntGaugeVec,
    checkpoint_errors: IntCounterVec,
    build_info: IntGaugeVec,
    reload_ok: IntGaugeVec,
    reload_time: GaugeVec,
    restorable: Vec<(&'static Family, Restorable)>,
    unknown_errnos: Mutex<HashMap<String, HashSet<String>>>,
}

impl Default for LogMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMetrics {
    pub fn new() -> LogMetrics {
        let registry = Registry::new();
        let mut d = Declare {
            registry: &registry,
            restorable: Vec::new(),
        };
        LogMetrics {
            build_info: d.int_gauge(&BUILD_INFO),
            socket_errors: d.counter(&SOCKET_ERRORS),
            collapsed: d.counter(&COLLAPSED),
            lines: d.counter(&LINES),
            bytes: d.counter(&BYTES),
            oversize: d.counter(&OVERSIZE),
            unrecognized: d.counter(&UNRECOGNIZED),
            repeated: d.counter(&REPEATED),
            error_windows: d.gauge(&ERROR_WINDOWS),
            last_error: d.gauge(&LAST_ERROR),
            windows: Mutex::new(HashMap::new()),
            window_seconds: AtomicU64::new(900),
            rotations: d.counter(&ROTATIONS),
            read_errors: d.counter(&READ_ERRORS),
            malformed: d.counter(&SYSLOG_MALFORMED),
            files: d.int_gauge(&FILES),
            files_unheld: d.int_gauge(&FILES_UNHELD),
            descriptor_budget: d.int_gauge(&DESCRIPTOR_BUDGET),
            up: d.int_gauge(&UP),
            last_line: d.gauge(&LAST_LINE),
            checkpoint_ok: d.int_gauge(&CHECKPOINT_OK),
            checkpoint_errors: d.counter(&CHECKPOINT_ERRORS),
            reload_ok: d.int_gauge(&RELOAD_OK),
            reload_time: d.gauge(&RELOAD_TIME),
            restorable: std::mem::take(&mut d.restorable),
            unknown_errnos: Mutex::new(HashMap::new()),
            registry,
        }
    }

    /// Makes `gateway_exporter_build_info` exist (the live exporter; a
    /// `scan` report is about a log, not about this build).
    pub fn touch_build_info(&self) {
        self.build_info
            .with_label_values(&[
                crate::version::VERSION,
                crate::version::REVISION,
                crate::version::RUSTC,
            ])
            .set(1);
    }

    /// Makes the checkpoint series exist: the success time at 0, both
    /// error counts at 0. Only where checkpoints are written.
    pub fn touch_checkpoints(&self) {
        self.checkpoint_ok.with_label_values::<&str>(&[]).set(0);
        for op in ["load", "write"] {
            self.checkpoint_errors.with_label_values(&[op]);
        }
    }

    pub fn record_checkpoint_success(&self, now: f64) {
        self.checkpoint_ok
            .with_label_values::<&str>(&[])
            .set(now as i64);
    }

    pub fn record_checkpoint_error(&self, op: &str) {
        self.checkpoint_errors.with_label_values(&[op]).inc();
    }

    /// The outcome of the last configuration load (the live exporter).
    pub fn set_reload(&self, successful: bool, last_success: f64) {
        self.reload_ok
            .with_label_values::<&str>(&[])
            .set(i64::from(successful));
        self.reload_time
            .with_label_values::<&str>(&[])
            .set(last_success);
    }

    /// After a reload: what the new counters cannot know from a checkpoint
    /// (the families that are not persisted) is taken from the old ones,
    /// for the sources that stay, so a reload does not look like a
    /// restart: last-line times (the later of both) and the checkpoint
    /// series.
    pub fn carry_over(&self, old: &LogMetrics, sources: &[&str]) {
        for source in sources {
            if let Ok(g) = old.last_line.get_metric_with_label_values(&[source]) {
                let now = self.last_line.with_label_values(&[source]);
                now.set(now.get().max(g.get()));
            }
        }
        // Only series the old counters had: without checkpoints there are
        // none, and a reload must not make them appear.
        if let Ok(ok) = old.checkpoint_ok.get_metric_with_label_values::<&str>(&[]) {
            let new_ok = self.checkpoint_ok.with_label_values::<&str>(&[]);
            new_ok.set(new_ok.get().max(ok.get()));
        }
        for op in ["load", "write"] {
            if let Ok(before) = old.checkpoint_errors.get_metric_with_label_values(&[op]) {
                self.checkpoint_errors
                    .with_label_values(&[op])
                    .inc_by(before.get());
            }
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts what a line was. `error_time`, when given, is recorded as the
    /// time of the last socket error (the live exporter; `scan` has no
    /// meaningful "now"). `handles` keeps the series of the block's recent
    /// (op, errno, name) triples: where every line is an error, looking the
    /// series up by label values (hashing and locking twice) and the window
    /// set (a lock and three maps) for each line were a third of the live
    /// path.
    fn record_verdict(
        &self,
        source: &str,
        v: &Verdict<'_>,
        error_time: Option<f64>,
        handles: &mut EventHandles,
    ) {
        match v {
            Verdict::Event(e) => self.count_event(source, e, error_time, handles),
            Verdict::Repeat { .. } => self.record_repeat(source),
            Verdict::Unrecognized => self.record_unrecognized(source),
            Verdict::NoMatch => {}
        }
    }

    /// Counts one event for `source`.
    pub fn record_event(&self, source: &str, e: &Event<'_>) {
        self.count_event(source, e, None, &mut EventHandles::default());
    }

    /// Counts `e` through the series in `handles` (looked up and kept
    /// there on first use) and, given its time, marks it as the source's
    /// latest error and its window. A window already marked for a series
    /// in this block is not marked again: inserting it twice changes
    /// nothing.
    fn count_event(
        &self,
        source: &str,
        e: &Event<'_>,
        error_time: Option<f64>,
        handles: &mut EventHandles,
    ) {
        let logged = e.errno.as_deref().unwrap_or("");
        let errno = self.bounded_errno(source, e.errname, logged, true);
        let at = handles
            .0
            .iter()
            .position(|h| h.op == e.op && h.errname == e.errname && h.errno == errno);
        let at = match at {
            Some(i) => i,
            None => {
                let h = SeriesHandles {
                    op: e.op,
                    errname: e.errname,
                    errno: errno.to_string(),
                    count: self.socket_errors.with_label_values(&[
                        source,
                        e.op.as_str(),
                        errno,
                        e.errname.as_str(),
                    ]),
                    last_error: None,
                    window: None,
                };
                if handles.0.len() == EventHandles::MAX {
                    handles.0.remove(0);
                }
                handles.0.push(h);
                handles.0.len() - 1
            }
        };
        let h = &mut handles.0[at];
        h.count.inc();
        if let Some(t) = error_time {
            let last = h.last_error.get_or_insert_with(|| {
                self.last_error
                    .with_label_values(&[source, e.op.as_str(), e.errname.as_str()])
            });
            raise(last, t);
            let index = self.window_of(t);
            if h.window != Some(index) {
                self.mark_window(source, e.op.as_str(), e.errname.as_str(), index);
                h.window = Some(index);
            }
        }
    }

    /// The `errno` label for a number logged with `errname`. The number the
    /// tables give that name in some numbering is one of a finite set; any
    /// other (a gateway's own code, a number that disagrees with its text,
    /// a user rule's capture) is kept up to
    /// [`MAX_UNKNOWN_ERRNOS_PER_SOURCE`] distinct values per source and
    /// beyond that, or when it is not a plain number, becomes `other`
    /// (counted in `gateway_socket_errors_collapsed_total` when `count`).
    fn bounded_errno<'a>(
        &self,
        source: &str,
        errname: Errname,
        errno: &'a str,
        count: bool,
    ) -> &'a str {
        if errno.is_empty() || is_table_number(errno, errname) {
            return errno;
        }
        let collapse = || {
            if count {
                self.collapsed.with_label_values(&[source]).inc();
            }
            "other"
        };
        if !is_plain_number(errno) {
            return collapse();
        }
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
            collapse()
        }
    }

    /// Makes a socket-error series exist at 0, so the first real error is
    /// an increase Prometheus can see.
    pub fn touch_socket_error(&self, source: &str, op: &str, errno: &str, errname: &str) {
        self.socket_errors
            .with_label_values(&[source, op, errno, errname]);
    }

    /// Makes the series of a live source exist: counters at 0, `up` at 0
    /// until the first pass, the last-line time at `now`. Rotation kinds
    /// and the file count only for sources that have them.
    pub fn touch_live_source(
        &self,
        source: &str,
        kinds: &[&str],
        reasons: &[&str],
        counts_files: bool,
        now: f64,
    ) {
        self.touch_source(source);
        for kind in kinds {
            self.rotations.with_label_values(&[source, kind]);
        }
        for reason in reasons {
            self.read_errors.with_label_values(&[source, reason]);
        }
        if counts_files {
            self.files.with_label_values(&[source]).set(0);
            self.files_unheld.with_label_values(&[source]).set(0);
        }
        self.up.with_label_values(&[source]).set(0);
        self.last_line.with_label_values(&[source]).set(now);
    }

    /// The latest time of an error: lines of a rotated file read after
    /// newer ones never move it back. The error's window is remembered for
    /// [`LogMetrics::refresh_windows`].
    pub fn mark_error_time(&self, source: &str, op: &str, errname: &str, at: f64) {
        raise(
            &self.last_error.with_label_values(&[source, op, errname]),
            at,
        );
        self.mark_window(source, op, errname, self.window_of(at));
    }

    fn window_of(&self, at: f64) -> i64 {
        let size = self.window_seconds.load(Ordering::Relaxed) as f64;
        (at / size).floor() as i64
    }

    fn mark_window(&self, source: &str, op: &str, errname: &str, index: i64) {
        let size = self.window_seconds.load(Ordering::Relaxed) as f64;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let set = entry(entry(entry(&mut windows, source), op), errname);
        set.insert(index);
        // Bounded whatever the times: a day's windows and a little more.
        let keep = (86_400.0 / size).ceil() as usize + 2;
        while set.len() > keep {
            set.pop_first();
        }
    }

    /// The length of the windows `gateway_socket_error_windows` counts;
    /// set it as the rules' `gateway:config:frequent_window_seconds`.
    pub fn set_error_window(&self, seconds: u64) {
        self.window_seconds.store(seconds.max(1), Ordering::Relaxed);
    }

    /// Sets `gateway_socket_error_windows` for `now`: windows that end
    /// within the last 24 hours.
    pub fn refresh_windows(&self, now: f64) {
        let size = self.window_seconds.load(Ordering::Relaxed) as f64;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        for (source, ops) in windows.iter_mut() {
            for (op, names) in ops.iter_mut() {
                for (errname, set) in names.iter_mut() {
                    set.retain(|w| (*w + 1) as f64 * size > now - 86_400.0);
                    self.error_windows
                        .with_label_values(&[source.as_str(), op.as_str(), errname.as_str()])
                        .set(set.len() as f64);
                }
            }
        }
    }

    pub fn mark_line_time(&self, source: &str, now: f64) {
        self.last_line.with_label_values(&[source]).set(now);
    }

    pub fn record_rotation(&self, source: &str, kind: &str) {
        self.rotations.with_label_values(&[source, kind]).inc();
    }

    pub fn record_malformed(&self, source: &str, reason: &str) {
        self.malformed.with_label_values(&[source, reason]).inc();
    }

    /// Makes the malformed-frame series of a syslog source exist at 0.
    pub fn touch_malformed(&self, source: &str, reasons: &[&str]) {
        for reason in reasons {
            self.malformed.with_label_values(&[source, reason]);
        }
    }

    pub fn record_read_error(&self, source: &str, reason: &str) {
        self.read_errors.with_label_values(&[source, reason]).inc();
    }

    pub fn set_status(&self, source: &str, status: &crate::source::Status) {
        if let Some(files) = status.files {
            self.files.with_label_values(&[source]).set(files as i64);
        }
        if let Some(unheld) = status.files_unheld {
            self.files_unheld
                .with_label_values(&[source])
                .set(unheld as i64);
        }
        self.up
            .with_label_values(&[source])
            .set(i64::from(status.up));
    }

    /// The descriptor budget of the file sources, for the record.
    pub fn set_descriptor_budget(&self, limit: usize) {
        self.descriptor_budget
            .with_label_values::<&str>(&[])
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// The series that must survive a restart, grouped by source: every
    /// persisted family.
    pub fn snapshot(&self) -> Counters {
        let mut out: Counters = HashMap::new();
        for family in self.registry.gather() {
            let name = family.name();
            if !FAMILIES.iter().any(|f| f.persisted && f.name == name) {
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
                out.entry(source).or_default().push(SeriesValue {
                    name: name.to_string(),
                    labels,
                    value,
                });
            }
        }
        out
    }

    /// Adds a persisted series of `source` back, if it passes what a live
    /// series must: the family's labels exactly, values from the closed
    /// sets (op, errname, rotation kind, read-error reason), the errno
    /// bound, and a value a counter can hold exactly (an integer in
    /// 0..2^53) or a timestamp not in the future. A series that does not
    /// is refused, with the reason.
    pub fn restore(&self, source: &str, v: &SeriesValue) -> Result<(), RestoreRefused> {
        let Some((family, handle)) = self
            .restorable
            .iter()
            .find(|(f, _)| f.name == v.name)
            .map(|(f, h)| (*f, h))
        else {
            return Err(RestoreRefused::Family);
        };
        let names_match = v.labels.len() == family.labels.len()
            && family.labels.iter().all(|l| v.labels.contains_key(*l));
        if !names_match {
            return Err(RestoreRefused::Labels);
        }
        let mut labels: HashMap<&str, &str> = HashMap::new();
        for (k, value) in &v.labels {
            let ok = match k.as_str() {
                "source" => value == source,
                "op" => Op::parse(value).is_some_and(|o| o.as_str() == value),
                "errname" => known_errname(value).is_some(),
                "kind" => RotationKind::ALL.iter().any(|r| r.as_str() == value),
                "reason" if family.name == SYSLOG_MALFORMED.name => {
                    Malformed::ALL.iter().any(|r| r.as_str() == value)
                }
                "reason" => ReadErrorReason::ALL.iter().any(|r| r.as_str() == value),
                "errno" => true,
                _ => false,
            };
            if !ok {
                return Err(RestoreRefused::Labels);
            }
            labels.insert(k.as_str(), value.as_str());
        }
        if let (Some(errno), Some(errname)) = (labels.get("errno").copied(), labels.get("errname"))
        {
            let errname = known_errname(errname).ok_or(RestoreRefused::Labels)?;
            let bounded = if errno == "other" {
                errno
            } else {
                self.bounded_errno(source, errname, errno, false)
            };
            labels.insert("errno", bounded);
        }
        match handle {
            Restorable::Gauge(g) => {
                // A last-error time: never before 1970, never far ahead.
                let latest = crate::clock::unix_now() + MAX_FUTURE_SKEW_SECONDS;
                if !(v.value.is_finite() && (0.0..=latest).contains(&v.value)) {
                    return Err(RestoreRefused::Value);
                }
                let g = g
                    .get_metric_with(&labels)
                    .map_err(|_| RestoreRefused::Labels)?;
                g.set(v.value.max(g.get()));
            }
            Restorable::Counter(c) => {
                if !(v.value.is_finite()
                    && v.value.fract() == 0.0
                    && (0.0..MAX_EXACT).contains(&v.value))
                {
                    return Err(RestoreRefused::Value);
                }
                let c = c
                    .get_metric_with(&labels)
                    .map_err(|_| RestoreRefused::Labels)?;
                c.inc_by(v.value as u64);
            }
        }
        Ok(())
    }

    /// Socket errors summed by errname over every other label.
    pub fn errname_totals(&self) -> Vec<(String, u64)> {
        let mut totals: HashMap<String, u64> = HashMap::new();
        for family in self.registry.gather() {
            if family.name() != SOCKET_ERRORS.name {
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

    /// When each source last counted a socket error (any op and name),
    /// restored values included; sources that never did are absent.
    pub fn last_error_times(&self) -> HashMap<String, f64> {
        let mut out: HashMap<String, f64> = HashMap::new();
        for family in self.registry.gather() {
            if family.name() != LAST_ERROR.name {
                continue;
            }
            for m in family.get_metric() {
                let Some(source) = m.get_label().iter().find(|l| l.name() == "source") else {
                    continue;
                };
                let at = m.get_gauge().get_value();
                let e = out.entry(source.value().to_string()).or_insert(at);
                *e = e.max(at);
            }
        }
        out
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

/// Error windows by source, op and errname.
type Windows = HashMap<String, HashMap<String, HashMap<String, std::collections::BTreeSet<i64>>>>;

/// `map[key]`, inserted empty when missing; allocates the key only then.
fn entry<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("just inserted")
}

/// Moves a latest-time gauge to `at`, never back: lines of a rotated file
/// read after newer ones must not lower it.
fn raise(g: &prometheus::Gauge, at: f64) {
    if at > g.get() {
        g.set(at);
    }
}

/// The series one block's events were counted in, most recent last.
#[derive(Default)]
struct EventHandles(Vec<SeriesHandles>);

impl EventHandles {
    /// A block rarely holds more distinct errors; beyond, the oldest go.
    const MAX: usize = 16;
}

struct SeriesHandles {
    op: Op,
    errname: Errname,
    errno: String,
    count: prometheus::IntCounter,
    /// Looked up at the first event with a time: a series that never had
    /// one must not exist (at 0, it would read as an error in 1970, and
    /// [`LogMetrics::last_error_times`] would list its source).
    last_error: Option<prometheus::Gauge>,
    /// The last error window marked for these labels in this block.
    window: Option<i64>,
}

/// Turns blocks of lines into counts: the one place where that happens,
/// for the live pipeline and `scan` alike. Holds a source's repeat filter,
/// whose state spans blocks, and, when times are wanted, its
/// [`LineClock`].
pub struct BlockCounter<'a> {
    classifier: &'a Classifier,
    repeats: RepeatFilter,
    target: Option<(&'a LogMetrics, &'a str)>,
    times: Option<LineClock>,
    /// The reading time of a `scan` (one for the whole scan, so line times
    /// do not depend on how fast it reads).
    scan_started: f64,
}

impl<'a> BlockCounter<'a> {
    /// Counts into `target` (metrics and the source name), or only into
    /// what the caller's `each` does.
    pub fn new(classifier: &'a Classifier, target: Option<(&'a LogMetrics, &'a str)>) -> Self {
        BlockCounter {
            classifier,
            repeats: RepeatFilter::default(),
            target,
            times: None,
            scan_started: crate::clock::unix_now(),
        }
    }

    /// The reading time a `scan` gives lines without a time of their own
    /// (default: when the counter was made).
    #[must_use]
    pub fn reading_at(mut self, t: f64) -> Self {
        self.scan_started = t;
        self
    }

    /// Takes each counted line's time from the line itself (zone-less
    /// times in `zone`): the last-error time then is the gateway's, and
    /// `each` gets it. Only counted lines pay for it.
    #[must_use]
    pub fn with_line_times(mut self, zone: Zone) -> Self {
        self.times = Some(LineClock::new(zone));
        self
    }

    /// Counts `block` (whole lines) and `skipped` lines the framer dropped
    /// as oversize before it. `now`, when given, is the time the lines
    /// arrived (the live exporter; a `scan` has no meaningful "now").
    /// `each` sees every verdict after the repeat filter, with its line
    /// and, for events when line times are on, the line's time. Returns
    /// the lines and oversize lines, the skipped ones included.
    pub fn count(
        &mut self,
        block: &[u8],
        skipped: u64,
        now: Option<f64>,
        mut each: impl FnMut(&Verdict<'_>, &[u8], Option<f64>),
    ) -> BlockStats {
        let (repeats, target, times) = (&mut self.repeats, self.target, &mut self.times);
        let mut stats = BlockStats::default();
        if !block.is_empty() {
            let reference = now.unwrap_or(self.scan_started);
            let mut handles = EventHandles::default();
            stats = self.classifier.scan_block(block, |v, line| {
                let v = repeats.apply(v);
                let line_time = match (&v, times.as_mut()) {
                    (Verdict::Event(_), Some(clock)) => Some(clock.time_of(line, reference)),
                    _ => None,
                };
                if let Some((m, source)) = target {
                    // The gateway's time when the line says it, else the
                    // reading's.
                    m.record_verdict(source, &v, line_time.or(now), &mut handles);
                }
                each(&v, line, line_time);
            });
            if let Some((m, source)) = target {
                m.add_block(source, stats);
            }
        }
        if let Some((m, source)) = target {
            if skipped > 0 {
                m.add_oversize_skipped(source, skipped);
            }
            if let Some(now) = now {
                if stats.lines + skipped > 0 {
                    m.mark_line_time(source, now);
                }
            }
        }
        BlockStats {
            lines: stats.lines + skipped,
            oversize: stats.oversize + skipped,
        }
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
                errno: Some(format!("{}", 1000 + i).into()),
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

    #[test]
    fn an_event_without_a_time_sets_no_last_error() {
        let m = LogMetrics::new();
        let e = Event {
            op: Op::Write,
            errno: Some("57".into()),
            errname: Errname::UNKNOWN,
            dialect: Dialect::Vendor,
            rule: "t",
            witness: None,
        };
        m.record_event("gw", &e);
        assert!(m.last_error_times().is_empty());
        assert!(!m.render().contains(LAST_ERROR.name));
    }

    #[test]
    fn last_error_time_is_the_latest_of_a_source() {
        let m = LogMetrics::new();
        m.mark_error_time("a", "write", "EPIPE", 10.0);
        m.mark_error_time("a", "read", "ECONNRESET", 30.0);
        m.mark_error_time("b", "write", "EPIPE", 20.0);
        let t = m.last_error_times();
        assert_eq!(t.get("a"), Some(&30.0));
        assert_eq!(t.get("b"), Some(&20.0));
        assert_eq!(t.get("c"), None);
    }
}
