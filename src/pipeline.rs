//! The live pipeline: one thread per source runs follower → classifier →
//! repeat filter → counters.
//!
//! This module owns the counters while the exporter runs and hands the HTTP
//! layer an [`Exposition`] that can only read them. Each source's thread
//! blocks only on its own files; scraping never waits for it (the counters
//! are atomics), and it never waits for a scrape.
//!
//! ```no_run
//! use gateway_exporter::pipeline::{Pipeline, PipelineConfig, SourceSpec};
//! use gateway_exporter::source::follow::FollowConfig;
//! let cfg = PipelineConfig::new(vec![SourceSpec::new("gw", FollowConfig::new(vec!["/var/log/gw.log".into()]))]);
//! let pipeline = Pipeline::start(cfg).unwrap();
//! println!("{}", pipeline.metrics().render());
//! pipeline.shutdown();
//! ```

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crate::classify::{BuildError, Classifier, Op, Profile, RepeatFilter, UserRule, Verdict};
use crate::errno::{Dialect, Errname, table};
use crate::http::Exposition;
use crate::metrics::{LogMetrics, render_registry, unix_now};
use crate::source::follow::{FollowConfig, Follower, ReadErrorReason, RotationKind, Sink};

/// The errnames whose write-error series exist from the start by default:
/// the failures KB Q100707's advice is about, and their usual companions.
pub const DEFAULT_WATCH_ERRNAMES: &[&str] = &[
    "ENOTCONN",
    "EPIPE",
    "ECONNRESET",
    "ETIMEDOUT",
    "ECONNREFUSED",
];

/// One configured source.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    pub follow: FollowConfig,
    pub profile: Profile,
    pub dialect: Option<Dialect>,
}

