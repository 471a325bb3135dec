//! The `scan` and `explain` commands: whole files in, totals or per-line
//! verdicts out.
//!
//! This module drives `source` (framing, gzip) and `classify` and formats
//! what they produce; it holds no rules of its own. `scan --format
//! prometheus` renders through [`crate::metrics::LogMetrics`], so a past
//! incident yields exactly the families the live exporter serves.
//!
//! ```
//! use gateway_exporter::classify::Classifier;
//! use gateway_exporter::report::explain;
//! let c = Classifier::builder().build().unwrap();
//! let mut out = Vec::new();
//! explain(&c, &mut &b"ERROR write: (57) Socket is not connected\nhello\n"[..], &mut out).unwrap();
//! let text = String::from_utf8(out).unwrap();
//! assert_eq!(text.lines().nth(1), Some(r#"{"line":2,"matched":false}"#));
//! ```

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::classify::{Classifier, LoggedErrno, Op, RepeatFilter, Verdict};
use crate::errno::Errname;
use crate::metrics::{BlockCounter, LogMetrics};
use crate::timestamp::Zone;

pub mod parallel;
pub mod timeline;
use crate::source::framing::{Drained, Framer};
use crate::source::open_input;
pub use timeline::Timeline;

/// The verdict on one line, as `explain` prints it.
pub fn verdict_json(line_no: u64, v: &Verdict<'_>) -> Value {
    match v {
        Verdict::Event(e) => json!({
            "line": line_no,
            "matched": true,
            "rule": e.rule,
            "op": e.op.as_str(),
            "errno": e.errno,
            "errname": e.errname.as_str(),
            "dialect": e.dialect.as_str(),
        }),
        Verdict::Repeat { rule } => {
            json!({"line": line_no, "matched": false, "repeat": true, "rule": rule})
        }
        Verdict::Unrecognized => json!({"line": line_no, "matched": false, "unrecognized": true}),
        Verdict::NoMatch => json!({"line": line_no, "matched": false}),
    }
}

/// Prints one JSON object per input line.
pub fn explain(c: &Classifier, input: &mut impl Read, out: &mut impl Write) -> io::Result<()> {
    let mut framer = Framer::new(c.max_line_bytes());
    let mut w = ExplainWriter {
        c,
        out,
        line_no: 0,
        repeats: RepeatFilter::default(),
        error: None,
    };
    loop {
        let n = framer.read_from(input)?;
        if n == 0 {
            framer.finish(|d| w.drained(d));
            break;
        }
        framer.drain(|d| w.drained(d));
        if let Some(e) = w.error.take() {
            return Err(e);
        }
    }
    w.error.map_or(Ok(()), Err)
}

struct ExplainWriter<'a, W> {
    c: &'a Classifier,
    out: &'a mut W,
    line_no: u64,
    repeats: RepeatFilter,
    error: Option<io::Error>,
}

impl<W: Write> ExplainWriter<'_, W> {
    fn emit(&mut self, value: Value) {
        if self.error.is_none() {
            if let Err(e) = writeln!(self.out, "{value}") {
                self.error = Some(e);
            }
        }
    }

    fn oversize(&mut self) {
        self.line_no += 1;
        self.emit(json!({"line": self.line_no, "matched": false, "oversize": true}));
    }

    fn drained(&mut self, d: Drained<'_>) {
        // Lines the framer skipped whole came before the block's lines.
        for _ in 0..d.oversize {
            self.oversize();
        }
        if d.block.is_empty() {
            return;
        }
        let block = d.block.strip_suffix(b"\n").unwrap_or(d.block);
        for line in block.split(|b| *b == b'\n') {
            if line.len() > self.c.max_line_bytes() {
                self.oversize();
            } else {
                self.line_no += 1;
                let verdict = self.repeats.apply(self.c.classify(line));
                let v = verdict_json(self.line_no, &verdict);
                self.emit(v);
            }
        }
    }
}

/// Totals for one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub lines: u64,
    pub bytes: u64,
    pub oversize: u64,
    pub matched: u64,
    pub repeats: u64,
    pub unrecognized: u64,
    pub errors: BTreeMap<(Op, LoggedErrno, Errname), u64>,
}

