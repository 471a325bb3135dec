//! Command-line definitions. Flags follow Prometheus exporter conventions
//! (`--web.listen-address`, `--log.level`); parsing only, no behaviour.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::classify::Profile;
use crate::errno::Dialect;
use crate::report::Format;
use crate::source::file::StartAt;

#[derive(Debug, Parser)]
#[command(
    name = "gateway_exporter",
    disable_version_flag = true,
    about = "Counts the socket errors gateways log, by operation and errno, for Prometheus.",
    long_about = "Counts the socket errors gateways log, by operation and errno, for Prometheus.\n\n\
        Without a subcommand it serves: it follows the configured logs and serves /metrics.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Print the version, revision and build, as Prometheus exporters do.
    #[arg(long, global = false)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Follow the configured logs and serve /metrics (the default).
    Serve(Box<ServeArgs>),
    /// Read log lines on stdin; print one JSON object per line saying whether
    /// and how it is counted.
    Explain(ExplainArgs),
    /// Read whole files (`-` = stdin, .gz transparently) and print totals.
    Scan(ScanArgs),
    /// Write the escalation report (Markdown) a TCP/IP vendor asks for:
    /// errors over --since, timeline, latest lines, TCP counters, sockets.
    Diagnose(Box<DiagnoseArgs>),
    /// Validate a config file without running anything (exit 2 if invalid).
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
}

/// How lines are classified.
#[derive(Debug, Clone, Args)]
pub struct ClassifyArgs {
    /// Built-in profile.
    #[arg(long, default_value = "auto", value_parser = profile_parser())]
    pub profile: Profile,
    /// Numbering of numbers logged without a text: bsd, linux, winsock,
    /// svr4 (default: the profile's own).
    #[arg(long, value_parser = parse_dialect)]
    pub dialect: Option<Dialect>,
    /// YAML config with user rules (tried before the built-in profiles).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Lines longer than this many bytes (64 B to 16 MiB) are counted as
    /// oversize and skipped.
    #[arg(
        long = "gateway.max-line-bytes",
        alias = "log.max-line-bytes",
        default_value_t = crate::limits::DEFAULT_MAX_LINE_BYTES
    )]
    pub max_line_bytes: usize,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub classify: ClassifyArgs,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub classify: ClassifyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Socket errors per time bucket (by the lines' own times) instead of
    /// totals: a table, JSON, or a bar chart on a terminal.
    #[arg(long)]
    pub timeline: bool,
    /// Threads for one large file (0: one per core).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub threads: usize,
    /// The timeline's bucket (Prometheus duration: 15m, 1h, 1d).
    #[arg(long, default_value = "1h", value_parser = parse_duration, requires = "timeline")]
    pub bucket: Duration,
    /// Files to scan; `-` is stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `diagnose`: the serve flags (the same sources, ports and state
/// directory the exporter runs with) and what the report covers.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// How far back counted lines are taken, by their own times.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub since: Duration,
    /// Where the report goes: `-` (stdout) or a directory that gets
    /// report.md and the raw files.
    #[arg(long, default_value = "-", value_name = "DIR|-")]
    pub output: PathBuf,
    /// Mask IP and e-mail addresses and host names, consistently.
    #[arg(long)]
    pub redact: bool,
    /// Interval between the two samples of the TCP counters.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub sample: Duration,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The live exporter's flags, named as Prometheus exporters name them.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// YAML config: sources, user rules, watch list.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A log file or glob to follow (repeatable); forms a source named
    /// "default" beside those of the config.
    #[arg(
        long = "gateway.log-path",
        alias = "log.path",
        value_name = "PATH_OR_GLOB"
    )]
    pub log_paths: Vec<String>,
    /// A syslog address to listen on (repeatable): udp://HOST:PORT or
    /// tcp://HOST:PORT; forms a source named "syslog" with --log.profile.
    #[arg(long = "gateway.syslog-listen", value_name = "ADDR")]
    pub syslog_listen: Vec<String>,
    /// A systemd unit whose journal to follow (repeatable); forms a source
    /// named "journald" with --log.profile and --log.start-at.
    #[arg(long = "gateway.journald-unit", value_name = "UNIT")]
    pub journald_units: Vec<String>,
    /// Profile of the --gateway.log-path source.
    #[arg(
        long = "gateway.log-profile",
        alias = "log.profile",
        default_value = "auto",
        value_parser = profile_parser()
    )]
    pub log_profile: Profile,
    /// Numbering of bare numbers in the --gateway.log-path source (default: the
    /// profile's own).
    #[arg(long = "gateway.errno-dialect", alias = "errno.dialect", value_parser = parse_dialect)]
    pub errno_dialect: Option<Dialect>,
    /// Where the --gateway.log-path source starts in files present at startup:
    /// end (like tail -F) or beginning.
    #[arg(
        long = "gateway.start-at",
        alias = "log.start-at",
        default_value = "end",
        value_parser = parse_start_at
    )]
    pub log_start_at: StartAt,
    /// Lines longer than this many bytes (64 B to 16 MiB) are counted as
    /// oversize and skipped.
    #[arg(
        long = "gateway.max-line-bytes",
        alias = "log.max-line-bytes",
        default_value_t = crate::limits::DEFAULT_MAX_LINE_BYTES
    )]
    pub max_line_bytes: usize,
    /// Longest wait between checks of a log file (inotify wakes earlier).
    #[arg(
        long = "gateway.poll-interval",
        alias = "log.poll-interval",
        default_value = "1s",
        value_parser = parse_duration
    )]
    pub poll_interval: Duration,
    /// Addresses to listen on (repeatable); ":10057" is every interface.
    #[arg(long = "web.listen-address", default_value = ":10057")]
    pub listen_addresses: Vec<String>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    pub telemetry_path: String,
    /// The URL under which the exporter is reached (e.g. behind a reverse
    /// proxy); its path prefixes every route and link.
    #[arg(long = "web.external-url")]
    pub external_url: Option<String>,
    /// Where runbook links point (default: the exporter's own /runbook).
    #[arg(long = "web.runbook-url")]
    pub runbook_url: Option<String>,
    /// Most concurrent HTTP connections. When all are taken, a new client
    /// closes the oldest idle one; it waits only while all are answering.
    #[arg(long = "web.max-connections", default_value_t = 64)]
    pub max_connections: usize,
    /// exporter-toolkit's web configuration file (TLS, basic auth,
    /// headers, rate limit); re-read when it or a file it names changes.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Serve POST /-/reload (re-read the config), as Prometheus does.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// Serve GET /diagnose (the `diagnose` report, redacted unless
    /// ?redact=0), behind the same auth as /metrics.
    #[arg(long = "web.enable-diagnose")]
    pub enable_diagnose: bool,
    /// Serve on the sockets systemd passes (socket activation, LISTEN_FDS)
    /// instead of --web.listen-address.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,
    /// Where checkpoints (file offsets and counter values) are kept, so
    /// counts survive restarts exactly; empty to turn them off. Default:
    /// $STATE_DIRECTORY (systemd's StateDirectory=), else
    /// /var/lib/gateway_exporter.
    #[arg(long = "state.dir", value_name = "DIR")]
    pub state_dir: Option<String>,
    /// How often a checkpoint is written besides each scrape and shutdown.
    #[arg(long = "state.checkpoint-interval", default_value = "5s", value_parser = parse_duration)]
    pub checkpoint_interval: Duration,
    /// procfs mount point, for reading the host's /proc from a container.
    #[arg(long = "path.procfs", default_value = "/proc")]
    pub procfs: PathBuf,
    /// A local TCP port whose connections are counted by state (inbound;
    /// repeatable, e.g. 25 and 587).
    #[arg(long = "tcp.local-port", value_name = "PORT")]
    pub tcp_local_ports: Vec<u16>,
    /// A remote TCP port whose connections are counted by state (outbound;
    /// repeatable, e.g. 25 for relays).
    #[arg(long = "tcp.remote-port", value_name = "PORT")]
    pub tcp_remote_ports: Vec<u16>,
    /// A gateway process name whose start time is exported as a restart
    /// witness (repeatable).
    #[arg(long = "gateway.process", value_name = "NAME")]
    pub gateway_processes: Vec<String>,
    /// The windows gateway_socket_error_windows counts, by the lines' own
    /// times; keep it equal to the rules' gateway:config:frequent_window_seconds.
    #[arg(long = "gateway.error-window", default_value = "15m", value_parser = parse_duration)]
    pub error_window: Duration,
    /// Turn off the TCP counters collector (/proc/net/snmp, netstat).
    #[arg(long = "no-collector.snmp")]
    pub no_collector_snmp: bool,
    /// Turn off the socket usage collector (/proc/net/sockstat).
    #[arg(long = "no-collector.sockstat")]
    pub no_collector_sockstat: bool,
    /// Turn off the per-port connection states collector (sock_diag).
    #[arg(long = "no-collector.connections")]
    pub no_collector_connections: bool,
    /// Turn off the restart witnesses (boot time, gateway process starts).
    #[arg(long = "no-collector.witness")]
    pub no_collector_witness: bool,
    /// Only log messages with the given severity or above: debug, info,
    /// warn, error.
    #[arg(long = "log.level", default_value = "info", value_parser = crate::logging::parse_level)]
    pub log_level: log::LevelFilter,
    /// Output format of log messages: logfmt or json.
    #[arg(long = "log.format", default_value = "logfmt")]
    pub log_format: crate::logging::Format,
}

