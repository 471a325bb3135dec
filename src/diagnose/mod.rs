//! `diagnose`: the evidence the runbook's escalation section asks for, in
//! one Markdown report a TCP/IP vendor can read — socket errors by op and
//! errno over a window, their timeline, the latest matching lines, TCP
//! counters and their deltas over a short sample, socket usage, per-port
//! connection states, restart witnesses, versions, and the exporter's own
//! health.
//!
//! It owns nothing live: it re-reads the file sources of validated
//! [`Settings`] with each source's own classifier (the same one `serve`
//! counts with), filters counted lines to the window by the times they
//! carry (a line without a time is kept: it cannot be placed), and gathers
//! the socket-statistics collectors into a registry of its own. Syslog,
//! journald and stdin sources cannot be re-read; the report says so and
//! points at the live metrics. It never writes state and never starts a
//! source; the caller chooses where the report goes ([`write_dir`] or a
//! string), and [`redact`] masks it as a whole, raw files included.
//!
//! ```no_run
//! use std::time::Duration;
//! use gateway_exporter::diagnose::{Options, run};
//! # fn settings() -> gateway_exporter::settings::Settings { unimplemented!() }
//! let options = Options { since: Duration::from_secs(86_400), sample: Duration::from_secs(2), redact: true, live: None };
//! let report = run(&settings(), &options);
//! print!("{}", report.markdown);
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use prometheus::proto::{MetricFamily, MetricType};

use crate::classify::{Classifier, LoggedErrno, Op, RepeatFilter, Verdict};
use crate::errno::Errname;
use crate::report::timeline::Timeline;
use crate::settings::{Input, Settings, SourceSettings};
use crate::source::file::paths;
use crate::source::framing::Framer;
use crate::source::open_input;
use crate::timestamp::{self, LineClock, Zone, rfc3339_utc};

pub mod redact;

/// How many of the latest matching lines the report shows.
pub const RECENT_LINES: usize = 20;
/// At most this many matching lines go to `lines.txt`: a day of a storm
/// must not make the attachment unsendable.
pub const MAX_RAW_LINES: usize = 100_000;
/// `GET /diagnose` covers the default window of the command.
pub const HTTP_SINCE: Duration = Duration::from_secs(86_400);
/// `GET /diagnose` samples for a shorter time than the command: a scrape
/// client's timeout is often 10 s.
pub const HTTP_SAMPLE: Duration = Duration::from_secs(1);
/// The timeline's bucket.
pub const BUCKET_SECONDS: u64 = 3600;

/// What the report covers.
#[derive(Debug, Clone)]
pub struct Options {
    /// Counted lines older than this (by their own times) are left out.
    pub since: Duration,
    /// The interval between the two samples of the TCP counters.
    pub sample: Duration,
    /// Mask addresses and host names ([`redact`]).
    pub redact: bool,
    /// The running exporter's sources, when the report is made inside it
    /// (`/diagnose`): whether each is up, and what it cannot read.
    pub live: Option<Vec<crate::status::SourceStatus>>,
}

/// A finished report: the Markdown and the raw files beside it.
#[derive(Debug, Clone)]
pub struct Report {
    pub markdown: String,
    /// File name → contents.
    pub raw: Vec<(String, String)>,
}

/// The heading of every section, in order: tests and readers rely on it.
pub const SECTIONS: [&str; 12] = [
    "## Scope",
    "## Socket errors by op and errno",
    "## Timeline",
    "## Most recent matching lines",
    "## TCP counters",
    "## Socket usage",
    "## Connections by port",
    "## Restarts",
    "## Collectors",
    "## Versions",
    "## Exporter health",
    "## Raw files",
];

/// One file read: its lines and bytes, or why it could not be read.
type FileRead = (PathBuf, Result<(u64, u64), String>);

/// What one file source's re-read found.
#[derive(Debug, Default)]
struct SourceScan {
    /// Path, lines, bytes, or why it could not be read.
    files: Vec<FileRead>,
    errors: BTreeMap<(Op, LoggedErrno, Errname), u64>,
    repeats: u64,
    unrecognized: u64,
    /// Counted lines whose own time is before the window.
    before_window: u64,
    untimed: u64,
}