impl Tally {
    /// Adds another input's (or range's) totals.
    pub fn add(&mut self, other: &Tally) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.oversize += other.oversize;
        self.matched += other.matched;
        self.repeats += other.repeats;
        self.unrecognized += other.unrecognized;
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
    }

    fn absorb(&mut self, v: &Verdict<'_>) {
        match v {
            Verdict::Event(e) => {
                self.matched += 1;
                let key = (e.op, e.errno.clone().unwrap_or_default(), e.errname);
                *self.errors.entry(key).or_default() += 1;
            }
            Verdict::Repeat { .. } => self.repeats += 1,
            Verdict::Unrecognized => self.unrecognized += 1,
            Verdict::NoMatch => {}
        }
    }
}

/// Scans one input to the end. `progress` is called now and then with the
/// bytes read so far.
pub fn scan_reader(
    c: &Classifier,
    input: &mut impl Read,
    metrics: Option<(&LogMetrics, &str)>,
    progress: impl FnMut(u64),
) -> io::Result<Tally> {
    scan_reader_with(c, input, metrics, None, progress)
}

/// As [`scan_reader`], adding every counted error to `timeline` at the
/// time its line carries (zone-less times in the host's zone).
pub fn scan_reader_with(
    c: &Classifier,
    input: &mut impl Read,
    metrics: Option<(&LogMetrics, &str)>,
    timeline: Option<&mut Timeline>,
    progress: impl FnMut(u64),
) -> io::Result<Tally> {
    let started = crate::clock::unix_now();
    scan_reader_started(c, input, metrics, timeline, started, progress)
}

/// As [`scan_reader_with`], with the reading time of lines that carry no
/// time given (`started`, Unix seconds), so two scans can be compared.
pub fn scan_reader_started(
    c: &Classifier,
    input: &mut impl Read,
    metrics: Option<(&LogMetrics, &str)>,
    timeline: Option<&mut Timeline>,
    started: f64,
    progress: impl FnMut(u64),
) -> io::Result<Tally> {
    let mut counter = BlockCounter::new(c, metrics).reading_at(started);
    if timeline.is_some() {
        counter = counter.with_line_times(Zone::local());
    }
    scan_with_counter(c, &mut counter, input, metrics, timeline, None, progress)
}

/// Frames `input` into lines and counts them with `counter`. With
/// `unsettled` (a range of a parallel scan), the first candidate lines are
/// set aside uncounted instead: their verdicts depend on lines before the
/// range. The one reading loop of every scan.
pub(crate) fn scan_with_counter(
    c: &Classifier,
    counter: &mut BlockCounter<'_>,
    input: &mut impl Read,
    metrics: Option<(&LogMetrics, &str)>,
    mut timeline: Option<&mut Timeline>,
    mut unsettled: Option<&mut parallel::Unsettled>,
    mut progress: impl FnMut(u64),
) -> io::Result<Tally> {
    let mut tally = Tally::default();
    let mut framer = Framer::new(c.max_line_bytes());
    let mut on_block = |d: Drained<'_>, tally: &mut Tally| {
        let stats = counter.count(d.block, d.oversize, None, |v, line, at| {
            if unsettled.as_mut().is_some_and(|u| u.set_aside(line)) {
                return;
            }
            tally.absorb(v);
            if let (Verdict::Event(e), Some(at), Some(t)) = (v, at, timeline.as_deref_mut()) {
                t.add(e.errname.as_str(), at);
            }
        });
        tally.lines += stats.lines;
        tally.oversize += stats.oversize;
    };
    loop {
        let n = framer.read_from(input)?;
        tally.bytes += n as u64;
        if let Some((m, source)) = metrics {
            m.add_bytes(source, n as u64);
        }
        if n == 0 {
            framer.finish(|d| on_block(d, &mut tally));
            break;
        }
        framer.drain(|d| on_block(d, &mut tally));
        progress(tally.bytes);
    }
    Ok(tally)
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Prometheus,
    /// `--timeline` as a bar chart (the table's form on a terminal).
    Chart,
}

/// What `scan` reports besides the totals.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// `--timeline --bucket`: per-bucket counts instead of totals.
    pub timeline_bucket: Option<u64>,
    /// Where the table goes is a terminal this wide: a timeline is drawn
    /// as a chart there.
    pub terminal_width: Option<usize>,
    /// Threads for one large uncompressed file (0 or 1: one). The
    /// Prometheus format counts on one thread: which unknown errnos get a
    /// label of their own depends on the order they come in.
    pub threads: usize,
}

/// Files smaller than this are scanned on one thread: starting threads
/// and settling their first candidates costs more than it saves.
const PARALLEL_MIN_BYTES: u64 = 16 << 20;

