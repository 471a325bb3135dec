//! The live pipeline: one thread per source runs source → classifier →
//! repeat filter → counters, and the checkpoint journal makes the counts
//! exact across restarts.
//!
//! This module owns the counters while the exporter runs and hands out a
//! [`View`] that can only read them. It takes a list of boxed
//! [`Source`]s and knows nothing of what they read (files, sockets, a
//! journal); it knows nothing of HTTP either — `serve` adapts the view to
//! the server.
//!
//! **Exactly once.** A source thread counts a block of lines and records
//! its position under the journal's shared lock; a checkpoint takes the
//! lock exclusively, so it captures counts and positions of the same
//! instant. When a state directory is configured, every scrape is answered
//! only after the values it serves were persisted: Prometheus reads any
//! decrease as a counter reset, so a restart must never restore a value
//! older than one already served. Checkpoints are also written every few
//! seconds and at shutdown. Shutdown asks every source to stop at its next
//! block, so it never waits for a backlog.
//!
//! ```no_run
//! use gateway_exporter::classify::Classifier;
//! use gateway_exporter::metrics::LogMetrics;
//! use gateway_exporter::pipeline::{Pipeline, PipelineConfig, PipelineSource};
//! use gateway_exporter::source::file::{FollowConfig, Follower};
//! let source = PipelineSource {
//!     name: "gw".into(),
//!     identity: "file:/var/log/gw.log".into(),
//!     source: Box::new(Follower::new(FollowConfig::new(vec!["/var/log/gw.log".into()]))),
//!     classifier: Classifier::builder().build().unwrap(),
//!     watched: Vec::new(),
//! };
//! let pipeline = Pipeline::start(PipelineConfig::new(vec![source]), LogMetrics::new());
//! println!("{}", pipeline.view().render());
//! pipeline.shutdown();
//! ```

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::checkpoint::{self, Journal, Persisted, SourceKey, State};
use crate::classify::{Classifier, Op};
use crate::clock::unix_now;
use crate::errno::Errname;
use crate::metrics::{BlockCounter, LogMetrics, render_registry};
use crate::source::{Position, ReadErrorReason, RotationKind, Sink, Source, Status};
use crate::timestamp::Zone;

fn keys(cfg: &PipelineConfig) -> Vec<SourceKey> {
    cfg.sources
        .iter()
        .map(|s| SourceKey {
            name: s.name.clone(),
            identity: s.identity.clone(),
        })
        .collect()
}
use crate::status::{Board, ErrnameHistory, HISTORY_INTERVAL, History, SourceStatus};

/// One source, ready to run.
pub struct PipelineSource {
    pub name: String,
    /// What the source reads (`file:/var/log/gw.log`): a checkpoint of the
    /// same name written for other inputs is not applied.
    pub identity: String,
    pub source: Box<dyn Source>,
    pub classifier: Classifier,
    /// Write-error series that exist from the start (at 0): the errno as
    /// this source would log it (empty for text-only formats) and the name.
    pub watched: Vec<(String, Errname)>,
}

pub struct PipelineConfig {
    pub sources: Vec<PipelineSource>,
    /// Where checkpoints live; `None` turns them off.
    pub state_dir: Option<PathBuf>,
    /// How often a checkpoint is written besides scrapes and shutdown.
    pub checkpoint_interval: Duration,
    /// The zone of line times written without one (the host's).
    pub zone: Zone,
}

impl PipelineConfig {
    pub fn new(sources: Vec<PipelineSource>) -> PipelineConfig {
        PipelineConfig {
            sources,
            state_dir: None,
            checkpoint_interval: Duration::from_secs(5),
            zone: Zone::local(),
        }
    }
}

struct Shared {
    metrics: LogMetrics,
    journal: Journal,
    sources: usize,
    started: AtomicUsize,
    stop: Arc<AtomicBool>,
    zone: Zone,
    /// What the landing page shows of each source.
    board: Board,
    /// The watched errnames' totals over the last day.
    history: History,
}

/// The running pipeline.
pub struct Pipeline {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
    /// Samples the history; it reads the counters, never waits on them.
    sampler: JoinHandle<()>,
}

