//! The `serve` command: turns flags and config into sources, starts the
//! pipeline and the HTTP server, and stops both cleanly on SIGTERM/SIGINT.
//!
//! Wiring only: every behaviour lives in `pipeline`, `source` and `http`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::ServeArgs;
use crate::config::{Config, ConfigError, relative_to};
use crate::errno::table;
use crate::http::{self, HttpConfig, HttpError};
use crate::pipeline::{Pipeline, PipelineConfig, PipelineError, SourceSpec};
use crate::sockstat::SockstatConfig;
use crate::source::follow::FollowConfig;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no log sources: give --log.path or `sources:` in --config")]
    NoSources,
    #[error("invalid flag: {0}")]
    Flag(String),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("starting the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl ServeError {
    /// Whether the user must fix the command line or config (exit status 2).
    pub fn is_usage(&self) -> bool {
        match self {
            ServeError::Config(_) | ServeError::NoSources | ServeError::Flag(_) => true,
            ServeError::Http(e) => !matches!(e, HttpError::Bind { .. }),
            ServeError::Pipeline(_) | ServeError::Runtime(_) => false,
        }
    }
}

/// Builds the pipeline's config from flags and the config file.
pub fn pipeline_config(args: &ServeArgs) -> Result<PipelineConfig, ServeError> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let follow = |patterns: Vec<String>, start_at| {
        let mut f = FollowConfig::new(patterns);
        f.start_at = start_at;
        f.max_line_bytes = args.max_line_bytes;
        f.poll_interval = args.poll_interval;
        f
    };
    let mut sources = Vec::new();
    for s in &config.sources {
        let base = args.config.as_deref().unwrap_or(Path::new("."));
        let resolve = |ps: &[String]| -> Vec<String> {
            ps.iter()
                .map(|p| relative_to(base, p).display().to_string())
                .collect()
        };
        let mut f = follow(resolve(&s.paths), s.start_at);
        if let Some(rotated) = &s.rotated {
            f.rotated = resolve(rotated);
        }
        sources.push(SourceSpec {
            name: s.name.clone(),
            follow: f,
            profile: s.profile,
            dialect: s.dialect,
        });
    }
    if !args.log_paths.is_empty() {
        if sources.iter().any(|s| s.name == "default") {
            return Err(ServeError::Flag(
                "--log.path forms the source \"default\", which the config also names".into(),
            ));
        }
        sources.push(SourceSpec {
            name: "default".into(),
            follow: follow(args.log_paths.clone(), args.log_start_at),
            profile: args.log_profile,
            dialect: args.errno_dialect,
        });
    }
    if sources.is_empty() {
        return Err(ServeError::NoSources);
    }
    for s in &sources {
        for p in &s.follow.patterns {
            glob::Pattern::new(p).map_err(|e| {
                ServeError::Flag(format!("source {:?}: bad glob {p:?}: {e}", s.name))
            })?;
        }
    }
    let mut cfg = PipelineConfig::new(sources);
    cfg.state_dir = match &args.state_dir {
        Some(d) if d.is_empty() => None,
        Some(d) => Some(PathBuf::from(d)),
        None => Some(
            std::env::var_os("STATE_DIRECTORY")
                // systemd may pass several, colon-separated: the first is ours.
                .and_then(|v| {
                    v.to_str()
                        .and_then(|s| s.split(':').next())
                        .map(PathBuf::from)
                })
                .unwrap_or_else(|| PathBuf::from("/var/lib/gateway_exporter")),
        ),
    };
    cfg.checkpoint_interval = args.checkpoint_interval;
    let mut local_ports = config.tcp_local_ports.clone();
    local_ports.extend(&args.tcp_local_ports);
    let mut remote_ports = config.tcp_remote_ports.clone();
    remote_ports.extend(&args.tcp_remote_ports);
    let mut processes = config.gateway_processes.clone();
    processes.extend(args.gateway_processes.iter().cloned());
    for ports in [&mut local_ports, &mut remote_ports] {
        ports.sort_unstable();
        ports.dedup();
    }
    cfg.sockstat = Some(SockstatConfig {
        procfs: args.procfs.clone(),
        local_ports,
        remote_ports,
        process_names: processes,
    });
    cfg.user_rules = config.rules;
    if let Some(names) = config.watch_errnames {
        cfg.watch_errnames = names.iter().filter_map(|n| table().by_name(n)).collect();
    }
    Ok(cfg)
}

/// Runs the exporter until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    crate::logging::init(args.log_format, args.log_level);
    let pipeline_cfg = pipeline_config(&args)?;
    let mut listen = Vec::new();
    for a in &args.listen_addresses {
        listen.extend(http::parse_listen_address(a)?);
    }
    let mut http_cfg = HttpConfig::new(listen);
    http_cfg.telemetry_path = args.telemetry_path.clone();
    http_cfg.external_url = args.external_url.clone();
    http_cfg.max_connections = args.max_connections;
    http_cfg.version = env!("CARGO_PKG_VERSION").to_string();
    if let Some(url) = &args.runbook_url {
        http_cfg.runbook_url = url.clone();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        // Bind before starting the sources, so a taken port fails fast.
        let bound = http::bind(&http_cfg).await?;
        let pipeline = Pipeline::start(pipeline_cfg)?;
        for addr in bound.local_addrs() {
            log::info!(address = addr.to_string().as_str(); "listening");
        }
        let result = bound.serve(pipeline.exposition(), shutdown_signal()).await;
        log::info!("shutting down");
        // Joining waits at most one poll interval per source.
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