/// Scans `files` and writes the report in `format`.
pub fn scan_files(
    c: &Classifier,
    files: &[PathBuf],
    format: Format,
    out: &mut impl Write,
) -> Result<(), ScanError> {
    scan_files_with(c, files, format, ScanOptions::default(), out)
}

/// As [`scan_files`], with a timeline when `options` asks for one.
pub fn scan_files_with(
    c: &Classifier,
    files: &[PathBuf],
    format: Format,
    options: ScanOptions,
    out: &mut impl Write,
) -> Result<(), ScanError> {
    let mut timeline = options.timeline_bucket.map(Timeline::new);
    match (format, &timeline) {
        (Format::Prometheus, Some(_)) => {
            return Err(ScanError::Usage(
                "--timeline: give --format table, json or chart".into(),
            ));
        }
        (Format::Chart, None) => {
            return Err(ScanError::Usage(
                "--format chart draws a timeline: add --timeline".into(),
            ));
        }
        _ => {}
    }
    let metrics = LogMetrics::new();
    let mut results = Vec::new();
    let show_progress = io::stderr().is_terminal();
    let several = options.threads > 1
        && format != Format::Prometheus
        && files.len() > 1
        && files.iter().all(|p| p.as_os_str() != "-");
    if several {
        for (name, tally, part) in scan_several(c, files, options)? {
            if let (Some(all), Some(part)) = (timeline.as_mut(), part) {
                all.merge(&part);
            }
            results.push((name, tally));
        }
    }
    for path in files.iter().filter(|_| !several) {
        let name = path.display().to_string();
        let mut input = open_input(path).map_err(|source| ScanError::Open {
            path: path.clone(),
            source,
        })?;
        let size = std::fs::metadata(path)
            .map(|m| m.len())
            .ok()
            .filter(|_| name != "-");
        if options.threads > 1
            && format != Format::Prometheus
            && size.is_some_and(|s| s >= PARALLEL_MIN_BYTES)
            && is_plain_file(path)
        {
            let (tally, part) = parallel::scan_file(
                c,
                path,
                options.threads,
                PARALLEL_MIN_BYTES / 4,
                options.timeline_bucket,
            )
            .map_err(|source| ScanError::Read {
                path: path.clone(),
                source,
            })?;
            if let (Some(all), Some(part)) = (timeline.as_mut(), part) {
                all.merge(&part);
            }
            results.push((name, tally));
            continue;
        }
        let mut bar = Progress::new(show_progress, &name, size);
        // Only the Prometheus rendering reads the registry: the other
        // formats print the tally (as the threaded paths do), and filling
        // the registry anyway was a tenth of a counted line.
        let rendered = format == Format::Prometheus;
        if rendered {
            metrics.touch_source(&name);
        }
        let tally = scan_reader_with(
            c,
            &mut input,
            rendered.then_some((&metrics, name.as_str())),
            timeline.as_mut(),
            |n| bar.update(n),
        )
        .map_err(|source| ScanError::Read {
            path: path.clone(),
            source,
        })?;
        bar.done();
        results.push((name, tally));
    }
    let written = match (&timeline, format) {
        (Some(t), Format::Json) => {
            let j = t
                .json()
                .map_err(|e| ScanError::Usage(format!("--bucket: {e}")))?;
            writeln!(out, "{j}")
        }
        (Some(t), Format::Chart) => t.write_chart(out, options.terminal_width.unwrap_or(100)),
        (Some(t), _) => match options.terminal_width {
            Some(w) => t.write_chart(out, w),
            None => t.write_table(out),
        },
        (None, Format::Prometheus) => out.write_all(metrics.render().as_bytes()),
        (None, Format::Json) => writeln!(out, "{}", scan_json(&results)),
        (None, _) => write_table(out, &results),
    };
    written.map_err(ScanError::Write)
}

/// Several files at once, one per thread (each file is counted on its
/// own, as one after another would be: a fresh repeat filter per file).
/// Results come back in the order given.
fn scan_several(
    c: &Classifier,
    files: &[PathBuf],
    options: ScanOptions,
) -> Result<Vec<(String, Tally, Option<Timeline>)>, ScanError> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    type One = Result<(Tally, Option<Timeline>), ScanError>;
    let started = crate::clock::unix_now();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<One>>> = Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..options.threads.min(files.len()) {
            s.spawn(|| {
                // Its own regex cache pools (see parallel.rs).
                let c = c.clone();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let one = open_input(path)
                        .map_err(|source| ScanError::Open {
                            path: path.clone(),
                            source,
                        })
                        .and_then(|mut input| {
                            let mut timeline = options.timeline_bucket.map(Timeline::new);
                            let tally = scan_reader_started(
                                &c,
                                &mut input,
                                None,
                                timeline.as_mut(),
                                started,
                                |_| {},
                            )
                            .map_err(|source| ScanError::Read {
                                path: path.clone(),
                                source,
                            })?;
                            Ok((tally, timeline))
                        });
                    done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(one);
                }
            });
        }
    });
    let done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    files
        .iter()
        .zip(done)
        .map(|(path, one)| {
            let (tally, timeline) =
                one.unwrap_or_else(|| Err(ScanError::Usage("a scan thread panicked".into())))?;
            Ok((path.display().to_string(), tally, timeline))
        })
        .collect()
}

