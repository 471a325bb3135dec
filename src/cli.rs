//! Command-line definitions. Flags follow Prometheus exporter conventions
//! (`--web.listen-address`, `--log.level`); parsing only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::classify::Profile;
use crate::errno::Dialect;
use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "gateway_exporter",
    version,
    about = "Counts the socket errors gateways log, by operation and errno, for Prometheus."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read log lines on stdin; print one JSON object per line saying whether
    /// and how it is counted.
    Explain(ExplainArgs),
    /// Read whole files (`-` = stdin, .gz transparently) and print totals.
    Scan(ScanArgs),
    /// Validate a config file without running anything (exit 2 if invalid).
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
}

/// How lines are classified.
#[derive(Debug, Clone, Args)]
pub struct ClassifyArgs {
    /// Built-in profile: auto, msmail, postfix, exim, sendmail, nginx,
    /// haproxy, windows, generic.
    #[arg(long, default_value = "auto", value_parser = parse_profile)]
    pub profile: Profile,
    /// Numbering of numbers logged without a text: bsd, linux, winsock,
    /// svr4 (default: the profile's own).
    #[arg(long, value_parser = parse_dialect)]
    pub dialect: Option<Dialect>,
    /// YAML config with user rules (tried before the built-in profiles).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Lines longer than this many bytes are counted as oversize and skipped.
    #[arg(long = "log.max-line-bytes", default_value_t = crate::classify::DEFAULT_MAX_LINE_BYTES)]
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
    /// Files to scan; `-` is stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse().map_err(|e| format!("{e}"))
}

fn parse_dialect(s: &str) -> Result<Dialect, String> {
    Dialect::parse_numbering(s).ok_or_else(|| "expected bsd, linux, winsock or svr4".to_string())
}
