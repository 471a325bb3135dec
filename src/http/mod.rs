//! The HTTP server: listen addresses, the accept loop and its limits, and the
//! routes Prometheus and people use.
//!
//! This module owns the sockets and the wire: it binds, accepts (at most
//! [`HttpConfig::max_connections`] at a time, closing idle clients first
//! when a new one needs the slot), times out clients that never finish
//! their headers or TLS handshake, enforces exporter-toolkit's web
//! configuration (TLS, basic auth, headers, rate limit: [`Security`],
//! built by the settings layer), answers `/metrics` (gzip when the client accepts
//! it), the landing page `/`, `/-/healthy`, `/-/ready` and the runbook
//! `/runbook` (the alerts' `runbook_url` target), and shuts down
//! gracefully. It must not own or update counters, read logs or decide
//! what is ready: everything it shows comes through the narrow
//! [`Exposition`] trait, so the server can be driven by a fake in tests.
//! It does not log either: failures come back as [`HttpError`].
//!
//! Paths follow Prometheus conventions to the letter. With
//! `--web.external-url=http://example.com/gw/` every route moves under
//! `/gw` (`/gw/metrics`, `/gw/-/ready`, ...) and `/` redirects to `/gw/`,
//! because a reverse proxy in front usually forwards the prefix unchanged.
//!
//! ```
//! use std::sync::Arc;
//! use gateway_exporter::http::{self, Exposition, HttpConfig};
//!
//! struct Quiet;
//! impl Exposition for Quiet {
//!     fn render_metrics(&self) -> String { String::new() }
//!     fn errname_totals(&self) -> Vec<(String, u64)> { Vec::new() }
//!     fn ready(&self) -> bool { true }
//! }
//!
//! let cfg = HttpConfig::new(http::parse_listen_address("127.0.0.1:0").unwrap());
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     let bound = http::bind(&cfg).await.unwrap();
//!     assert_ne!(bound.local_addrs()[0].port(), 0);
//!     // A shutdown future that is already done: serve stops at once.
//!     bound.serve(Arc::new(Quiet), async {}).await.unwrap();
//! });
//! ```

mod encoding;
mod landing;
mod listen;
mod routes;
mod runbook;
mod security;
mod server;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use listen::parse_listen_address;
pub use security::{ALLOWED_HEADERS, RateLimit, Security, SecurityHandle, valid_bcrypt_hash};
pub use server::Bound;

/// The metrics path when none is configured, as in every Prometheus exporter.
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";

/// Concurrent connections served when none is configured. Prometheus needs
/// one per scraping server; the rest is room for people and probes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send a request's headers (or finish a TLS
/// handshake), and how long an idle keep-alive connection is kept (hyper
/// runs the same timer while it waits for the next request). Short: a
/// scrape sends its whole request at once.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long in-flight requests get to finish once shutdown starts.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the HTTP layer needs from the rest of the exporter. It only renders;
/// it owns no counters.
///
/// `render_metrics` runs on tokio's blocking pool, so implementations may
/// take locks or read `/proc` without stalling the accept loop; the other
/// two run on the runtime thread and must be cheap.
pub trait Exposition: Send + Sync + 'static {
    /// The whole /metrics body in Prometheus text format 0.0.4.
    fn render_metrics(&self) -> String;
    /// Current socket-error totals by errname (summed over
    /// sources/ops/errnos), for the landing page, sorted by count desc.
    fn errname_totals(&self) -> Vec<(String, u64)>;
    /// True once every source has started (for /-/ready).
    fn ready(&self) -> bool;
    /// `POST /-/reload`: re-read the configuration. Runs on the blocking
    /// pool. The error says why the old configuration stays.
    fn reload(&self) -> Result<(), String> {
        Err("reloading is not supported here".to_string())
    }
    /// Each source's latest state, for the landing page's status table.
    /// A fake with no sources may leave it empty.
    fn source_statuses(&self) -> Vec<crate::status::SourceStatus> {
        Vec::new()
    }
    /// The watched errnames' totals over the last day, for the landing
    /// page's charts (one per errname).
    fn errname_history(&self) -> Vec<crate::status::ErrnameHistory> {
        Vec::new()
    }
    /// `GET /diagnose` (with `--web.enable-diagnose`): the `diagnose`
    /// report in Markdown, run on its own thread. `None` (the default) is a
    /// 404: nothing here can make one.
    fn diagnose(&self, _redact: bool) -> Option<String> {
        None
    }
}

