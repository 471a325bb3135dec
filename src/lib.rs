//! gateway_exporter: counts the socket errors that mail and network gateways
//! log, decoded by errno in the right numbering, and serves them to
//! Prometheus.
//!
//! Data flows one way — source → classifier → counters → exposition — and
//! the modules are listed in that order, one line each. A module may import
//! only those above it (leaves first); `tests/walls.rs` enforces it.
//!
//! - [`limits`]: bounds every stage shares (line length, label values).
//! - [`clock`]: the wall clock, read in one place.
//! - [`duration`]: Prometheus' duration grammar.
//! - [`timestamp`]: when a log line says it was written.
//! - [`version`]: what this build is, as Prometheus exporters print it.
//! - [`errno`]: the tables — numbers and texts of every error, per numbering.
//! - [`classify`]: a line becomes a [`classify::Verdict`]; one file per format.
//! - [`source`]: where bytes come from, behind one trait, with positions.
//! - [`checkpoint`]: what survives a restart, and the journal that feeds it.
//! - [`metrics`]: the counters, each family declared once, and block counting.
//! - [`sockstat`]: scrape-time collectors of the host's socket statistics.
//! - [`status`]: each source's latest state and 24 h of errname totals.
//! - [`pipeline`]: runs sources into the counters, one thread per source.
//! - [`report`]: the `scan` and `explain` commands' output.
//! - [`http`]: the HTTP server and its routes; it renders, never counts.
//! - [`logging`]: the exporter's own log lines (logfmt or JSON).
//! - [`cli`]: the command line, exactly as given.
//! - [`config`]: the YAML file, exactly as written, with locations.
//! - [`settings`]: flags + YAML → validated settings, for every command.
//! - [`diagnose`]: the escalation report: counts, timeline, host evidence, redaction.
//! - [`serve`]: wiring for the live exporter: settings in, running server out.
//!
//! The binary (`src/main.rs`) only parses the command line and calls these.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diagnose;
pub mod duration;
pub mod errno;
pub mod http;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod serve;
pub mod settings;
pub mod sockstat;
pub mod source;
pub mod status;
pub mod timestamp;
pub mod version;
