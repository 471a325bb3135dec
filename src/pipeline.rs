//! The live pipeline: one thread per source runs follower → classifier →
//! repeat filter → counters, and checkpoints make the counts exact across
//! restarts.
//!
//! This module owns the counters while the exporter runs and hands the HTTP
//! layer an [`Exposition`] that can only read them. Each source's thread
//! blocks only on its own files.
//!
//! **Exactly once.** A source thread counts a block of lines and records the
//! file's new mark under a shared (read) lock; a checkpoint takes the write
//! lock, so it captures counts and marks of the same instant. When a state
//! directory is configured, every scrape is answered only after the values
//! it serves were persisted: Prometheus reads any decrease as a counter
//! reset, so a restart must never restore a value older than one already
//! served. Checkpoints are also written every few seconds and at shutdown.
//!
//! ```no_run
//! use gateway_exporter::pipeline::{Pipeline, PipelineConfig, SourceSpec};
//! use gateway_exporter::source::follow::FollowConfig;
//! let cfg = PipelineConfig::new(vec![SourceSpec::new("gw", FollowConfig::new(vec!["/var/log/gw.log".into()]))]);
//! let pipeline = Pipeline::start(cfg).unwrap();
//! println!("{}", pipeline.metrics().render());
//! pipeline.shutdown();
//! ```

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge, Opts};

use crate::checkpoint::{self, SourceState, State};
use crate::classify::{BuildError, Classifier, Op, Profile, RepeatFilter, UserRule};
use crate::errno::{Dialect, Errname, table};
use crate::http::Exposition;
use crate::metrics::{LogMetrics, render_registry, unix_now};
use crate::source::follow::{
    FileId, FileMark, FollowConfig, Follower, ReadErrorReason, RotationKind, Sink,
};

/// The errnames whose write-error series exist from the start by default:
/// the failures KB Q100707's advice is about, and their usual companions.
pub const DEFAULT_WATCH_ERRNAMES: &[&str] = &[
    "ENOTCONN",
    "EPIPE",
    "ECONNRESET",
    "ETIMEDOUT",
    "ECONNREFUSED",
];

/// Marks kept per source in a checkpoint: the files being read and the
/// most recently finished ones (a rotated file must still be recognised
/// after a restart, so it is not read again).
const MARKS_KEPT: usize = 256;

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
    /// Where checkpoints live; `None` turns them off.
    pub state_dir: Option<PathBuf>,
    /// How often a checkpoint is written besides scrapes and shutdown.
    pub checkpoint_interval: Duration,
    /// Socket statistics collectors to register beside the counters.
    pub sockstat: Option<crate::sockstat::SockstatConfig>,
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
            state_dir: None,
            checkpoint_interval: Duration::from_secs(5),
            sockstat: None,
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
    #[error("registering the socket statistics collectors: {0}")]
    Sockstat(#[source] prometheus::Error),
}

/// A file mark with the order in which it was last updated.
struct Held {
    mark: FileMark,
    seq: u64,
}

struct Shared {
    metrics: LogMetrics,
    names: Vec<String>,
    /// Per source: the latest mark of every file, by identity.
    marks: Vec<Mutex<HashMap<FileId, Held>>>,
    /// Per source: the start of its last complete pass (f64 bits).
    covered: Vec<AtomicU64>,
    seq: AtomicU64,
    /// `seq` as of the last checkpoint written: when nothing was counted
    /// since, a scrape need not write one.
    persisted_seq: AtomicU64,
    /// Readers: source threads counting a block. Writer: a checkpoint.
    commit: RwLock<()>,
    state_dir: Option<PathBuf>,
    checkpoint_ok: IntGauge,
    checkpoint_errors: IntCounterVec,
    checkpoint_failing: AtomicBool,
    started: AtomicUsize,
    stop: AtomicBool,
}

