//! Flags + YAML → validated settings: the one door every command goes
//! through.
//!
//! [`crate::cli`] holds the command line exactly as given and
//! [`crate::config`] the file exactly as written; this module decides
//! whether they make sense together and builds what the commands consume
//! (ripgrep's low-level/high-level split). `serve`, `check-config`, `scan`
//! and `explain` all come here, so they accept exactly the same inputs, and
//! every rejection names the flag or the file, line and column, with what
//! was expected. Nothing here runs: sources, classifiers and servers are
//! described (or built, for the classifier, to prove its rules compile),
//! never started.
//!
//! ```
//! use gateway_exporter::config::ConfigFile;
//! use gateway_exporter::settings::FileSettings;
//! let bad = ConfigFile::parse("gw.yml", "sources:\n  - name: gw\n    paths: ['/var/log/[x.log']\n").unwrap();
//! let err = FileSettings::from_file(&bad).unwrap_err();
//! assert!(err.to_string().starts_with("gw.yml:3:13: "), "{err}");
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::classify::{Classifier, Op, Profile, UserRule};
use crate::cli::{ClassifyArgs, ServeArgs};
use crate::config::{ConfigError, ConfigFile, RawRule, RawSource, Spanned};
use crate::errno::{Dialect, Errname, table};
use crate::http::{self, HttpConfig};
use crate::limits::MAX_LINE_BYTES_RANGE;
use crate::sockstat::SockstatConfig;
use crate::source::file::{FollowConfig, StartAt, paths};
use crate::source::journald::JournaldConfig;
use crate::source::syslog::{Listen, SyslogConfig};

pub mod web;

/// The errnames whose write-error series exist from the start by default:
/// the failures KB Q100707's advice is about, and their usual companions.
pub const DEFAULT_WATCH_ERRNAMES: &[&str] = &[
    "ENOTCONN",
    "EPIPE",
    "ECONNRESET",
    "ETIMEDOUT",
    "ECONNREFUSED",
];

/// The name of the source the `--gateway.log-path` flags form.
pub const FLAG_SOURCE: &str = "default";

/// Why the inputs were rejected. Every variant means "fix the command line
/// or the config" (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    #[error(
        "no log sources: give --gateway.log-path, --gateway.syslog-listen, --gateway.journald-unit or `sources:` in --config"
    )]
    NoSources,
}

fn flag(flag: &'static str, message: String) -> SettingsError {
    SettingsError::Flag { flag, message }
}

/// What a source reads.
#[derive(Debug, Clone)]
pub enum Input {
    File(FollowConfig),
    /// The exporter's standard input (`type: stdin`, `--gateway.log-path -`).
    Stdin,
    /// Syslog listeners (`type: syslog`).
    Syslog(SyslogConfig),
    /// The systemd journal (`type: journald`).
    Journald(JournaldConfig),
}

/// One validated source.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub name: String,
    pub input: Input,
    pub profile: Profile,
    pub dialect: Option<Dialect>,
    /// The source's own poll interval; `--log.poll-interval` otherwise.
    pub poll_interval: Option<Duration>,
}