/// Everything the server needs to know, already parsed: the caller resolves
/// listen addresses (see [`parse_listen_address`]) and fills in flags.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Addresses to listen on; every one must bind or [`bind`] fails.
    pub listen: Vec<SocketAddr>,
    /// Where the metrics are served, under the external URL's path prefix.
    pub telemetry_path: String,
    /// `--web.external-url`: an absolute `http(s)://` URL. Its path becomes
    /// the prefix of every route and of every link on the landing page.
    pub external_url: Option<String>,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Shown on the landing page.
    pub version: String,
    /// The runbook link on the landing page. A path (starting with `/`) is
    /// taken under the external URL's prefix like every other link, so the
    /// default `/runbook` follows `--web.external-url`; a full URL is used
    /// as it is.
    pub runbook_url: String,
    /// TLS, basic auth, headers and rate limit (`--web.config.file`);
    /// replaceable while serving.
    pub security: SecurityHandle,
    /// `--web.enable-lifecycle`: serve `POST /-/reload`.
    pub enable_lifecycle: bool,
    /// `--web.enable-diagnose`: serve `GET /diagnose`.
    pub enable_diagnose: bool,
}

impl HttpConfig {
    /// A config with the defaults for everything but the listen addresses.
    pub fn new(listen: Vec<SocketAddr>) -> HttpConfig {
        HttpConfig {
            listen,
            telemetry_path: DEFAULT_TELEMETRY_PATH.to_string(),
            external_url: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            runbook_url: "/runbook".to_string(),
            security: SecurityHandle::new(Security::default()),
            enable_lifecycle: false,
            enable_diagnose: false,
        }
    }
}

/// Runs `work` on a thread of its own and waits for it without holding a
/// runtime thread or a slot of the small blocking pool: for long work (a
/// reload stops and starts sources) that scrapes must not queue behind.
/// `None` if `work` panicked.
pub async fn on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            let _ = tx.send(work());
        });
    if spawned.is_err() {
        return None;
    }
    rx.await.ok()
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("bad listen address {input:?}: expected {expected}")]
    ListenAddress {
        input: String,
        expected: &'static str,
    },
    #[error("cannot resolve listen address {input:?}: {source}")]
    Resolve {
        input: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no listen address given")]
    NoListenAddress,
    #[error(
        "--web.systemd-socket: no TCP socket was passed (LISTEN_FDS); start through a systemd .socket unit"
    )]
    NoInheritedSocket,
    #[error("--web.systemd-socket: cannot use the passed socket: {0}")]
    Inherited(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("bad --web.external-url {url:?}: expected {expected}")]
    ExternalUrl { url: String, expected: &'static str },
    #[error("bad {field} {value:?}: expected {expected}")]
    Config {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Binds every listen address (failing fast, naming the address that would
/// not bind), then serves until `shutdown` resolves; then stops accepting,
/// lets in-flight requests finish for up to [`DEFAULT_SHUTDOWN_GRACE`], and
/// returns.
///
/// # Errors
///
/// Everything [`bind`] reports; nothing after that.
pub async fn serve(
    cfg: HttpConfig,
    exp: Arc<dyn Exposition>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), HttpError> {
    bind(&cfg).await?.serve(exp, shutdown).await
}

/// Binds first and serves later, so that a caller can print the bound ports
/// (or a test can connect to port 0) before serving.
///
/// # Errors
///
/// [`HttpError::Config`] or [`HttpError::ExternalUrl`] for settings that
/// cannot work (checked before any port is taken),
/// [`HttpError::NoListenAddress`], and [`HttpError::Bind`] naming the first
/// address that would not bind.
pub async fn bind(cfg: &HttpConfig) -> Result<Bound, HttpError> {
    server::bind(cfg).await
}

/// As [`bind`], but serves listening sockets the caller already holds
/// (systemd socket activation, `--web.systemd-socket`); `cfg.listen` is
/// not used.
///
/// # Errors
///
/// As [`bind`], and [`HttpError::NoInheritedSocket`] when `inherited` is
/// empty.
pub async fn adopt(
    cfg: &HttpConfig,
    inherited: Vec<std::net::TcpListener>,
) -> Result<Bound, HttpError> {
    server::bind_or_adopt(cfg, Some(inherited)).await
}