/// The counting side of the report, over every file source.
struct Scanned {
    per_source: Vec<(String, Result<SourceScan, String>)>,
    timeline: Timeline,
    recent: VecDeque<String>,
    lines: Vec<String>,
    lines_dropped: u64,
}

/// Runs the whole report for `settings` (reading the files and sampling
/// the counters takes `options.sample` plus the scan).
pub fn run(settings: &Settings, options: &Options) -> Report {
    let now = crate::clock::unix_now();
    let start = now - options.since.as_secs_f64();
    let scanned = scan_sources(settings, start, now);
    let mut md = String::new();
    let mut raw = Vec::new();
    let _ = writeln!(md, "# gateway_exporter diagnose report\n");
    let _ = writeln!(
        md,
        "Generated {} on the host this exporter runs on.\n",
        rfc3339_utc(now)
    );

    scope_section(&mut md, settings, &scanned, start, now);
    errors_section(&mut md, &scanned);

    let _ = writeln!(md, "{}\n", SECTIONS[2]);
    let _ = writeln!(
        md,
        "Errors per {} h bucket (UTC), by the lines' own times.\n",
        BUCKET_SECONDS / 3600
    );
    let mut table = Vec::new();
    match scanned.timeline.write_table(&mut table) {
        Ok(()) if !table.is_empty() => {
            let _ = writeln!(md, "```\n{}```\n", String::from_utf8_lossy(&table));
        }
        _ => md.push_str("No counted errors in the window.\n\n"),
    }
    if let Ok(j) = scanned.timeline.json() {
        raw.push(("timeline.json".to_string(), format!("{j}\n")));
    }

    let _ = writeln!(md, "{}\n", SECTIONS[3]);
    if scanned.recent.is_empty() {
        md.push_str("None in the window.\n\n");
    } else {
        let _ = writeln!(
            md,
            "The last {} of {} counted lines in the window (all in `lines.txt`).\n",
            scanned.recent.len(),
            scanned.lines.len() as u64 + scanned.lines_dropped
        );
        md.push_str("```\n");
        for l in &scanned.recent {
            let _ = writeln!(md, "{l}");
        }
        md.push_str("```\n\n");
    }
    let mut lines_txt = scanned.lines.join("\n");
    if !lines_txt.is_empty() {
        lines_txt.push('\n');
    }
    if scanned.lines_dropped > 0 {
        let _ = writeln!(
            lines_txt,
            "# {} more lines left out (at most {MAX_RAW_LINES})",
            scanned.lines_dropped
        );
    }
    raw.push(("lines.txt".to_string(), lines_txt));

    host_sections(&mut md, &mut raw, settings, options.sample);
    versions_section(&mut md, settings);
    health_section(&mut md, settings, now);
    if let Some(live) = &options.live {
        live_section(&mut md, live);
    }

    let _ = writeln!(md, "{}\n", SECTIONS[11]);
    md.push_str("With `--output DIR`, beside this `report.md`:\n\n");
    for (name, _) in &raw {
        let _ = writeln!(md, "- `{name}`");
    }
    md.push('\n');

    let mut report = Report { markdown: md, raw };
    if options.redact {
        let mut r = redact::Redactor::new();
        report.markdown = r.redact(&report.markdown);
        for (_, text) in &mut report.raw {
            *text = r.redact(text);
        }
        report
            .markdown
            .push_str("_Redacted: IP addresses, e-mail addresses and host names are tokens (`ip-N`, `mail-N@example.invalid`, `host-N`), the same value always the same token._\n");
    }
    report
}