impl SourceSettings {
    /// What the source reads, for checkpoints: state written for other
    /// inputs under the same name is not applied.
    pub fn identity(&self) -> String {
        match &self.input {
            Input::File(f) => format!("file:{}", f.patterns.join(",")),
            Input::Stdin => "stdin".into(),
            Input::Syslog(c) => format!(
                "syslog:{}",
                c.listen
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Input::Journald(c) => format!(
                "journald:{}:{}:{}:{}",
                c.units.join(","),
                c.matches.join(","),
                c.directory
                    .as_ref()
                    .map_or(String::new(), |d| d.display().to_string()),
                c.files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    /// The errno this source's numbering would log for `name`: empty for
    /// formats that log only text.
    pub fn watched_errno(&self, name: Errname) -> String {
        if !self.profile.logs_numbers() {
            return String::new();
        }
        let d = self.dialect.unwrap_or(self.profile.default_dialect());
        table()
            .number(d, name)
            .map_or_else(String::new, |n| n.to_string())
    }
}

/// What a config file says, validated on its own: what `check-config`
/// reports and what every command builds on.
#[derive(Debug, Clone, Default)]
pub struct FileSettings {
    pub rules: Vec<UserRule>,
    pub sources: Vec<SourceSettings>,
    pub watch_errnames: Option<Vec<Errname>>,
    pub tcp_local_ports: Vec<u16>,
    pub tcp_remote_ports: Vec<u16>,
    pub gateway_processes: Vec<String>,
}

/// Checkpoints.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// `None`: checkpoints are off.
    pub dir: Option<PathBuf>,
    pub checkpoint_interval: Duration,
}

/// Everything `serve` runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sources: Vec<SourceSettings>,
    pub rules: Vec<UserRule>,
    pub watch_errnames: Vec<Errname>,
    pub max_line_bytes: usize,
    /// `--log.poll-interval`: how long a source waits at most between passes.
    pub poll_interval: Duration,
    pub state: StateSettings,
    pub http: HttpConfig,
    pub sockstat: SockstatConfig,
    /// `--web.config.file`, when given: what to watch and what to warn of.
    /// The [`http::Security`] it describes is in `http`.
    pub web: Option<WebFile>,
    /// `--web.systemd-socket`: serve the sockets systemd passes.
    pub systemd_socket: bool,
    /// `--gateway.error-window`.
    pub error_window: Duration,
}

/// Where the web configuration came from.
#[derive(Debug, Clone)]
pub struct WebFile {
    pub path: PathBuf,
    /// The file and every file it names (certificates, keys, CAs).
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

impl Settings {
    /// Validates the `serve` flags and the config file they name.
    pub fn for_serve(args: &ServeArgs) -> Result<Settings, SettingsError> {
        let max_line_bytes = max_line_bytes(args.max_line_bytes)?;
        let file = match &args.config {
            Some(path) => FileSettings::load(path)?,
            None => FileSettings::default(),
        };
        let mut sources = file.sources;
        for s in &mut sources {
            let poll = s.poll_interval.unwrap_or(args.poll_interval);
            match &mut s.input {
                Input::File(f) => {
                    f.max_line_bytes = max_line_bytes;
                    f.poll_interval = poll;
                }
                Input::Syslog(c) => c.poll_interval = poll,
                Input::Journald(c) => c.poll_interval = poll,
                Input::Stdin => {}
            }
        }
        if !args.log_paths.is_empty() {
            if sources.iter().any(|s| s.name == FLAG_SOURCE) {
                return Err(flag(
                    "--gateway.log-path",
                    format!("forms the source {FLAG_SOURCE:?}, which the config also names"),
                ));
            }
            let input = if args.log_paths.iter().any(|p| p == "-") {
                if args.log_paths.len() > 1 {
                    return Err(flag(
                        "--gateway.log-path",
                        "- (standard input) is a source of its own: give it alone".into(),
                    ));
                }
                if sources.iter().any(|s| matches!(s.input, Input::Stdin)) {
                    return Err(flag(
                        "--gateway.log-path",
                        "- (standard input): the config has a stdin source already".into(),
                    ));
                }
                Input::Stdin
            } else {
                for p in &args.log_paths {
                    check_path(p).map_err(|m| flag("--gateway.log-path", m))?;
                }
                let mut f = FollowConfig::new(args.log_paths.clone());
                f.start_at = args.log_start_at;
                f.max_line_bytes = max_line_bytes;
                f.poll_interval = args.poll_interval;
                Input::File(f)
            };
            sources.push(SourceSettings {
                name: FLAG_SOURCE.to_string(),
                input,
                profile: args.log_profile,
                dialect: args.errno_dialect,
                poll_interval: None,
            });
        }
        let named = |sources: &[SourceSettings], name: &str, flag_name: &'static str| {
            if sources.iter().any(|s| s.name == name) {
                Err(flag(
                    flag_name,
                    format!("forms the source {name:?}, which the config also names"),
                ))
            } else {
                Ok(())
            }
        };
        if !args.syslog_listen.is_empty() {
            named(&sources, "syslog", "--gateway.syslog-listen")?;
            let listen = args
                .syslog_listen
                .iter()
                .map(|l| Listen::parse(l).map_err(|m| flag("--gateway.syslog-listen", m)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut c = SyslogConfig::new(listen);
            c.poll_interval = args.poll_interval;
            sources.push(SourceSettings {
                name: "syslog".into(),
                input: Input::Syslog(c),
                profile: args.log_profile,
                dialect: args.errno_dialect,
                poll_interval: None,
            });
        }
        if !args.journald_units.is_empty() {
            named(&sources, "journald", "--gateway.journald-unit")?;
            let mut j = JournaldConfig::new();
            j.units = args.journald_units.clone();
            j.start_at = args.log_start_at;
            j.poll_interval = args.poll_interval;
            sources.push(SourceSettings {
                name: "journald".into(),
                input: Input::Journald(j),
                profile: args.log_profile,
                dialect: args.errno_dialect,
                poll_interval: None,
            });
        }
        if sources.is_empty() {
            return Err(SettingsError::NoSources);
        }
        let mut listen = Vec::new();
        for a in &args.listen_addresses {
            listen.extend(
                http::parse_listen_address(a)
                    .map_err(|e| flag("--web.listen-address", e.to_string()))?,
            );
        }
        let mut http_cfg = HttpConfig::new(listen);
        http_cfg.telemetry_path = args.telemetry_path.clone();
        http_cfg.external_url = args.external_url.clone();
        http_cfg.max_connections = args.max_connections;
        http_cfg.enable_lifecycle = args.enable_lifecycle;
        http_cfg.enable_diagnose = args.enable_diagnose;
        let web = match &args.web_config_file {
            None => None,
            Some(path) => {
                let loaded = web::load(path)?;
                http_cfg.security = http::SecurityHandle::new(loaded.security);
                Some(WebFile {
                    path: path.clone(),
                    files: loaded.files,
                    warnings: loaded.warnings,
                })
            }
        };
        if let Some(url) = &args.runbook_url {
            http_cfg.runbook_url = url.clone();
        }
        let mut local_ports = file.tcp_local_ports;
        local_ports.extend(&args.tcp_local_ports);
        let mut remote_ports = file.tcp_remote_ports;
        remote_ports.extend(&args.tcp_remote_ports);
        for ports in [&mut local_ports, &mut remote_ports] {
            ports.sort_unstable();
            ports.dedup();
        }
        let mut process_names = file.gateway_processes;
        process_names.extend(args.gateway_processes.iter().cloned());
        Ok(Settings {
            sources,
            rules: file.rules,
            watch_errnames: file.watch_errnames.unwrap_or_else(|| {
                DEFAULT_WATCH_ERRNAMES
                    .iter()
                    .filter_map(|n| table().by_name(n))
                    .collect()
            }),
            max_line_bytes,
            poll_interval: args.poll_interval,
            state: StateSettings {
                dir: state_dir(args.state_dir.as_deref()),
                checkpoint_interval: args.checkpoint_interval,
            },
            http: http_cfg,
            sockstat: SockstatConfig {
                procfs: args.procfs.clone(),
                local_ports,
                remote_ports,
                process_names,
                udp_sockets: Vec::new(),
                disabled: [
                    ("snmp", args.no_collector_snmp),
                    ("sockstat", args.no_collector_sockstat),
                    ("connections", args.no_collector_connections),
                    ("witness", args.no_collector_witness),
                ]
                .iter()
                .filter(|(_, off)| *off)
                .map(|(name, _)| name.to_string())
                .collect(),
            },
            web,
            systemd_socket: args.systemd_socket,
            error_window: error_window(args.error_window)?,
        })
    }

    /// The classifier of one source. Its rules were compiled once already
    /// when the settings were made, so this does not fail in practice.
    pub fn classifier(&self, source: &SourceSettings) -> Result<Classifier, SettingsError> {
        build_classifier(
            source.profile,
            source.dialect,
            &self.rules,
            self.max_line_bytes,
        )
        .map_err(|m| flag("--config", format!("source {:?}: {m}", source.name)))
    }
}

/// Whole seconds, a minute to a day: the rules' windows are of that kind.
fn error_window(d: Duration) -> Result<Duration, SettingsError> {
    if d < Duration::from_secs(60) || d > Duration::from_secs(86_400) || d.subsec_nanos() != 0 {
        return Err(flag(
            "--gateway.error-window",
            format!("{d:?}: expected whole seconds from 1m to 1d"),
        ));
    }
    Ok(d)
}

/// `--log.max-line-bytes` within its documented range.
fn max_line_bytes(n: usize) -> Result<usize, SettingsError> {
    if MAX_LINE_BYTES_RANGE.contains(&n) {
        Ok(n)
    } else {
        Err(flag(
            "--gateway.max-line-bytes",
            format!(
                "{n} is outside {}..={} bytes",
                MAX_LINE_BYTES_RANGE.start(),
                MAX_LINE_BYTES_RANGE.end()
            ),
        ))
    }
}

/// `--state.dir`: empty turns checkpoints off. Unset: systemd's
/// `$STATE_DIRECTORY` (its first entry), else `/var/lib/gateway_exporter`
/// for root, else the user's state directory (`$XDG_STATE_HOME`, else
/// `~/.local/state`) — a default an unprivileged user can write, so
/// checkpoints never silently fail for want of one.
fn state_dir(given: Option<&str>) -> Option<PathBuf> {
    match given {
        Some("") => None,
        Some(d) => Some(PathBuf::from(d)),
        None => Some(default_state_dir(
            std::env::var_os("STATE_DIRECTORY"),
            rustix::process::geteuid().is_root(),
            std::env::var_os("XDG_STATE_HOME"),
            std::env::var_os("HOME"),
        )),
    }
}

fn default_state_dir(
    systemd: Option<std::ffi::OsString>,
    root: bool,
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    let nonempty = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty());
    if let Some(first) = nonempty(systemd).and_then(|v| {
        v.to_str()
            .and_then(|s| s.split(':').next())
            .map(PathBuf::from)
    }) {
        return first;
    }
    if root {
        return PathBuf::from("/var/lib/gateway_exporter");
    }
    // XDG: a relative $XDG_STATE_HOME is invalid and ignored.
    let base = nonempty(xdg_state_home)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| nonempty(home).map(|h| PathBuf::from(h).join(".local/state")));
    match base {
        Some(b) => b.join("gateway_exporter"),
        None => PathBuf::from("/var/lib/gateway_exporter"),
    }
}

/// A path or glob to follow: not empty, and a glob that compiles.
fn check_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("an empty path follows nothing: expected a file path or glob".into());
    }
    paths::check_pattern(p).map_err(|e| format!("bad glob {p:?}: {e}"))
}

