//! gateway_exporter: counts the socket errors that mail and network gateways
//! log, decoded by errno in the right numbering, and serves them to
//! Prometheus.
//!
//! Data flows one way, and the modules are listed in that order:
//!
//! - [`errno`]: the tables — which number means which error in BSD, Linux,
//!   Winsock and SVR4 numbering, and which texts name it.
//! - [`classify`]: a line becomes a [`classify::Verdict`] (an event with op,
//!   errno, errname, dialect and rule; a known repeat; an unrecognised error;
//!   or nothing). One file per log format; a buffer scanner that finds
//!   candidate lines in whole buffers.
//! - [`source`]: where bytes come from and how they are cut into lines
//!   (whole files, gzip, partial last lines, over-long lines).
//! - [`config`]: the YAML config, validated with file and line in every error.
//! - [`metrics`]: the counters and their exposition.
//! - [`report`]: the `scan` and `explain` commands' output.
//! - [`http`]: the HTTP server: accept loop and its limits, `/metrics`
//!   (gzip when asked), the landing page, `/-/healthy` and `/-/ready`.
//!
//! The binary (`src/main.rs`) only parses the command line and calls these.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod classify;
pub mod cli;
pub mod config;
pub mod errno;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod serve;
pub mod sockstat;
pub mod source;