/// Writes `report.md` and the raw files into `dir`, creating it.
pub fn write_dir(report: &Report, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.md"), &report.markdown)?;
    for (name, text) in &report.raw {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// The files a file source re-reads: rotated ones first, so the lines go
/// in roughly the order they were written.
fn source_files(patterns: &[String], rotated: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in rotated.iter().chain(patterns) {
        let mut found = paths::glob_files(p).unwrap_or_default();
        found.sort();
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

fn scan_sources(settings: &Settings, start: f64, now: f64) -> Scanned {
    let mut scanned = Scanned {
        per_source: Vec::new(),
        timeline: Timeline::new(BUCKET_SECONDS),
        recent: VecDeque::new(),
        lines: Vec::new(),
        lines_dropped: 0,
    };
    for s in &settings.sources {
        let Input::File(f) = &s.input else {
            continue;
        };
        let result = settings.classifier(s).map_err(|e| e.to_string()).map(|c| {
            let mut out = SourceScan::default();
            for path in source_files(&f.patterns, &f.rotated) {
                let read = scan_file(&c, s, &path, start, now, &mut out, &mut scanned);
                out.files.push((path, read.map_err(|e| e.to_string())));
            }
            out
        });
        scanned.per_source.push((s.name.clone(), result));
    }
    scanned
}

fn scan_file(
    c: &Classifier,
    source: &SourceSettings,
    path: &Path,
    start: f64,
    now: f64,
    out: &mut SourceScan,
    scanned: &mut Scanned,
) -> io::Result<(u64, u64)> {
    let mut input = open_input(path)?;
    let zone = Zone::local();
    let mut clock = LineClock::new(zone.clone());
    let mut repeats = RepeatFilter::default();
    let mut framer = Framer::new(c.max_line_bytes());
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut on_block = |block: &[u8]| {
        let stats = c.scan_block(block, |v, line| match repeats.apply(v) {
            Verdict::Event(e) => {
                let own = timestamp::parse(line, now, &zone);
                let at = clock.time_of(line, now);
                if own.is_some_and(|t| t < start) {
                    out.before_window += 1;
                    return;
                }
                if own.is_none() {
                    out.untimed += 1;
                }
                let key = (e.op, e.errno.clone().unwrap_or_default(), e.errname);
                *out.errors.entry(key).or_default() += 1;
                scanned.timeline.add(e.errname.as_str(), at);
                let text = format!(
                    "{} {}: {}",
                    source.name,
                    path.display(),
                    String::from_utf8_lossy(line).trim_end()
                );
                if scanned.recent.len() == RECENT_LINES {
                    scanned.recent.pop_front();
                }
                scanned.recent.push_back(text.clone());
                if scanned.lines.len() < MAX_RAW_LINES {
                    scanned.lines.push(text);
                } else {
                    scanned.lines_dropped += 1;
                }
            }
            Verdict::Repeat { .. } => out.repeats += 1,
            Verdict::Unrecognized => out.unrecognized += 1,
            Verdict::NoMatch => {}
        });
        lines += stats.lines;
    };
    loop {
        let n = framer.read_from(&mut input)?;
        bytes += n as u64;
        if n == 0 {
            framer.finish(|d| on_block(d.block));
            break;
        }
        framer.drain(|d| on_block(d.block));
    }
    Ok((lines, bytes))
}

fn scope_section(md: &mut String, settings: &Settings, scanned: &Scanned, start: f64, now: f64) {
    let _ = writeln!(md, "{}\n", SECTIONS[0]);
    let _ = writeln!(
        md,
        "Window: {} to {} (counted lines by their own times; lines without a time are kept).\n",
        rfc3339_utc(start),
        rfc3339_utc(now)
    );
    md.push_str("| source | kind | profile | read |\n|---|---|---|---|\n");
    for s in &settings.sources {
        let (kind, read) = match &s.input {
            Input::File(f) => ("file", format!("patterns {}", f.patterns.join(", "))),
            Input::Stdin => ("stdin", not_rereadable()),
            Input::Syslog(_) => ("syslog", not_rereadable()),
            Input::Journald(_) => ("journald", not_rereadable()),
        };
        let _ = writeln!(
            md,
            "| {} | {kind} | {} | {read} |",
            s.name,
            s.profile.as_str()
        );
    }
    md.push('\n');
    md.push_str("| source | file | lines | bytes |\n|---|---|---|---|\n");
    if scanned.per_source.is_empty() {
        md.push_str("| | (no file source: nothing re-read) | | |\n");
    }
    for (name, result) in &scanned.per_source {
        match result {
            Ok(scan) if scan.files.is_empty() => {
                let _ = writeln!(md, "| {name} | (no file matches the patterns) | | |");
            }
            Ok(scan) => {
                for (path, read) in &scan.files {
                    match read {
                        Ok((lines, bytes)) => {
                            let _ =
                                writeln!(md, "| {name} | {} | {lines} | {bytes} |", path.display());
                        }
                        Err(e) => {
                            let _ =
                                writeln!(md, "| {name} | {} | unreadable: {e} | |", path.display());
                        }
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(md, "| {name} | classifier failed: {e} | | |");
            }
        }
    }
    md.push('\n');
}

fn not_rereadable() -> String {
    "not re-readable after the fact: see the live `gateway_socket_errors_total` on /metrics".into()
}

fn errors_section(md: &mut String, scanned: &Scanned) {
    let _ = writeln!(md, "{}\n", SECTIONS[1]);
    md.push_str("| source | op | errno | errname | count |\n|---|---|---|---|---:|\n");
    let mut any = false;
    for (name, result) in &scanned.per_source {
        let Ok(scan) = result else { continue };
        for ((op, errno, errname), n) in &scan.errors {
            any = true;
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {n} |",
                op.as_str(),
                if errno.is_empty() { "-" } else { errno },
                errname.as_str()
            );
        }
    }
    if !any {
        md.push_str("| | | | (none in the window) | 0 |\n");
    }
    md.push('\n');
    md.push_str("| source | repeats (not counted) | unrecognized | before the window | without a time |\n|---|---:|---:|---:|---:|\n");
    for (name, result) in &scanned.per_source {
        if let Ok(s) = result {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} |",
                s.repeats, s.unrecognized, s.before_window, s.untimed
            );
        }
    }
    md.push('\n');
}

/// One sample: family name and labels → value, with the family's type.
type Samples = BTreeMap<(String, String), (f64, bool)>;

fn samples(families: &[MetricFamily]) -> Samples {
    let mut out = BTreeMap::new();
    for fam in families {
        let counter = fam.get_field_type() == MetricType::COUNTER;
        for m in fam.get_metric() {
            let labels: Vec<String> = m
                .get_label()
                .iter()
                .map(|l| format!("{}=\"{}\"", l.name(), l.value()))
                .collect();
            let value = if counter {
                m.get_counter().get_value()
            } else {
                m.get_gauge().get_value()
            };
            out.insert((fam.name().to_string(), labels.join(",")), (value, counter));
        }
    }
    out
}

fn host_sections(
    md: &mut String,
    raw: &mut Vec<(String, String)>,
    settings: &Settings,
    sample: Duration,
) {
    let registry = prometheus::Registry::new();
    let mut cfg = settings.sockstat.clone();
    // The exporter's own syslog sockets belong to the running process, not
    // to this one.
    cfg.udp_sockets.clear();
    let registered = crate::sockstat::register(&registry, &cfg);
    let first = samples(&registry.gather());
    std::thread::sleep(sample);
    let families = registry.gather();
    let second = samples(&families);
    raw.push((
        "collectors.prom".to_string(),
        crate::metrics::render_registry(&registry),
    ));
    for name in ["snmp", "netstat", "sockstat", "sockstat6"] {
        let path = settings.sockstat.procfs.join("net").join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            raw.push((format!("proc-net-{name}.txt"), text));
        }
    }

    let _ = writeln!(md, "{}\n", SECTIONS[4]);
    let _ = writeln!(
        md,
        "From `net/snmp` and `net/netstat`, sampled twice {:.1} s apart.\n",
        sample.as_secs_f64()
    );
    md.push_str("| counter | value | delta |\n|---|---:|---:|\n");
    for ((name, labels), (value, counter)) in &second {
        if !name.starts_with("gateway_tcp_")
            || name.starts_with("gateway_tcp_connections")
            || name == "gateway_tcp_queued_bytes"
        {
            continue;
        }
        let delta = match (counter, first.get(&(name.clone(), labels.clone()))) {
            (true, Some((before, _))) => format!("{}", value - before),
            _ => "-".to_string(),
        };
        let _ = writeln!(md, "| {} | {value} | {delta} |", series(name, labels));
    }
    md.push('\n');

    let plain = |md: &mut String, heading: &str, intro: &str, keep: &dyn Fn(&str) -> bool| {
        let _ = writeln!(md, "{heading}\n\n{intro}\n");
        md.push_str("| series | value |\n|---|---:|\n");
        let mut any = false;
        for ((name, labels), (value, _)) in &second {
            if keep(name) {
                any = true;
                let _ = writeln!(md, "| {} | {value} |", series(name, labels));
            }
        }
        if !any {
            md.push_str("| (none reported) | |\n");
        }
        md.push('\n');
    };
    plain(
        md,
        SECTIONS[5],
        "From `net/sockstat` and `net/sockstat6`.",
        &|n| n.starts_with("gateway_sockstat_"),
    );
    let ports = format!(
        "Ports: local {:?}, remote {:?} (the config's `tcp` section and `--tcp.*` flags).",
        cfg.local_ports, cfg.remote_ports
    );
    plain(md, SECTIONS[6], &ports, &|n| {
        n.starts_with("gateway_tcp_connections") || n == "gateway_tcp_queued_bytes"
    });

    let _ = writeln!(md, "{}\n", SECTIONS[7]);
    md.push_str("| what | started |\n|---|---|\n");
    let mut any = false;
    for ((name, labels), (value, _)) in &second {
        if name == "gateway_host_boot_time_seconds" || name == "gateway_process_start_time_seconds"
        {
            any = true;
            let _ = writeln!(md, "| {} | {} |", series(name, labels), rfc3339_utc(*value));
        }
    }
    if !any {
        md.push_str("| (none reported) | |\n");
    }
    md.push('\n');

    plain(
        md,
        SECTIONS[8],
        "Each collector's success (1) or failure (0) this run.",
        &|n| n == "gateway_collector_up",
    );
    if let Err(e) = registered {
        let _ = writeln!(md, "Registering the collectors failed: {e}\n");
    }
}

fn series(name: &str, labels: &str) -> String {
    if labels.is_empty() {
        format!("`{name}`")
    } else {
        format!("`{name}{{{labels}}}`")
    }
}

fn versions_section(md: &mut String, settings: &Settings) {
    let _ = writeln!(md, "{}\n", SECTIONS[9]);
    let kernel = std::fs::read_to_string(settings.sockstat.procfs.join("sys/kernel/osrelease"))
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let _ = writeln!(md, "Kernel: `{kernel}`\n");
    let _ = writeln!(md, "```\n{}```\n", crate::version::block());
}

fn live_section(md: &mut String, live: &[crate::status::SourceStatus]) {
    md.push_str("Live sources of this exporter:\n\n| source | kind | started | up | files | last line | last error | cannot read |\n|---|---|---|---|---:|---|---|---|\n");
    let time = |t: Option<f64>| t.map_or("never".to_string(), rfc3339_utc);
    for s in live {
        let problems: Vec<String> = s
            .problems
            .iter()
            .map(|p| format!("{} ({})", p.what, p.reason))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.kind,
            s.started,
            s.up,
            s.files.map_or("-".to_string(), |n| n.to_string()),
            time(s.last_line),
            time(s.last_error),
            if problems.is_empty() {
                "-".to_string()
            } else {
                problems.join("; ")
            }
        );
    }
    md.push('\n');
}

fn health_section(md: &mut String, settings: &Settings, now: f64) {
    let _ = writeln!(md, "{}\n", SECTIONS[10]);
    match &settings.state.dir {
        None => md.push_str("Checkpoints: off (`--state.dir=\"\"`).\n\n"),
        Some(dir) => match crate::checkpoint::state::load(dir) {
            Ok(None) => {
                let _ = writeln!(md, "Checkpoint in `{}`: none written yet.\n", dir.display());
            }
            Ok(Some(state)) => {
                let _ = writeln!(
                    md,
                    "Checkpoint in `{}`: written {} ({:.0} s ago), sources: {}.\n",
                    dir.display(),
                    rfc3339_utc(state.written_at),
                    now - state.written_at,
                    state
                        .sources
                        .iter()
                        .map(|(name, s)| format!("{name} ({} positions)", s.positions.len()))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Err(e) => {
                let _ = writeln!(md, "Checkpoint in `{}`: unreadable: {e}\n", dir.display());
            }
        },
    }
    md.push_str("| source | path | readable |\n|---|---|---|\n");
    for s in &settings.sources {
        let Input::File(f) = &s.input else { continue };
        let files = source_files(&f.patterns, &f.rotated);
        if files.is_empty() {
            let _ = writeln!(
                md,
                "| {} | {} | no file matches |",
                s.name,
                f.patterns.join(", ")
            );
        }
        for path in files {
            let readable = match std::fs::File::open(&path).and_then(|mut f| f.read(&mut [0u8; 1]))
            {
                Ok(_) => "yes".to_string(),
                Err(e) => format!("no: {e}"),
            };
            let _ = writeln!(md, "| {} | {} | {readable} |", s.name, path.display());
        }
    }
    md.push('\n');
}