fn build_classifier(
    profile: Profile,
    dialect: Option<Dialect>,
    rules: &[UserRule],
    max_line_bytes: usize,
) -> Result<Classifier, String> {
    Classifier::builder()
        .profile(profile)
        .dialect(dialect)
        .user_rules(rules.to_vec())
        .max_line_bytes(max_line_bytes)
        .build()
        .map_err(|e| e.to_string())
}

/// The classifier `scan` and `explain` use.
pub fn classifier(args: &ClassifyArgs) -> Result<Classifier, SettingsError> {
    let max_line_bytes = max_line_bytes(args.max_line_bytes)?;
    let rules = match &args.config {
        Some(path) => FileSettings::load(path)?.rules,
        None => Vec::new(),
    };
    build_classifier(args.profile, args.dialect, &rules, max_line_bytes)
        .map_err(|m| flag("--config", m))
}

fn dialect_of(file: &str, d: &Spanned<String>) -> Result<Dialect, ConfigError> {
    Dialect::parse_numbering(&d.value).ok_or_else(|| {
        ConfigError::at(
            file,
            d,
            format!(
                "unknown dialect {:?}: expected bsd, linux, winsock or svr4",
                d.value
            ),
        )
    })
}

impl FileSettings {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<FileSettings, ConfigError> {
        Self::from_file(&ConfigFile::load(path)?)
    }