impl Pipeline {
    /// Restores the last checkpoint into `metrics`, creates the series that
    /// must exist from the start, and starts one thread per source.
    pub fn start(cfg: PipelineConfig, metrics: LogMetrics) -> Pipeline {
        let (journal, restored) = Journal::open(cfg.state_dir.clone(), keys(&cfg));
        Self::start_with(cfg, metrics, journal, restored)
    }

    /// As [`Pipeline::start`], resuming from the state a stopped pipeline
    /// handed over ([`Pipeline::stop`]) instead of the checkpoint file: a
    /// configuration reload. Sources that stay (same name, same inputs)
    /// keep their counts and positions exactly; the state of sources no
    /// longer configured, or configured with other inputs, is dropped.
    pub fn resume(cfg: PipelineConfig, metrics: LogMetrics, handed_over: State) -> Pipeline {
        let (journal, restored) =
            Journal::from_state(cfg.state_dir.clone(), keys(&cfg), handed_over);
        Self::start_with(cfg, metrics, journal, restored)
    }

    fn start_with(
        cfg: PipelineConfig,
        metrics: LogMetrics,
        journal: Journal,
        restored: checkpoint::Restored,
    ) -> Pipeline {
        if journal.enabled() {
            metrics.touch_checkpoints();
        }
        if let Some((e, kept)) = &restored.error {
            metrics.record_checkpoint_error("load");
            let kept = kept
                .as_ref()
                .map_or_else(String::new, |k| k.display().to_string());
            log::error!(err = e.to_string().as_str(), kept_as = kept.as_str(); "cannot use the checkpoint; starting fresh");
        }
        for name in &restored.mismatched {
            log::warn!(source = name.as_str(); "the checkpoint's state for this source was written for other inputs; not applied");
        }
        let now = unix_now();
        let reasons: Vec<&str> = ReadErrorReason::ALL.iter().map(|r| r.as_str()).collect();
        for s in &cfg.sources {
            let kinds: Vec<&str> = s
                .source
                .rotation_kinds()
                .iter()
                .map(|k| k.as_str())
                .collect();
            let counts_files = s.source.kind() == "file";
            metrics.touch_live_source(&s.name, &kinds, &reasons, counts_files, now);
            metrics.touch_malformed(&s.name, s.source.malformed_reasons());
            for (errno, name) in &s.watched {
                metrics.touch_socket_error(&s.name, Op::Write.as_str(), errno, name.as_str());
            }
        }
        let mut refused = 0usize;
        for (src, st) in cfg.sources.iter().zip(&restored.sources) {
            for v in st.iter().flat_map(|s| &s.counters) {
                if metrics.restore(&src.name, v).is_err() {
                    refused += 1;
                }
            }
        }
        if refused > 0 {
            log::warn!(series = refused; "checkpoint series outside the label bounds or value range were not restored");
        }
        if restored.sources.iter().any(Option::is_some) {
            log::info!(sources = cfg.sources.len(); "resumed from checkpoint");
        }
        let board = Board::new(
            &cfg.sources
                .iter()
                .map(|s| (s.name.clone(), s.source.kind().to_string()))
                .collect::<Vec<_>>(),
        );
        let history = History::new(
            cfg.sources
                .iter()
                .flat_map(|s| s.watched.iter().map(|(_, n)| n.as_str().to_string()))
                .collect(),
        );
        // The restored totals are the baseline: what a restart brings back
        // is not an increase of this run.
        history.record(unix_now(), &metrics.errname_totals());
        let shared = Arc::new(Shared {
            metrics,
            journal,
            sources: cfg.sources.len(),
            started: AtomicUsize::new(0),
            stop: Arc::new(AtomicBool::new(false)),
            zone: cfg.zone.clone(),
            board,
            history,
        });
        let mut threads = Vec::new();
        for (index, (src, resume)) in cfg.sources.into_iter().zip(restored.sources).enumerate() {
            let shared2 = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("source-{}", src.name))
                .spawn(move || run_source(index, src, resume, shared2))
                .expect("spawning a source thread");
            threads.push(thread);
        }
        let checkpointer = shared.journal.enabled().then(|| {
            let shared2 = Arc::clone(&shared);
            checkpoint::every(
                cfg.checkpoint_interval,
                Arc::clone(&shared.stop),
                move || {
                    shared2.checkpoint_then(|| ());
                },
            )
        });
        let sampler = {
            let shared2 = Arc::clone(&shared);
            checkpoint::every(HISTORY_INTERVAL, Arc::clone(&shared.stop), move || {
                shared2
                    .history
                    .record(unix_now(), &shared2.metrics.errname_totals());
            })
        };
        Pipeline {
            shared,
            threads,
            checkpointer,
            sampler,
        }
    }

    pub fn metrics(&self) -> &LogMetrics {
        &self.shared.metrics
    }

    /// What the outside may see.
    pub fn view(&self) -> View {
        View(Arc::clone(&self.shared))
    }

    /// Stops every source at its next block, waits for them, and writes a
    /// last checkpoint.
    pub fn shutdown(self) {
        let _ = self.stop();
    }

    /// As [`Pipeline::shutdown`], and hands over where every source
    /// stopped and what it counted, for [`Pipeline::resume`].
    pub fn stop(self) -> State {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(c) = self.checkpointer {
            let _ = c.join();
        }
        let _ = self.sampler.join();
        self.shared.checkpoint_then(|| ());
        // Nothing counts any more: this is exactly what was just persisted.
        self.shared
            .journal
            .final_state(|| self.shared.metrics.snapshot())
    }
}