/// The running pipeline.
pub struct Pipeline {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
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

fn register_checkpoint_metrics(metrics: &LogMetrics) -> (IntGauge, IntCounterVec) {
    let ok = IntGauge::with_opts(Opts::new(
        "gateway_checkpoint_last_success_timestamp_seconds",
        "When the last checkpoint was written (Unix time); 0 when none has been.",
    ))
    .expect("valid metric");
    let errors = IntCounterVec::new(
        Opts::new(
            "gateway_checkpoint_errors_total",
            "Checkpoints that could not be loaded (op=load) or written (op=write).",
        ),
        &["op"],
    )
    .expect("valid metric");
    for op in ["load", "write"] {
        errors.with_label_values(&[op]);
    }
    let r = metrics.registry();
    let _ = r.register(Box::new(ok.clone()));
    let _ = r.register(Box::new(errors.clone()));
    (ok, errors)
}

impl Pipeline {
    /// Builds every source's classifier (failing before anything runs),
    /// restores the last checkpoint, creates the series that must exist
    /// from the start, and starts one thread per source.
    pub fn start(cfg: PipelineConfig) -> Result<Pipeline, PipelineError> {
        let metrics = LogMetrics::new();
        crate::metrics::register_build_info(metrics.registry());
        // The process collector reads /proc/self; where there is none it
        // only drops those series.
        let _ =
            metrics
                .registry()
                .register(Box::new(crate::sockstat::process::ProcessCollector::new(
                    "/proc",
                )));
        if let Some(sc) = &cfg.sockstat {
            crate::sockstat::register(metrics.registry(), sc).map_err(PipelineError::Sockstat)?;
        }
        let (checkpoint_ok, checkpoint_errors) = register_checkpoint_metrics(&metrics);
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
        let restored = match &cfg.state_dir {
            None => None,
            Some(dir) => match checkpoint::load(dir) {
                Ok(state) => state,
                Err(e) => {
                    checkpoint_errors.with_label_values(&["load"]).inc();
                    log::error!(err = e.to_string().as_str(); "cannot use the checkpoint; starting fresh");
                    None
                }
            },
        };
        let mut resume: Vec<Option<Vec<FileMark>>> = Vec::new();
        let mut covered = Vec::new();
        for s in &cfg.sources {
            // State of a source that is no longer configured is dropped:
            // the next checkpoint no longer carries it.
            let st = restored.as_ref().and_then(|st| st.sources.get(&s.name));
            if let Some(st) = st {
                for v in &st.counters {
                    metrics.restore(v);
                }
            }
            resume.push(st.map(|st| st.files.clone()));
            covered.push(AtomicU64::new(
                st.map_or(0.0, |st| st.covered_until).to_bits(),
            ));
        }
        if restored.is_some() {
            log::info!(sources = cfg.sources.len(); "resumed from checkpoint");
        }
        let shared = Arc::new(Shared {
            metrics,
            names: cfg.sources.iter().map(|s| s.name.clone()).collect(),
            marks: resume
                .iter()
                .map(|marks| {
                    let held = marks
                        .iter()
                        .flatten()
                        .map(|m| {
                            (
                                m.id(),
                                Held {
                                    mark: m.clone(),
                                    seq: 0,
                                },
                            )
                        })
                        .collect();
                    Mutex::new(held)
                })
                .collect(),
            covered,
            seq: AtomicU64::new(1),
            persisted_seq: AtomicU64::new(0),
            commit: RwLock::new(()),
            state_dir: cfg.state_dir.clone(),
            checkpoint_ok,
            checkpoint_errors,
            checkpoint_failing: AtomicBool::new(false),
            started: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        for (i, ((spec, classifier), marks)) in cfg
            .sources
            .into_iter()
            .zip(classifiers)
            .zip(resume)
            .enumerate()
        {
            let shared2 = Arc::clone(&shared);
            let name = spec.name.clone();
            let handle = std::thread::Builder::new()
                .name(format!("source-{name}"))
                .spawn(move || run_source(i, spec, classifier, marks, shared2))
                .map_err(|error| PipelineError::Thread {
                    source_name: name,
                    error,
                })?;
            threads.push(handle);
        }
        let checkpointer = shared.state_dir.as_ref().map(|_| {
            let shared2 = Arc::clone(&shared);
            let every = cfg.checkpoint_interval;
            std::thread::spawn(move || {
                let step = Duration::from_millis(100);
                let mut waited = Duration::ZERO;
                while !shared2.stop.load(Ordering::Acquire) {
                    std::thread::sleep(step);
                    waited += step;
                    if waited >= every {
                        waited = Duration::ZERO;
                        shared2.checkpoint_then(|| ());
                    }
                }
            })
        });
        Ok(Pipeline {
            shared,
            threads,
            checkpointer,
        })
    }

    pub fn metrics(&self) -> &LogMetrics {
        &self.shared.metrics
    }

    /// True once every source has made its first pass.
    pub fn ready(&self) -> bool {
        self.shared.started.load(Ordering::Acquire) >= self.shared.names.len()
    }

    /// What the HTTP layer may see.
    pub fn exposition(&self) -> Arc<dyn Exposition> {
        Arc::new(View(Arc::clone(&self.shared)))
    }

    /// Stops every source after its current pass, waits for them, and
    /// writes a last checkpoint.
    pub fn shutdown(self) {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(c) = self.checkpointer {
            let _ = c.join();
        }
        self.shared.checkpoint_then(|| ());
    }
}

impl Shared {
    /// Writes a checkpoint (when configured) and runs `then` while no
    /// source can count, so `then` sees exactly the persisted values.
    fn checkpoint_then<T>(&self, then: impl FnOnce() -> T) -> T {
        let _exclusive = self.commit.write().unwrap_or_else(|p| p.into_inner());
        let seq = self.seq.load(Ordering::Acquire);
        let unchanged = self.persisted_seq.load(Ordering::Acquire) == seq;
        if let (Some(dir), false) = (&self.state_dir, unchanged) {
            match checkpoint::store(dir, &self.state()) {
                Ok(()) => {
                    self.persisted_seq.store(seq, Ordering::Release);
                    self.checkpoint_ok.set(unix_now() as i64);
                    if self.checkpoint_failing.swap(false, Ordering::AcqRel) {
                        log::info!("checkpoints are written again");
                    }
                }
                Err(e) => {
                    self.checkpoint_errors.with_label_values(&["write"]).inc();
                    // Once per run of failures: a scrape each second must
                    // not flood the log with the same line.
                    if !self.checkpoint_failing.swap(true, Ordering::AcqRel) {
                        log::error!(err = e.to_string().as_str(); "cannot write checkpoint; counts will not survive a restart");
                    }
                }
            }
        }
        then()
    }

    fn state(&self) -> State {
        let mut counters = self.metrics.snapshot();
        let mut state = State {
            written_at: unix_now(),
            ..State::default()
        };
        for ((name, marks), covered) in self.names.iter().zip(&self.marks).zip(&self.covered) {
            let mut held = marks.lock().unwrap_or_else(|p| p.into_inner());
            if held.len() > MARKS_KEPT {
                let mut seqs: Vec<u64> = held.values().map(|h| h.seq).collect();
                seqs.sort_unstable();
                let cut = seqs[seqs.len() - MARKS_KEPT];
                held.retain(|_, h| h.seq >= cut);
            }
            state.sources.insert(
                name.clone(),
                SourceState {
                    files: held.values().map(|h| h.mark.clone()).collect(),
                    counters: counters.remove(name).unwrap_or_default(),
                    covered_until: f64::from_bits(covered.load(Ordering::Acquire)),
                },
            );
        }
        state
    }
}

struct View(Arc<Shared>);

impl Exposition for View {
    fn render_metrics(&self) -> String {
        let registry = self.0.metrics.registry();
        self.0.checkpoint_then(|| render_registry(registry))
    }

    fn errname_totals(&self) -> Vec<(String, u64)> {
        self.0.metrics.errname_totals()
    }

    fn ready(&self) -> bool {
        self.0.started.load(Ordering::Acquire) >= self.0.names.len()
    }
}

fn run_source(
    index: usize,
    spec: SourceSpec,
    classifier: Classifier,
    resume: Option<Vec<FileMark>>,
    shared: Arc<Shared>,
) {
    let covered = &shared.covered[index];
    let mut follower = match resume {
        Some(marks) => {
            let since = f64::from_bits(covered.load(Ordering::Acquire));
            Follower::resume(spec.follow.clone(), marks, since)
        }
        None => Follower::new(spec.follow.clone()),
    };
    let mut sink = PipelineSink {
        index,
        source: &spec.name,
        classifier: &classifier,
        shared: &shared,
        repeats: RepeatFilter::default(),
    };
    // A pass covers the files present when it started; only once it has
    // finished may a checkpoint say so.
    let pass = |follower: &mut Follower, sink: &mut PipelineSink<'_>| {
        let began = unix_now();
        follower.poll_once(sink);
        covered.store(began.to_bits(), Ordering::Release);
    };
    pass(&mut follower, &mut sink);
    shared.started.fetch_add(1, Ordering::AcqRel);
    log::info!(source = spec.name.as_str(), files = follower.files(); "following");
    while !shared.stop.load(Ordering::Acquire) {
        follower.wait();
        pass(&mut follower, &mut sink);
    }
}

struct PipelineSink<'a> {
    index: usize,
    source: &'a str,
    classifier: &'a Classifier,
    shared: &'a Shared,
    repeats: RepeatFilter,
}

impl Sink for PipelineSink<'_> {
    fn lines(&mut self, file: &FileMark, block: &[u8], oversize: u64) {
        let now = unix_now();
        let (source, metrics, repeats) = (self.source, &self.shared.metrics, &mut self.repeats);
        // Counting and recording the mark must be one step for checkpoints.
        let _shared = self.shared.commit.read().unwrap_or_else(|p| p.into_inner());
        if !block.is_empty() {
            let stats = self.classifier.scan_block(block, |v, _| {
                metrics.record_verdict(source, &repeats.apply(v), Some(now));
            });
            metrics.add_block(source, stats);
            if stats.lines > 0 {
                metrics.mark_line_time(source, now);
            }
        }
        if oversize > 0 {
            metrics.add_oversize_skipped(source, oversize);
            metrics.mark_line_time(source, now);
        }
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let mut marks = self.shared.marks[self.index]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Bytes are counted as the committed offset advances, so they too
        // are exact across restarts.
        if let Some(prev) = marks.get(&file.id()) {
            metrics.add_bytes(source, file.offset.saturating_sub(prev.mark.offset));
        }
        marks.insert(
            file.id(),
            Held {
                mark: file.clone(),
                seq,
            },
        );
    }

    fn rotated(&mut self, path: &Path, kind: RotationKind) {
        {
            // Every served counter must be one a checkpoint has persisted.
            let _shared = self.shared.commit.read().unwrap_or_else(|p| p.into_inner());
            self.shared
                .metrics
                .record_rotation(self.source, kind.as_str());
            self.shared.seq.fetch_add(1, Ordering::Relaxed);
        }
        log::info!(source = self.source, path = path.display().to_string().as_str(), kind = kind.as_str(); "log file rotated");
    }

    fn read_error(&mut self, what: &str, reason: ReadErrorReason, err: &io::Error, first: bool) {
        {
            let _shared = self.shared.commit.read().unwrap_or_else(|p| p.into_inner());
            self.shared
                .metrics
                .record_read_error(self.source, reason.as_str());
            self.shared.seq.fetch_add(1, Ordering::Relaxed);
        }
        if first {
            log::warn!(source = self.source, path = what, reason = reason.as_str(), err = err.to_string().as_str(); "cannot read log; retrying");
        }
    }

    fn status(&mut self, files: usize, up: bool) {
        self.shared.metrics.set_status(self.source, files, up);
    }
}