    /// Validates a parsed config file.
    pub fn from_file(cfg: &ConfigFile) -> Result<FileSettings, ConfigError> {
        let file = cfg.file.as_str();
        let mut rules: Vec<UserRule> = Vec::new();
        for r in &cfg.rules {
            let rule = user_rule(file, r)?;
            if rules.iter().any(|u| u.name == rule.name) {
                return Err(ConfigError::at(
                    file,
                    &r.name,
                    format!("duplicate rule name {:?}", rule.name),
                ));
            }
            rules.push(rule);
        }
        let mut sources: Vec<SourceSettings> = Vec::new();
        for s in &cfg.sources {
            let source = source(cfg, s)?;
            if sources.iter().any(|o| o.name == source.name) {
                return Err(ConfigError::at(
                    file,
                    &s.name,
                    format!("duplicate source name {:?}", source.name),
                ));
            }
            let stdin = |s: &SourceSettings| matches!(s.input, Input::Stdin);
            if stdin(&source) && sources.iter().any(stdin) {
                return Err(ConfigError::at(
                    file,
                    &s.name,
                    "standard input can be read by one source only".into(),
                ));
            }
            sources.push(source);
        }
        let watch_errnames = match &cfg.watch_errnames {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for n in list {
                    let Some(name) = table().by_name(&n.value) else {
                        return Err(ConfigError::at(
                            file,
                            n,
                            format!("unknown errname {:?}", n.value),
                        ));
                    };
                    out.push(name);
                }
                Some(out)
            }
        };
        let (tcp_local_ports, tcp_remote_ports) = cfg.tcp.as_ref().map_or((vec![], vec![]), |t| {
            (t.local_ports.clone(), t.remote_ports.clone())
        });
        Ok(FileSettings {
            rules,
            sources,
            watch_errnames,
            tcp_local_ports,
            tcp_remote_ports,
            gateway_processes: cfg.gateway_processes.clone(),
        })
    }
}