impl SourceSpec {
    pub fn new(name: &str, follow: FollowConfig) -> SourceSpec {
        SourceSpec {
            name: name.to_string(),
            follow,
            profile: Profile::Auto,
            dialect: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub sources: Vec<SourceSpec>,
    pub user_rules: Vec<UserRule>,
    pub watch_errnames: Vec<Errname>,
}

impl PipelineConfig {
    pub fn new(sources: Vec<SourceSpec>) -> PipelineConfig {
        PipelineConfig {
            sources,
            user_rules: Vec::new(),
            watch_errnames: DEFAULT_WATCH_ERRNAMES
                .iter()
                .filter_map(|n| table().by_name(n))
                .collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("source {source_name:?}: {error}")]
    Classifier {
        source_name: String,
        #[source]
        error: BuildError,
    },
    #[error("starting the thread for source {source_name:?}: {error}")]
    Thread {
        source_name: String,
        #[source]
        error: io::Error,
    },
}

struct Shared {
    metrics: LogMetrics,
    started: AtomicUsize,
    sources: usize,
    stop: AtomicBool,
}

/// The running pipeline.
pub struct Pipeline {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// The errno a source's numbering would log for `name`: empty for formats
/// that log only text.
fn watch_errno(profile: Profile, dialect: Option<Dialect>, name: Errname) -> String {
    if !profile.logs_numbers() {
        return String::new();
    }
    let d = dialect.unwrap_or(profile.default_dialect());
    table()
        .number(d, name)
        .map_or_else(String::new, |n| n.to_string())
}

impl Pipeline {
    /// Builds every source's classifier (failing before anything runs),
    /// creates the series that must exist from the start, and starts one
    /// thread per source.
    pub fn start(cfg: PipelineConfig) -> Result<Pipeline, PipelineError> {
        let metrics = LogMetrics::new();
        crate::metrics::register_build_info(metrics.registry());
        // The process collector reads /proc/self; registering it twice or on
        // a platform without /proc would only drop those series.
        let _ =
            metrics
                .registry()
                .register(Box::new(crate::sockstat::process::ProcessCollector::new(
                    "/proc",
                )));
        let mut classifiers = Vec::new();
        let now = unix_now();
        let kinds: Vec<&str> = RotationKind::ALL.iter().map(|k| k.as_str()).collect();
        let reasons: Vec<&str> = ReadErrorReason::ALL.iter().map(|r| r.as_str()).collect();
        for s in &cfg.sources {
            let c = Classifier::builder()
                .profile(s.profile)
                .dialect(s.dialect)
                .user_rules(cfg.user_rules.clone())
                .max_line_bytes(s.follow.max_line_bytes)
                .build()
                .map_err(|error| PipelineError::Classifier {
                    source_name: s.name.clone(),
                    error,
                })?;
            classifiers.push(c);
            metrics.touch_followed_source(&s.name, &kinds, &reasons, now);
            for name in &cfg.watch_errnames {
                let errno = watch_errno(s.profile, s.dialect, *name);
                metrics.touch_socket_error(&s.name, Op::Write.as_str(), &errno, name.as_str());
            }
        }
        let shared = Arc::new(Shared {
            metrics,
            started: AtomicUsize::new(0),
            sources: cfg.sources.len(),
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        for (spec, classifier) in cfg.sources.into_iter().zip(classifiers) {
            let shared2 = Arc::clone(&shared);
            let name = spec.name.clone();
            let handle = std::thread::Builder::new()
                .name(format!("source-{name}"))
                .spawn(move || run_source(spec, classifier, shared2))
                .map_err(|error| PipelineError::Thread {
                    source_name: name,
                    error,
                })?;
            threads.push(handle);
        }
        Ok(Pipeline { shared, threads })
    }

    pub fn metrics(&self) -> &LogMetrics {
        &self.shared.metrics
    }

    /// True once every source has made its first pass.
    pub fn ready(&self) -> bool {
        self.shared.started.load(Ordering::Acquire) >= self.shared.sources
    }

    /// What the HTTP layer may see.
    pub fn exposition(&self) -> Arc<dyn Exposition> {
        Arc::new(View(Arc::clone(&self.shared)))
    }

    /// Stops every source after its current pass and waits for them.
    pub fn shutdown(self) {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

struct View(Arc<Shared>);

impl Exposition for View {
    fn render_metrics(&self) -> String {
        render_registry(self.0.metrics.registry())
    }

    fn errname_totals(&self) -> Vec<(String, u64)> {
        self.0.metrics.errname_totals()
    }

    fn ready(&self) -> bool {
        self.0.started.load(Ordering::Acquire) >= self.0.sources
    }
}

fn run_source(spec: SourceSpec, classifier: Classifier, shared: Arc<Shared>) {
    let mut follower = Follower::new(spec.follow.clone());
    let mut sink = PipelineSink {
        source: &spec.name,
        classifier: &classifier,
        metrics: &shared.metrics,
        repeats: RepeatFilter::default(),
    };
    follower.poll_once(&mut sink);
    shared.started.fetch_add(1, Ordering::AcqRel);
    log::info!(source = spec.name.as_str(), files = follower.files(); "following");
    while !shared.stop.load(Ordering::Acquire) {
        follower.wait();
        follower.poll_once(&mut sink);
    }
}

struct PipelineSink<'a> {
    source: &'a str,
    classifier: &'a Classifier,
    metrics: &'a LogMetrics,
    repeats: RepeatFilter,
}

impl Sink for PipelineSink<'_> {
    fn lines(&mut self, _path: &Path, block: &[u8]) {
        let now = unix_now();
        let (source, metrics, repeats) = (self.source, self.metrics, &mut self.repeats);
        let stats = self
            .classifier
            .scan_block(block, |v, _| match repeats.apply(v) {
                Verdict::Event(e) => {
                    metrics.record_event(source, &e);
                    metrics.mark_error_time(source, e.op.as_str(), e.errname.as_str(), now);
                }
                Verdict::Repeat { .. } => metrics.record_repeat(source),
                Verdict::Unrecognized => metrics.record_unrecognized(source),
                Verdict::NoMatch => {}
            });
        metrics.add_block(source, stats);
        if stats.lines > 0 {
            metrics.mark_line_time(source, now);
        }
    }

    fn bytes(&mut self, _path: &Path, n: u64) {
        self.metrics.add_bytes(self.source, n);
    }

    fn oversize_skipped(&mut self, path: &Path, n: u64) {
        self.metrics.add_oversize_skipped(self.source, n);
        log::debug!(source = self.source, path = path.display().to_string().as_str(), lines = n; "skipped oversize lines");
    }

    fn rotated(&mut self, path: &Path, kind: RotationKind) {
        self.metrics.record_rotation(self.source, kind.as_str());
        log::info!(source = self.source, path = path.display().to_string().as_str(), kind = kind.as_str(); "log file rotated");
    }

    fn read_error(&mut self, what: &str, reason: ReadErrorReason, err: &io::Error, first: bool) {
        self.metrics.record_read_error(self.source, reason.as_str());
        if first {
            log::warn!(source = self.source, path = what, reason = reason.as_str(), err = err.to_string().as_str(); "cannot read log; retrying");
        }
    }

    fn status(&mut self, files: usize, up: bool) {
        self.metrics.set_status(self.source, files, up);
    }
}