/// A regular file that is not gzip: one that can be read at any offset.
fn is_plain_file(path: &Path) -> bool {
    use std::io::Read as _;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut magic = [0u8; 2];
    !matches!(f.read_exact(&mut magic), Ok(()) if magic == [0x1f, 0x8b])
}

/// Errors of `scan`.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: read error: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the report: {0}")]
    Write(#[source] io::Error),
    #[error("{0}")]
    Usage(String),
}

fn tally_json(file: &str, t: &Tally) -> Value {
    let errors: Vec<Value> = t
        .errors
        .iter()
        .map(|((op, errno, errname), n)| {
            json!({
                "op": op.as_str(),
                "errno": if errno.is_empty() { Value::Null } else { Value::from(errno.as_str()) },
                "errname": errname.as_str(),
                "count": n,
            })
        })
        .collect();
    json!({
        "file": file,
        "lines": t.lines,
        "bytes": t.bytes,
        "matched": t.matched,
        "repeats": t.repeats,
        "unrecognized": t.unrecognized,
        "oversize": t.oversize,
        "errors": errors,
    })
}

fn scan_json(results: &[(String, Tally)]) -> Value {
    let files: Vec<Value> = results.iter().map(|(f, t)| tally_json(f, t)).collect();
    json!({ "files": files })
}

fn write_table(out: &mut impl Write, results: &[(String, Tally)]) -> io::Result<()> {
    let width = results
        .iter()
        .map(|(f, _)| f.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:<width$}  {:>12}  {:>10}  {:>8}  {:>12}  {:>8}",
        "FILE", "LINES", "MATCHED", "REPEATS", "UNRECOGNIZED", "OVERSIZE"
    )?;
    for (f, t) in results {
        writeln!(
            out,
            "{:<width$}  {:>12}  {:>10}  {:>8}  {:>12}  {:>8}",
            f, t.lines, t.matched, t.repeats, t.unrecognized, t.oversize
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<width$}  {:<8}  {:>6}  {:<14}  {:>10}",
        "FILE", "OP", "ERRNO", "ERRNAME", "COUNT"
    )?;
    for (f, t) in results {
        for ((op, errno, errname), n) in &t.errors {
            let errno = if errno.is_empty() { "-" } else { errno };
            writeln!(
                out,
                "{:<width$}  {:<8}  {:>6}  {:<14}  {:>10}",
                f,
                op.as_str(),
                errno,
                errname.as_str(),
                n
            )?;
        }
    }
    Ok(())
}

/// A one-line progress display on stderr, for terminals only.
struct Progress<'a> {
    enabled: bool,
    name: &'a str,
    size: Option<u64>,
    started: Instant,
    last: Instant,
}

impl<'a> Progress<'a> {
    fn new(enabled: bool, name: &'a str, size: Option<u64>) -> Self {
        let now = Instant::now();
        Progress {
            enabled,
            name,
            size,
            started: now,
            last: now,
        }
    }

    fn update(&mut self, bytes: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = bytes as f64 / secs / 1e6;
        let mut err = io::stderr().lock();
        let _ = match self.size {
            Some(size) if size > 0 => {
                let frac = (bytes as f64 / size as f64).min(1.0);
                let filled = (frac * 30.0) as usize;
                write!(
                    err,
                    "\r{} [{:<30}] {:>5.1}%  {:.0} MB/s ",
                    self.name,
                    "#".repeat(filled),
                    frac * 100.0,
                    rate
                )
            }
            _ => write!(
                err,
                "\r{}  {} MB  {:.0} MB/s ",
                self.name,
                bytes / 1_000_000,
                rate
            ),
        };
    }

    fn done(&mut self) {
        if self.enabled && self.started.elapsed() >= Duration::from_millis(200) {
            let _ = write!(io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