fn user_rule(file: &str, r: &RawRule) -> Result<UserRule, ConfigError> {
    let dialect = r
        .dialect
        .as_ref()
        .map(|d| dialect_of(file, d))
        .transpose()?;
    let op = r
        .op
        .as_ref()
        .map(|o| {
            Op::parse(&o.value).ok_or_else(|| {
                ConfigError::at(
                    file,
                    o,
                    format!(
                        "unknown op {:?}: expected read, write, connect, accept, bind, close or unknown",
                        o.value
                    ),
                )
            })
        })
        .transpose()?;
    // An empty anchor is in every line: each would be classified, and the
    // searcher that skips the rest could not be built.
    if let Some(a) = r.anchors.iter().find(|a| a.value.is_empty()) {
        return Err(ConfigError::at(
            file,
            a,
            "empty anchor: an anchor is a literal every matching line contains \
             (leave `anchors` out to derive them from the regex)"
                .into(),
        ));
    }
    let rule = UserRule {
        name: r.name.value.clone(),
        regex: r.regex.value.clone(),
        dialect,
        op,
        anchors: r.anchors.iter().map(|a| a.value.clone()).collect(),
    };
    // Compile it alone, now, so a bad regex points at its own line.
    build_classifier(
        Profile::Generic,
        None,
        std::slice::from_ref(&rule),
        crate::limits::DEFAULT_MAX_LINE_BYTES,
    )
    .map_err(|e| ConfigError::at(file, &r.regex, e))?;
    Ok(rule)
}