impl Shared {
    /// Writes a checkpoint (when configured) and runs `then` while no
    /// source can count, so `then` sees exactly the persisted values.
    fn checkpoint_then<T>(&self, then: impl FnOnce() -> T) -> T {
        self.journal.persist_then(
            || self.metrics.snapshot(),
            |done| match done {
                Persisted::Written { recovered } => {
                    self.metrics.record_checkpoint_success(unix_now());
                    if recovered {
                        log::info!("checkpoints are written again");
                    }
                }
                // Logged once per run of failures: a scrape each second
                // must not flood the log with the same line.
                Persisted::Failed { error, first } => {
                    self.metrics.record_checkpoint_error("write");
                    if first {
                        log::error!(err = error.to_string().as_str(); "cannot write checkpoint; counts will not survive a restart");
                    }
                }
                Persisted::Off | Persisted::Unchanged => {}
            },
            then,
        )
    }
}

/// A read-only handle on the running pipeline.
#[derive(Clone)]
pub struct View(Arc<Shared>);

impl View {
    /// The exposition of every family, once what it shows is persisted.
    pub fn render(&self) -> String {
        self.0.checkpoint_then(|| {
            self.0.metrics.refresh_windows(unix_now());
            render_registry(self.0.metrics.registry())
        })
    }

    /// The counters, read-only in spirit: for carrying what a checkpoint
    /// does not hold over a reload.
    pub fn metrics(&self) -> &LogMetrics {
        &self.0.metrics
    }

    /// Socket errors summed by errname.
    pub fn errname_totals(&self) -> Vec<(String, u64)> {
        self.0.metrics.errname_totals()
    }

    /// True once every source has made its first pass.
    pub fn ready(&self) -> bool {
        self.0.started.load(Ordering::Acquire) >= self.0.sources
    }

    /// Every source's latest state, in the configured order.
    pub fn source_statuses(&self) -> Vec<SourceStatus> {
        let last_errors = self.0.metrics.last_error_times();
        let mut statuses = self.0.board.snapshot();
        for s in &mut statuses {
            s.last_error = last_errors.get(&s.name).copied();
        }
        statuses
    }

    /// The watched errnames over the last day, the totals now last.
    pub fn errname_history(&self) -> Vec<ErrnameHistory> {
        self.0
            .history
            .series(unix_now(), &self.0.metrics.errname_totals())
    }
}

