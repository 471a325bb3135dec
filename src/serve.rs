//! The `serve` command: validated settings in, a running exporter out,
//! stopped cleanly on SIGTERM/SIGINT.
//!
//! Wiring only: it builds one [`Source`] per configured input (the one
//! place that maps a settings variant to a source type), registers the
//! scrape-time collectors beside the counters, starts the pipeline and
//! the HTTP server, and adapts the pipeline's read-only view to what the
//! server asks. Every behaviour lives in `source`, `pipeline` and `http`.

use std::sync::Arc;
use std::time::Duration;

use crate::checkpoint::CheckpointError;
use crate::http::{self, Exposition, HttpError};
use crate::metrics::LogMetrics;
use crate::pipeline::{Pipeline, PipelineConfig, PipelineSource, View};
use crate::settings::{Input, Settings, SettingsError, SourceSettings};
use crate::sockstat::udp_drops::UdpSocketRef;
use crate::source::Source;
use crate::source::file::{DescriptorBudget, Follower};
use crate::source::journald::JournaldSource;
use crate::source::stdin::StreamSource;
use crate::source::syslog::SyslogSource;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("registering the socket statistics collectors: {0}")]
    Sockstat(#[source] prometheus::Error),
    #[error("starting the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    State(#[from] CheckpointError),
    #[error("source {source_name:?}: cannot listen: {error}")]
    Listen {
        source_name: String,
        #[source]
        error: std::io::Error,
    },
}

impl ServeError {
    /// Whether the user must fix the command line or config (exit status 2).
    pub fn is_usage(&self) -> bool {
        match self {
            ServeError::Settings(_) | ServeError::State(_) => true,
            ServeError::Http(e) => !matches!(e, HttpError::Bind { .. }),
            ServeError::Sockstat(_) | ServeError::Runtime(_) | ServeError::Listen { .. } => false,
        }
    }
}

/// The source a settings variant describes. Listening sources bind here,
/// so a taken port fails the start; their UDP sockets go to `udp`, for the
/// kernel-drops collector.
fn build_source(
    settings: &Settings,
    s: &SourceSettings,
    budget: &Arc<DescriptorBudget>,
    udp: &mut Vec<UdpSocketRef>,
) -> Result<Box<dyn Source>, ServeError> {
    Ok(match &s.input {
        Input::File(follow) => Box::new(Follower::with_budget(follow.clone(), Arc::clone(budget))),
        Input::Stdin => Box::new(StreamSource::stdin(
            settings.max_line_bytes,
            s.poll_interval.unwrap_or(settings.poll_interval),
        )),
        Input::Syslog(cfg) => {
            let source = SyslogSource::bind(cfg).map_err(|error| ServeError::Listen {
                source_name: s.name.clone(),
                error,
            })?;
            for l in source.local_addrs() {
                log::info!(source = s.name.as_str(), address = l.to_string().as_str(); "listening for syslog");
            }
            udp.extend(source.udp_sockets().iter().map(|u| UdpSocketRef {
                source: s.name.clone(),
                listen: u.listen.clone(),
                inode: u.inode,
            }));
            Box::new(source)
        }
        Input::Journald(cfg) => Box::new(JournaldSource::new(cfg.clone())),
    })
}

/// The pipeline's sources and the counters with their collectors beside.
fn pipeline_parts(settings: &Settings) -> Result<(PipelineConfig, LogMetrics), ServeError> {
    // Sockets (listeners and every connection), the state and lock files,
    // inotify and the netlink socket stay outside the files' budget.
    let reserve = settings.http.max_connections + 64;
    let (budget, rlimit) = DescriptorBudget::from_rlimit(reserve);
    match (&rlimit.error, rlimit.soft_before != rlimit.soft_now) {
        (Some(e), _) => {
            log::warn!(err = e.to_string().as_str(); "cannot raise the soft descriptor limit to the hard one")
        }
        (None, true) => log::info!(
            from = rlimit.soft_before.unwrap_or(0),
            to = rlimit.soft_now.unwrap_or(0);
            "raised the soft descriptor limit to the hard one"
        ),
        (None, false) => {}
    }
    let mut sources = Vec::new();
    let mut udp = Vec::new();
    for s in &settings.sources {
        sources.push(PipelineSource {
            name: s.name.clone(),
            identity: s.identity(),
            source: build_source(settings, s, &budget, &mut udp)?,
            classifier: settings.classifier(s)?,
            watched: settings
                .watch_errnames
                .iter()
                .map(|n| (s.watched_errno(*n), *n))
                .collect(),
        });
    }
    let mut cfg = PipelineConfig::new(sources);
    cfg.state_dir = settings.state.dir.clone();
    cfg.checkpoint_interval = settings.state.checkpoint_interval;
    let metrics = LogMetrics::new();
    metrics.touch_build_info();
    metrics.set_descriptor_budget(budget.limit());
    // The process collector reads /proc/self; where there is none it
    // only drops those series.
    let _ = metrics
        .registry()
        .register(Box::new(crate::sockstat::process::ProcessCollector::new(
            "/proc",
        )));
    let mut sockstat = settings.sockstat.clone();
    sockstat.udp_sockets = udp;
    crate::sockstat::register(metrics.registry(), &sockstat).map_err(ServeError::Sockstat)?;
    Ok((cfg, metrics))
}

/// What the HTTP server sees of the pipeline.
struct Served(View);

impl Exposition for Served {
    fn render_metrics(&self) -> String {
        self.0.render()
    }

    fn errname_totals(&self) -> Vec<(String, u64)> {
        self.0.errname_totals()
    }

    fn ready(&self) -> bool {
        self.0.ready()
    }

    fn source_statuses(&self) -> Vec<crate::status::SourceStatus> {
        self.0.source_statuses()
    }

    fn errname_history(&self) -> Vec<crate::status::ErrnameHistory> {
        self.0.errname_history()
    }
}

/// Runs the exporter until SIGTERM or SIGINT.
pub fn run(settings: Settings) -> Result<(), ServeError> {
    // Held until the process ends: a second instance on the same state
    // directory is refused instead of sharing (and serving) its counts.
    let _state_lock = match &settings.state.dir {
        Some(dir) => Some(crate::checkpoint::state::lock_dir(dir)?),
        None => None,
    };
    let (pipeline_cfg, metrics) = pipeline_parts(&settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let http_cfg = settings.http;
    runtime.block_on(async move {
        // Bind before starting the sources, so a taken port fails fast.
        let bound = http::bind(&http_cfg).await?;
        let pipeline = Pipeline::start(pipeline_cfg, metrics);
        for addr in bound.local_addrs() {
            log::info!(address = addr.to_string().as_str(); "listening");
        }
        let result = bound
            .serve(Arc::new(Served(pipeline.view())), shutdown_signal())
            .await;
        log::info!("shutting down");
        // Sources stop at their next block; joining waits at most about one
        // poll interval.
        tokio::task::spawn_blocking(move || pipeline.shutdown())
            .await
            .ok();
        result.map_err(ServeError::from)
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the process still dies on SIGTERM, only
        // not gracefully.
        _ => std::future::pending::<()>().await,
    }
    // Give log lines written just before the signal a moment to be read.
    tokio::time::sleep(Duration::from_millis(10)).await;
}