/// A key that belongs to another source type is a mistake, not a no-op.
fn reject_foreign_keys(file: &str, s: &RawSource, kind: &str) -> Result<(), ConfigError> {
    let first = |v: &Option<Vec<Spanned<String>>>| {
        v.as_ref()
            .and_then(|v| v.first())
            .map(|x| (x.referenced.line(), x.referenced.column()))
    };
    let at = |(line, column): (u64, u64), key: &str| ConfigError {
        file: file.to_string(),
        line: line as usize,
        column: column as usize,
        message: format!("`{key}` is not a key of a {kind} source"),
    };
    let pos = |x: &Spanned<String>| (x.referenced.line(), x.referenced.column());
    let posn = |x: &Spanned<u64>| (x.referenced.line(), x.referenced.column());
    type Key<'a> = (&'a str, &'a [&'a str], Option<(u64, u64)>);
    let keys: [Key<'_>; 11] = [
        ("paths", &["file"], s.paths.first().map(pos)),
        ("rotated", &["file"], first(&s.rotated)),
        (
            "start_at",
            &["file", "journald"],
            s.start_at.as_ref().map(pos),
        ),
        ("listen", &["syslog"], first(&s.listen)),
        ("programs", &["syslog"], first(&s.programs)),
        (
            "max_message_bytes",
            &["syslog"],
            s.max_message_bytes.as_ref().map(posn),
        ),
        (
            "receive_buffer_bytes",
            &["syslog"],
            s.receive_buffer_bytes.as_ref().map(posn),
        ),
        ("units", &["journald"], first(&s.units)),
        ("matches", &["journald"], first(&s.matches)),
        ("directory", &["journald"], s.directory.as_ref().map(pos)),
        ("files", &["journald"], first(&s.files)),
    ];
    for (key, types, place) in keys {
        if let Some(place) = place {
            if !types.contains(&kind) {
                return Err(at(place, key));
            }
        }
    }
    Ok(())
}

fn syslog_config(file: &str, s: &RawSource) -> Result<SyslogConfig, ConfigError> {
    let listen = s.listen.as_deref().unwrap_or_default();
    if listen.is_empty() {
        return Err(ConfigError::at(
            file,
            &s.name,
            "a syslog source needs `listen`: e.g. [\"udp://127.0.0.1:5514\", \"tcp://[::1]:5514\"]"
                .into(),
        ));
    }
    let mut cfg = SyslogConfig::new(
        listen
            .iter()
            .map(|l| Listen::parse(&l.value).map_err(|m| ConfigError::at(file, l, m)))
            .collect::<Result<_, _>>()?,
    );
    for p in s.programs.iter().flatten() {
        glob::Pattern::new(&p.value)
            .map_err(|e| ConfigError::at(file, p, format!("bad glob {:?}: {e}", p.value)))?;
        cfg.programs.push(p.value.clone());
    }
    if let Some(n) = &s.max_message_bytes {
        let range = 480..=(1 << 20);
        if !range.contains(&n.value) {
            return Err(ConfigError::at(
                file,
                n,
                format!(
                    "max_message_bytes {} is outside 480..=1048576 (RFC 5424 requires 480)",
                    n.value
                ),
            ));
        }
        cfg.max_message_bytes = n.value as usize;
    }
    if let Some(n) = &s.receive_buffer_bytes {
        if !(4096..=(1 << 30)).contains(&n.value) {
            return Err(ConfigError::at(
                file,
                n,
                format!(
                    "receive_buffer_bytes {} is outside 4096..=1073741824",
                    n.value
                ),
            ));
        }
        cfg.receive_buffer_bytes = Some(n.value as usize);
    }
    Ok(cfg)
}

