//! The `serve` command: validated settings in, a running exporter out,
//! stopped cleanly on SIGTERM/SIGINT.
//!
//! Wiring only: it builds one [`Source`] per configured input (the one
//! place that maps a settings variant to a source type), registers the
//! scrape-time collectors beside the counters, starts the pipeline and
//! the HTTP server, and adapts the pipeline's read-only view to what the
//! server asks. A reload (SIGHUP, `POST /-/reload`) stops the pipeline,
//! which hands over its positions and counts, and starts one for the new
//! settings from there; a web configuration file that changes is re-read.
//! Every behaviour lives in `source`, `pipeline` and `http`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::checkpoint::CheckpointError;
use crate::clock::unix_now;
use crate::http::{self, Exposition, HttpError, SecurityHandle};
use crate::metrics::LogMetrics;
use crate::pipeline::{Pipeline, PipelineConfig, PipelineSource, View};
use crate::settings::{Input, Settings, SettingsError, SourceSettings, WebFile};
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
    // Sources with the same profile and dialect share one compiled
    // classifier (its automata are reference-counted): building one per
    // source cost about 0.5 MB each.
    let mut classifiers: HashMap<_, crate::classify::Classifier> = HashMap::new();
    for s in &settings.sources {
        let classifier = match classifiers.entry((s.profile, s.dialect)) {
            Entry::Occupied(c) => c.get().clone(),
            Entry::Vacant(v) => v.insert(settings.classifier(s)?).clone(),
        };
        sources.push(PipelineSource {
            name: s.name.clone(),
            identity: s.identity(),
            source: build_source(settings, s, &budget, &mut udp)?,
            classifier,
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
    metrics.set_error_window(settings.error_window.as_secs());
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

/// Re-reads the command line's config: flags as given at start, files as
/// they are now.
pub type Reloader = Box<dyn Fn() -> Result<Settings, SettingsError> + Send + Sync>;

/// The running configuration and its pipeline.
struct Generation {
    settings: Settings,
    pipeline: Pipeline,
}

/// What the HTTP server and the signal handlers share.
struct Live {
    /// What scrapes read; swapped at a reload.
    view: RwLock<View>,
    /// Held for the whole of a reload, so two never interleave.
    current: Mutex<Option<Generation>>,
    reloader: Reloader,
    /// The server's handle: a reload or a changed web config file replaces
    /// what it holds.
    security: SecurityHandle,
    last_success: Mutex<f64>,
}

impl Live {
    fn view(&self) -> View {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGHUP and `POST /-/reload`: the new configuration runs, or the old
    /// one keeps running and the reload metric says 0.
    fn reload(&self) -> Result<(), String> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let failed = |reason: String, view: &View, last_success: f64| {
            view.metrics().set_reload(false, last_success);
            log::error!(err = reason.as_str(); "cannot reload the configuration; the previous one keeps running");
            Err(reason)
        };
        let last_success = *self.last_success.lock().unwrap_or_else(|p| p.into_inner());
        let settings = match (self.reloader)() {
            Ok(s) => s,
            Err(e) => return failed(e.to_string(), &self.view(), last_success),
        };
        let Some(old) = current.take() else {
            return Err("the exporter is shutting down".into());
        };
        let old_view = self.view();
        // The old sources stop first: a syslog port they hold is bound
        // again by the new ones.
        let handed_over = old.pipeline.stop();
        let (generation, outcome) = match pipeline_parts(&settings) {
            Ok((cfg, metrics)) => {
                let pipeline = Pipeline::resume(cfg, metrics, handed_over);
                (Generation { settings, pipeline }, Ok(()))
            }
            Err(e) => {
                // Back to the configuration that ran, from where it stopped.
                let (cfg, metrics) = match pipeline_parts(&old.settings) {
                    Ok(parts) => parts,
                    Err(again) => {
                        log::error!(err = again.to_string().as_str(); "cannot restart the previous configuration either; exiting");
                        std::process::abort();
                    }
                };
                let pipeline = Pipeline::resume(cfg, metrics, handed_over);
                let settings = old.settings;
                (Generation { settings, pipeline }, Err(e.to_string()))
            }
        };
        let metrics = generation.pipeline.metrics();
        let names: Vec<&str> = generation
            .settings
            .sources
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        metrics.carry_over(old_view.metrics(), &names);
        let new_view = generation.pipeline.view();
        let result = match outcome {
            Ok(()) => {
                let now = unix_now();
                *self.last_success.lock().unwrap_or_else(|p| p.into_inner()) = now;
                metrics.set_reload(true, now);
                self.security.adopt(&generation.settings.http.security);
                if let Some(web) = &generation.settings.web {
                    for w in &web.warnings {
                        log::warn!(file = web.path.display().to_string().as_str(); "{w}");
                    }
                }
                log::info!(sources = names.len(); "configuration reloaded");
                Ok(())
            }
            Err(reason) => failed(reason, &new_view, last_success),
        };
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = new_view;
        *current = Some(generation);
        result
    }

    fn shutdown(&self) {
        let generation = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(g) = generation {
            g.pipeline.shutdown();
        }
    }
}

/// What the HTTP server sees of the pipeline.
struct Served(Arc<Live>);

impl Exposition for Served {
    fn render_metrics(&self) -> String {
        self.0.view().render()
    }

    fn errname_totals(&self) -> Vec<(String, u64)> {
        self.0.view().errname_totals()
    }

    fn ready(&self) -> bool {
        self.0.view().ready()
    }

    fn reload(&self) -> Result<(), String> {
        self.0.reload()
    }

    fn source_statuses(&self) -> Vec<crate::status::SourceStatus> {
        self.0.view().source_statuses()
    }

    fn errname_history(&self) -> Vec<crate::status::ErrnameHistory> {
        self.0.view().errname_history()
    }

    fn diagnose(&self, redact: bool) -> Option<String> {
        // One report at a time: each reads every file source again, and a
        // burst of requests must not multiply that.
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        // The settings running now; cloned so a reload is not held up while
        // the report reads files and samples counters.
        let settings = self
            .0
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|g| g.settings.clone())?;
        let options = crate::diagnose::Options {
            since: crate::diagnose::HTTP_SINCE,
            sample: crate::diagnose::HTTP_SAMPLE,
            redact,
            live: Some(self.0.view().source_statuses()),
        };
        Some(crate::diagnose::run(&settings, &options).markdown)
    }
}

/// Runs the exporter until SIGTERM or SIGINT; SIGHUP (and `POST
/// /-/reload` with `--web.enable-lifecycle`) re-reads the configuration
/// through `reloader`.
pub fn run(settings: Settings, reloader: Reloader) -> Result<(), ServeError> {
    // Held until the process ends: a second instance on the same state
    // directory is refused instead of sharing (and serving) its counts.
    let _state_lock = match &settings.state.dir {
        Some(dir) => Some(crate::checkpoint::state::lock_dir(dir)?),
        None => None,
    };
    if let Some(web) = &settings.web {
        for w in &web.warnings {
            log::warn!(file = web.path.display().to_string().as_str(); "{w}");
        }
    }
    // Taken before any thread starts: the crate clears LISTEN_FDS from the
    // environment as systemd asks, which is only sound single-threaded.
    let inherited = if settings.systemd_socket {
        Some(inherited_sockets()?)
    } else {
        None
    };
    let (pipeline_cfg, metrics) = pipeline_parts(&settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Renders and bcrypt checks run here (reloads on threads of their
        // own). Scrapes take the checkpoint lock in turn anyway, so more
        // threads would only cost memory (a malloc arena each) when many
        // clients scrape at once.
        .max_blocking_threads(2)
        .build()
        .map_err(ServeError::Runtime)?;
    let http_cfg = settings.http.clone();
    runtime.block_on(async move {
        // Bind before starting the sources, so a taken port fails fast.
        let bound = match inherited {
            None => http::bind(&http_cfg).await?,
            Some(listeners) => http::adopt(&http_cfg, listeners).await?,
        };
        // Signals are caught from here on: SIGHUP would otherwise end the
        // process (its default action).
        let hangups = signal(SignalKind::hangup()).ok();
        let started = unix_now();
        metrics.set_reload(true, started);
        let pipeline = Pipeline::start(pipeline_cfg, metrics);
        for addr in bound.local_addrs() {
            log::info!(address = addr.to_string().as_str(); "listening");
        }
        let web = settings.web.clone();
        let live = Arc::new(Live {
            view: RwLock::new(pipeline.view()),
            current: Mutex::new(Some(Generation { settings, pipeline })),
            reloader,
            security: http_cfg.security.clone(),
            last_success: Mutex::new(started),
        });
        let watcher = tokio::spawn(watch_web_config(web, http_cfg.security.clone()));
        let on_hangup = tokio::spawn(reload_on_hangup(hangups, Arc::clone(&live)));
        let result = bound
            .serve(Arc::new(Served(Arc::clone(&live))), shutdown_signal())
            .await;
        log::info!("shutting down");
        watcher.abort();
        on_hangup.abort();
        // Sources stop at their next block; joining waits at most about one
        // poll interval.
        tokio::task::spawn_blocking(move || live.shutdown())
            .await
            .ok();
        result.map_err(ServeError::from)
    })
}

/// The TCP sockets of systemd socket activation (`LISTEN_FDS`).
fn inherited_sockets() -> Result<Vec<std::net::TcpListener>, ServeError> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::new();
    for i in 0..fds.len() {
        match fds.take_tcp_listener(i) {
            Ok(Some(l)) => listeners.push(l),
            Ok(None) => {}
            Err(e) => return Err(ServeError::Http(HttpError::Inherited(e))),
        }
    }
    Ok(listeners)
}

async fn reload_on_hangup(hangups: Option<Signal>, live: Arc<Live>) {
    let Some(mut hangups) = hangups else {
        return;
    };
    while hangups.recv().await.is_some() {
        let live = Arc::clone(&live);
        // The outcome is logged and in the reload metric.
        let _ = http::on_own_thread(move || live.reload()).await;
    }
}

/// How often the web configuration and the files it names are checked for
/// changes: certificates rotated by an agent apply within this.
const WEB_CONFIG_CHECK: Duration = Duration::from_secs(1);

/// Re-reads the web configuration when it or a file it names changes
/// (size, modification time or inode), as exporter-toolkit reads it per
/// request. A file that does not load keeps the previous one serving and
/// is logged once per change.
async fn watch_web_config(web: Option<WebFile>, security: SecurityHandle) {
    let Some(mut web) = web else {
        return;
    };
    let mut seen = fingerprint(&web.files);
    loop {
        tokio::time::sleep(WEB_CONFIG_CHECK).await;
        let now = fingerprint(&web.files);
        if now == seen {
            continue;
        }
        seen = now;
        let path = web.path.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::settings::web::load(&path)).await;
        let file = web.path.display().to_string();
        match loaded {
            Ok(Ok(cfg)) => {
                for w in &cfg.warnings {
                    log::warn!(file = file.as_str(); "{w}");
                }
                security.replace(cfg.security);
                web.files = cfg.files;
                seen = fingerprint(&web.files);
                log::info!(file = file.as_str(); "web configuration reloaded");
            }
            Ok(Err(e)) => {
                log::error!(file = file.as_str(), err = e.to_string().as_str(); "cannot reload the web configuration; the previous one keeps serving");
            }
            Err(_) => {}
        }
    }
}

fn fingerprint(files: &[PathBuf]) -> Vec<Option<(u64, i64, i64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
        })
        .collect()
}

async fn shutdown_signal() {
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
