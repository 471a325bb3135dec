//! Scrape-time collectors: what is read from `/proc` (and the kernel's
//! `sock_diag` netlink interface) when Prometheus asks, beside the counters
//! the pipeline owns.
//!
//! Each collector is one file, reads only at scrape time, and never fails a
//! scrape: a file it cannot read makes it report nothing (and, for the
//! socket-statistics collectors, `gateway_collector_up 0`). None of them
//! touches the log pipeline, and none knows about HTTP.
//!
//! - [`process`]: the standard `process_*` metrics of the exporter itself.
//! - [`snmp`]: TCP counters from `net/snmp` (`Tcp:`) and `net/netstat`
//!   (`TcpExt:`).
//! - [`sockstat`](mod@sockstat): socket usage from `net/sockstat` and
//!   `net/sockstat6`.
//! - [`connections`]: per-port connection states and queued bytes, through
//!   netlink sock_diag ([`sock_diag`]) or, when netlink is refused,
//!   `net/tcp` and `net/tcp6`.
//! - [`witness`]: host boot time and gateway process start times, the
//!   restart witnesses an escalation alert needs.
//! - [`health`]: `gateway_collector_up{collector}` and
//!   `gateway_collector_duration_seconds{collector}` around each of the four
//!   above.
//!
//! Every file is read under [`SockstatConfig::procfs`] (`--path.procfs`), so
//! a container can read the host's `/proc`. Two kernel facts limit what that
//! buys: `net/*` under any procfs mount shows the network namespace of the
//! process that reads it, and netlink always answers for the exporter's own
//! network namespace. To see the host's sockets, run in the host network
//! namespace (`--network host`).
//!
//! ```
//! use gateway_exporter::sockstat::{register, SockstatConfig};
//! let registry = prometheus::Registry::new();
//! let cfg = SockstatConfig {
//!     procfs: "/proc".into(),
//!     local_ports: vec![25, 587],
//!     remote_ports: vec![25],
//!     process_names: vec!["master".into()],
//!     ..SockstatConfig::default()
//! };
//! register(&registry, &cfg).unwrap();
//! let text = gateway_exporter::metrics::render_registry(&registry);
//! assert!(text.contains(r#"gateway_tcp_connections{port="587",direction="inbound",state="listen"}"#));
//! assert!(text.contains(r#"gateway_collector_up{collector="snmp"}"#));
//! ```

use std::path::PathBuf;

pub mod connections;
pub(crate) mod family;
pub mod health;
pub mod process;
pub mod snmp;
pub mod sock_diag;
#[allow(clippy::module_inception)]
pub mod sockstat;
pub mod udp_drops;
pub mod witness;

/// What the socket-statistics collectors read, and which ports and
/// processes they report on.
#[derive(Debug, Clone)]
pub struct SockstatConfig {
    /// Root of procfs (`--path.procfs`, default `/proc`).
    pub procfs: PathBuf,
    /// Ports whose sockets count as `direction="inbound"` when they are the
    /// local port (`--tcp.local-port`).
    pub local_ports: Vec<u16>,
    /// Ports whose sockets count as `direction="outbound"` when they are the
    /// remote port (`--tcp.remote-port`).
    pub remote_ports: Vec<u16>,
    /// Gateway process names for `gateway_process_start_time_seconds{process}`,
    /// matched against `/proc/<pid>/comm` and the basename of `argv[0]`.
    pub process_names: Vec<String>,
    /// The exporter's syslog UDP sockets, for their kernel drop counts.
    pub udp_sockets: Vec<udp_drops::UdpSocketRef>,
    /// Collectors turned off (`--no-collector.NAME`), by name.
    pub disabled: Vec<String>,
}

/// The collectors that `--no-collector.NAME` can turn off, as node_exporter
/// names its collectors.
pub const COLLECTORS: [&str; 4] = ["snmp", "sockstat", "connections", "witness"];

impl Default for SockstatConfig {
    fn default() -> Self {
        SockstatConfig {
            procfs: PathBuf::from("/proc"),
            local_ports: Vec::new(),
            remote_ports: Vec::new(),
            process_names: Vec::new(),
            udp_sockets: Vec::new(),
            disabled: Vec::new(),
        }
    }
}

/// Why one collector could not report this scrape. It only ever reaches the
/// log and `gateway_collector_up 0`, never the scrape.
#[derive(Debug, thiserror::Error)]
pub enum SockstatError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: line {line}: {expected}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        expected: String,
    },
    #[error("{}: no {expected}", path.display())]
    Missing { path: PathBuf, expected: String },
    #[error("netlink sock_diag and {} both failed: {netlink}; {procfs}", procfs_path.display())]
    NoConnectionSource {
        netlink: sock_diag::DiagError,
        procfs_path: PathBuf,
        procfs: Box<SockstatError>,
    },
    #[error("netlink sock_diag: {0}")]
    Netlink(#[from] sock_diag::DiagError),
    #[error("collector panicked: {0}")]
    Panicked(String),
}

impl SockstatError {
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> SockstatError {
        SockstatError::Read {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        line: usize,
        expected: impl Into<String>,
    ) -> SockstatError {
        SockstatError::Parse {
            path: path.into(),
            line,
            expected: expected.into(),
        }
    }
}

/// Registers every socket-statistics collector in `registry`, each wrapped
/// in [`health::WithHealth`] so it reports `gateway_collector_up` and
/// `gateway_collector_duration_seconds` and never fails a scrape.
pub fn register(
    registry: &prometheus::Registry,
    cfg: &SockstatConfig,
) -> Result<(), prometheus::Error> {
    let procfs = &cfg.procfs;
    let on = |name: &str| !cfg.disabled.iter().any(|d| d == name);
    if on("snmp") {
        registry.register(Box::new(health::WithHealth::new(
            snmp::SnmpCollector::new(procfs),
        )?))?;
    }
    if on("sockstat") {
        registry.register(Box::new(health::WithHealth::new(
            sockstat::SockstatCollector::new(procfs),
        )?))?;
    }
    if on("connections") {
        registry.register(Box::new(health::WithHealth::new(
            connections::ConnectionsCollector::new(procfs, &cfg.local_ports, &cfg.remote_ports),
        )?))?;
    }
    if on("witness") {
        registry.register(Box::new(health::WithHealth::new(
            witness::WitnessCollector::new(procfs, &cfg.process_names),
        )?))?;
    }
    if !cfg.udp_sockets.is_empty() {
        registry.register(Box::new(health::WithHealth::new(
            udp_drops::UdpDropsCollector::new(cfg.udp_sockets.clone()),
        )?))?;
    }
    Ok(())
}

/// A captured or hand-made `/proc` tree under `tests/fixtures/proc/`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/proc")
        .join(name)
}