fn journald_config(cfg: &ConfigFile, s: &RawSource) -> Result<JournaldConfig, ConfigError> {
    let file = cfg.file.as_str();
    let mut j = JournaldConfig::new();
    j.units = s.units.iter().flatten().map(|u| u.value.clone()).collect();
    for m in s.matches.iter().flatten() {
        let ok = m.value.split_once('=').is_some_and(|(field, _)| {
            !field.is_empty()
                && field
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
        if !ok {
            return Err(ConfigError::at(
                file,
                m,
                format!(
                    "match {:?}: expected FIELD=value with an upper-case journal field (SYSLOG_IDENTIFIER=postfix/smtp)",
                    m.value
                ),
            ));
        }
        j.matches.push(m.value.clone());
    }
    j.directory = s.directory.as_ref().map(|d| cfg.resolve(&d.value));
    j.files = s
        .files
        .iter()
        .flatten()
        .map(|f| cfg.resolve(&f.value))
        .collect();
    j.start_at = start_at_of(file, s)?;
    Ok(j)
}

fn source_profile(file: &str, s: &RawSource) -> Result<Profile, ConfigError> {
    match &s.profile {
        None => Ok(Profile::Auto),
        Some(p) => p
            .value
            .parse()
            .map_err(|e| ConfigError::at(file, p, format!("{e}"))),
    }
}

fn source(cfg: &ConfigFile, s: &RawSource) -> Result<SourceSettings, ConfigError> {
    let file = cfg.file.as_str();
    let name = &s.name.value;
    if name.is_empty() {
        return Err(ConfigError::at(
            file,
            &s.name,
            "source name must not be empty".into(),
        ));
    }
    let kind = s.kind.as_ref().map_or("file", |k| k.value.as_str());
    reject_foreign_keys(file, s, kind)?;
    let poll_interval = s
        .poll_interval
        .as_ref()
        .map(|d| crate::duration::parse(&d.value).map_err(|m| ConfigError::at(file, d, m)))
        .transpose()?;
    let input = match kind {
        "file" => {
            let mut follow = follow_config(cfg, s)?;
            if let Some(d) = poll_interval {
                follow.poll_interval = d;
            }
            Input::File(follow)
        }
        "syslog" => Input::Syslog(syslog_config(file, s)?),
        "journald" => Input::Journald(journald_config(cfg, s)?),
        "stdin" => Input::Stdin,
        other => {
            let k = s.kind.as_ref().expect("a type other than file was written");
            return Err(ConfigError::at(
                file,
                k,
                format!("unknown source type {other:?}: expected file, syslog, journald or stdin"),
            ));
        }
    };
    Ok(SourceSettings {
        name: name.clone(),
        input,
        profile: source_profile(file, s)?,
        dialect: s
            .dialect
            .as_ref()
            .map(|d| dialect_of(file, d))
            .transpose()?,
        poll_interval,
    })
}

/// `start_at`, where a file or journal source starts without a position.
fn start_at_of(file: &str, s: &RawSource) -> Result<StartAt, ConfigError> {
    match &s.start_at {
        None => Ok(StartAt::End),
        Some(v) => StartAt::parse(&v.value).ok_or_else(|| {
            ConfigError::at(
                file,
                v,
                format!("unknown start_at {:?}: expected end or beginning", v.value),
            )
        }),
    }
}

/// A file source's paths, rotated names and start.
fn follow_config(cfg: &ConfigFile, s: &RawSource) -> Result<FollowConfig, ConfigError> {
    let file = cfg.file.as_str();
    if s.paths.is_empty() {
        return Err(ConfigError::at(
            file,
            &s.name,
            format!(
                "source {:?} has no paths: expected a list of files or globs",
                s.name.value
            ),
        ));
    }
    let located_paths = |list: &[Spanned<String>]| -> Result<Vec<String>, ConfigError> {
        list.iter()
            .map(|p| {
                check_path(&p.value).map_err(|m| ConfigError::at(file, p, m))?;
                Ok(cfg.resolve(&p.value).display().to_string())
            })
            .collect()
    };
    let mut follow = FollowConfig::new(located_paths(&s.paths)?);
    follow.start_at = start_at_of(file, s)?;
    if let Some(rotated) = &s.rotated {
        follow.rotated = located_paths(rotated)?;
    }
    Ok(follow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        let cfg = ConfigFile::parse("c.yml", text).unwrap();
        FileSettings::from_file(&cfg).unwrap_err().to_string()
    }

    #[test]
    fn bad_regex_is_located() {
        let e = err("rules:\n  - name: a\n    regex: 'x(?P<errno>[0-9]+'\n");
        assert!(e.starts_with("c.yml:3:"), "{e}");
        assert!(e.contains("invalid regex"), "{e}");
    }

    #[test]
    fn bad_values_are_located() {
        for (text, at) in [
            (
                "rules:\n  - name: a\n    regex: 'x'\n    dialect: vms\n",
                "c.yml:4:",
            ),
            (
                "rules:\n  - name: a\n    regex: 'x'\n    op: send\n",
                "c.yml:4:",
            ),
            (
                "sources:\n  - name: a\n    paths: [x]\n    profile: qmail\n",
                "c.yml:4:",
            ),
            (
                "sources:\n  - name: a\n    paths: [x]\n    start_at: middle\n",
                "c.yml:4:",
            ),
            (
                "sources:\n  - name: a\n    paths: [x]\n    poll_interval: 1.5s\n",
                "c.yml:4:",
            ),
            ("sources:\n  - name: a\n    paths: ['']\n", "c.yml:3:"),
            (
                "sources:\n  - name: a\n    paths: [x, '/l/[x']\n",
                "c.yml:3:16:",
            ),
            (
                "sources:\n  - name: a\n    paths: [x]\n    rotated: ['[']\n",
                "c.yml:4:",
            ),
            ("sources:\n  - name: a\n", "c.yml:2:"),
            (
                "sources:\n  - name: a\n    type: stdin\n    paths: [x]\n",
                "c.yml:4:",
            ),
            ("sources:\n  - name: a\n    type: tcp\n", "c.yml:3:"),
            ("sources:\n  - name: a\n    type: syslog\n", "c.yml:2:"),
            (
                "sources:\n  - name: a\n    type: syslog\n    listen: [\"udp:/x\"]\n",
                "c.yml:4:",
            ),
            (
                "sources:\n  - name: a\n    type: syslog\n    listen: [\"udp://127.0.0.1:514\"]\n    units: [x]\n",
                "c.yml:5:",
            ),
            (
                "sources:\n  - name: a\n    type: syslog\n    listen: [\"udp://127.0.0.1:514\"]\n    max_message_bytes: 10\n",
                "c.yml:5:",
            ),
            (
                "sources:\n  - name: a\n    type: journald\n    matches: [\"lower=x\"]\n",
                "c.yml:4:",
            ),
            (
                "sources:\n  - name: a\n    type: journald\n    paths: [x]\n",
                "c.yml:4:",
            ),
            (
                "sources:\n  - {name: a, type: stdin}\n  - {name: b, type: stdin}\n",
                "c.yml:3:",
            ),
            ("watch_errnames: [ENOTCONN, EFOO]\n", "c.yml:1:"),
            // Its value becomes a label: log text must never get there.
            (
                "rules:\n  - name: a\n    regex: 'x=(?P<errno>\\S+)'\n",
                "c.yml:3:",
            ),
        ] {
            let e = err(text);
            assert!(e.starts_with(at), "{text:?}: {e}");
        }
    }

    #[test]
    fn state_dir_defaults_follow_systemd_then_root_then_xdg() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            default_state_dir(os("/var/lib/gw:/other"), false, None, os("/home/u")),
            PathBuf::from("/var/lib/gw")
        );
        assert_eq!(
            default_state_dir(None, true, os("/x"), os("/root")),
            PathBuf::from("/var/lib/gateway_exporter")
        );
        assert_eq!(
            default_state_dir(None, false, os("/home/u/.st"), os("/home/u")),
            PathBuf::from("/home/u/.st/gateway_exporter")
        );
        assert_eq!(
            default_state_dir(None, false, os("relative"), os("/home/u")),
            PathBuf::from("/home/u/.local/state/gateway_exporter")
        );
    }

    #[test]
    fn a_full_config_validates() {
        let cfg = ConfigFile::parse(
            "/etc/gw/c.yml",
            "rules:\n  - name: mine\n    regex: 'sockerr (?P<errno>[0-9]+)'\n    dialect: bsd\n    op: write\n\
             sources:\n  - name: gw\n    paths: ['gw/*.log']\n    profile: msmail\n    start_at: beginning\n    poll_interval: 1m30s\n\
             watch_errnames: [WSAENOTCONN]\n",
        )
        .unwrap();
        let s = FileSettings::from_file(&cfg).unwrap();
        assert_eq!(s.rules[0].dialect, Some(Dialect::Bsd));
        assert_eq!(s.rules[0].op, Some(Op::Write));
        assert_eq!(s.sources[0].profile, Profile::Msmail);
        let Input::File(f) = &s.sources[0].input else {
            panic!("a file source")
        };
        assert_eq!(f.start_at, StartAt::Beginning);
        assert_eq!(f.patterns, ["/etc/gw/gw/*.log"]);
        assert_eq!(f.poll_interval, Duration::from_secs(90));
        assert_eq!(
            s.watch_errnames.unwrap()[0].as_str(),
            "ENOTCONN",
            "WSA names are canonical"
        );
    }
}
