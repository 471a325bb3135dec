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

use crate::http::{self, Exposition, HttpError};
use crate::metrics::LogMetrics;
use crate::pipeline::{Pipeline, PipelineConfig, PipelineSource, View};
use crate::settings::{Input, Settings, SettingsError, SourceSettings};
use crate::source::Source;
use crate::source::file::Follower;
use crate::source::stdin::StreamSource;

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
}

impl ServeError {
    /// Whether the user must fix the command line or config (exit status 2).
    pub fn is_usage(&self) -> bool {
        match self {
            ServeError::Settings(_) => true,
            ServeError::Http(e) => !matches!(e, HttpError::Bind { .. }),
            ServeError::Sockstat(_) | ServeError::Runtime(_) => false,
        }
    }
}

/// The source a settings variant describes.
fn build_source(settings: &Settings, s: &SourceSettings) -> Box<dyn Source> {
    match &s.input {
        Input::File(follow) => Box::new(Follower::new(follow.clone())),
        Input::Stdin => Box::new(StreamSource::stdin(
            settings.max_line_bytes,
            s.poll_interval.unwrap_or(settings.poll_interval),
        )),
    }
}

/// The pipeline's sources and the counters with their collectors beside.
fn pipeline_parts(settings: &Settings) -> Result<(PipelineConfig, LogMetrics), ServeError> {
    let mut sources = Vec::new();
    for s in &settings.sources {
        sources.push(PipelineSource {
            name: s.name.clone(),
            source: build_source(settings, s),
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
    // The process collector reads /proc/self; where there is none it
    // only drops those series.
    let _ = metrics
        .registry()
        .register(Box::new(crate::sockstat::process::ProcessCollector::new(
            "/proc",
        )));
    crate::sockstat::register(metrics.registry(), &settings.sockstat)
        .map_err(ServeError::Sockstat)?;
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
}

/// Runs the exporter until SIGTERM or SIGINT.
pub fn run(settings: Settings) -> Result<(), ServeError> {
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