fn run_source(
    index: usize,
    src: PipelineSource,
    resume: Option<checkpoint::SourceState>,
    shared: Arc<Shared>,
) {
    let PipelineSource {
        name,
        mut source,
        classifier,
        ..
    } = src;
    if let Some(st) = resume {
        source.resume(st.positions, st.covered_until);
    }
    let mut sink = PipelineSink {
        index,
        name: &name,
        unheld: false,
        counter: BlockCounter::new(&classifier, Some((&shared.metrics, &name)))
            .with_line_times(shared.zone.clone()),
        shared: &shared,
    };
    // A pass covers what was there when it started; only once it has
    // finished may a checkpoint say so.
    let pass = |source: &mut Box<dyn Source>, sink: &mut PipelineSink<'_>| {
        let began = unix_now();
        if source.pass(sink).is_continue() {
            shared.journal.covered(index, began);
        }
    };
    pass(&mut source, &mut sink);
    shared.board.started(index);
    shared.started.fetch_add(1, Ordering::AcqRel);
    log::info!(source = name.as_str(), kind = source.kind(); "reading");
    while !shared.stop.load(Ordering::Acquire) {
        source.wait();
        pass(&mut source, &mut sink);
    }
}

struct PipelineSink<'a> {
    index: usize,
    name: &'a str,
    /// Whether files were held without a descriptor at the last pass.
    unheld: bool,
    counter: BlockCounter<'a>,
    shared: &'a Shared,
}

impl Sink for PipelineSink<'_> {
    fn lines(&mut self, at: &Position, block: &[u8], oversize: u64) -> ControlFlow<()> {
        let now = unix_now();
        let (shared, name) = (self.shared, self.name);
        {
            // Counting and recording the position must be one step for
            // checkpoints.
            let _counting = shared.journal.counting();
            let counted = self.counter.count(block, oversize, Some(now), |_, _, _| {});
            if counted.lines > 0 {
                shared.board.line(self.index, now);
            }
            // Bytes of files are counted as the recorded offset advances,
            // so they too are exact across restarts.
            match (shared.journal.record(self.index, at), at.offset()) {
                (Some(advanced), _) => shared.metrics.add_bytes(name, advanced),
                (None, None) => shared.metrics.add_bytes(name, block.len() as u64),
                (None, Some(_)) => {}
            }
        }
        if shared.stop.load(Ordering::Acquire) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn rotated(&mut self, what: &str, kind: RotationKind) {
        {
            // Every served counter must be one a checkpoint has persisted.
            let _counting = self.shared.journal.counting();
            self.shared
                .metrics
                .record_rotation(self.name, kind.as_str());
            self.shared.journal.changed();
        }
        log::info!(source = self.name, path = what, kind = kind.as_str(); "log file rotated");
    }

    fn read_error(
        &mut self,
        what: &str,
        reason: ReadErrorReason,
        err: &std::io::Error,
        first: bool,
    ) {
        {
            let _counting = self.shared.journal.counting();
            self.shared
                .metrics
                .record_read_error(self.name, reason.as_str());
            self.shared.journal.changed();
        }
        self.shared
            .board
            .read_error(self.index, what, reason.as_str(), &err.to_string());
        if first {
            log::warn!(source = self.name, path = what, reason = reason.as_str(), err = err.to_string().as_str(); "cannot read log; retrying");
        }
    }

    fn malformed(&mut self, reason: &'static str) {
        let _counting = self.shared.journal.counting();
        self.shared.metrics.record_malformed(self.name, reason);
        self.shared.journal.changed();
    }

    fn recovered(&mut self, what: &str) {
        self.shared.board.recovered(self.index, what);
        log::info!(source = self.name, path = what; "log readable again");
    }

    fn finished(&mut self, at: &Position) {
        let _counting = self.shared.journal.counting();
        self.shared.journal.finished(self.index, at);
    }

    fn status(&mut self, status: Status) {
        self.shared.metrics.set_status(self.name, &status);
        self.shared
            .board
            .passed(self.index, status.up, status.files);
        let unheld = status.files_unheld.unwrap_or(0);
        if (unheld > 0) != self.unheld {
            self.unheld = unheld > 0;
            if self.unheld {
                log::warn!(source = self.name, files = unheld; "descriptor budget reached: these files are reopened at each pass that sees them change (raise LimitNOFILE)");
            } else {
                log::info!(source = self.name; "every followed file holds its descriptor again");
            }
        }
    }
}