/// The input flags' names before they moved to `--gateway.*` (in every
/// Prometheus exporter `--log.*` means the exporter's own logging). They
/// still work, as hidden aliases, and each use is warned about once.
pub const DEPRECATED_FLAGS: &[(&str, &str)] = &[
    ("--log.path", "--gateway.log-path"),
    ("--log.profile", "--gateway.log-profile"),
    ("--errno.dialect", "--gateway.errno-dialect"),
    ("--log.start-at", "--gateway.start-at"),
    ("--log.max-line-bytes", "--gateway.max-line-bytes"),
    ("--log.poll-interval", "--gateway.poll-interval"),
];

/// The deprecated flags among `args` (the process's arguments), each with
/// its new name.
pub fn deprecated_in(args: &[String]) -> Vec<(&'static str, &'static str)> {
    let mut found: Vec<(&str, &str)> = DEPRECATED_FLAGS
        .iter()
        .filter(|(old, _)| {
            args.iter()
                .any(|a| a == old || a.strip_prefix(old).is_some_and(|r| r.starts_with('=')))
        })
        .copied()
        .collect();
    found.dedup();
    found
}

fn parse_start_at(s: &str) -> Result<StartAt, String> {
    StartAt::parse(s).ok_or_else(|| "expected end or beginning".into())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

/// Profiles as clap's possible values, so `--help` and errors list them
/// from the one list in `classify`.
fn profile_parser() -> impl clap::builder::TypedValueParser<Value = Profile> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Profile::ALL.map(Profile::as_str))
        .map(|s| s.parse::<Profile>().unwrap_or(Profile::Auto))
}

fn parse_dialect(s: &str) -> Result<Dialect, String> {
    Dialect::parse_numbering(s).ok_or_else(|| "expected bsd, linux, winsock or svr4".to_string())
}
