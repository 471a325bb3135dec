//! Where bytes come from, behind one trait.
//!
//! A [`Source`] yields blocks of whole lines, each with the [`Position`]
//! just past it (a file mark, a journal cursor, or nothing for a stream),
//! through a [`Sink`]. Sources know nothing of rules, events, metrics,
//! settings or checkpoints: whoever drives them stores the positions with
//! its counts and hands them back through [`Source::resume`] after a
//! restart. [`framing::Framer`] cuts bytes into lines for every source;
//! [`file`](mod@file) follows files across rotations; [`stdin`] reads a pipe;
//! [`syslog`] listens on UDP and TCP; [`journald`] follows the journal;
//! [`open_input`] opens a file or stdin for one-shot reading,
//! decompressing gzip when the bytes say so.
//!
//! The contract, as ripgrep's `Sink` states its own: every block a source
//! hands to [`Sink::lines`] is consumed, whatever the sink returns; when it
//! returns [`ControlFlow::Break`], the source stops its pass as soon as it
//! can (after the block it is in), so shutdown never waits for a backlog.
//!
//! ```
//! use gateway_exporter::source::framing::Framer;
//! let mut framer = Framer::new(1024);
//! let mut input: &[u8] = b"one\ntwo\nthr";
//! let mut blocks = Vec::new();
//! while framer.read_from(&mut input).unwrap() > 0 {
//!     framer.drain(|d| blocks.push(d.block.to_vec()));
//! }
//! assert_eq!(blocks.concat(), b"one\ntwo\n");
//! assert_eq!(framer.pending(), 3); // "thr" waits for its newline
//! ```

pub mod file;
pub mod framing;
pub mod journald;
pub mod stdin;
pub mod syslog;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use file::FileMark;

/// Where a source stands after a block: what a checkpoint stores so that a
/// restart continues exactly there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Position {
    /// A file's identity and the offset just past the block.
    File(FileMark),
    /// An opaque cursor the source understands (a journal cursor).
    Cursor { cursor: String },
    /// A stream that cannot be resumed (stdin, UDP): nothing to store.
    Stream,
}

/// Which stored position a new one replaces: one per file identity, one
/// for a cursor or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionKey {
    File(file::FileId),
    Single,
}

impl Position {
    pub fn key(&self) -> PositionKey {
        match self {
            Position::File(m) => PositionKey::File(m.id()),
            Position::Cursor { .. } | Position::Stream => PositionKey::Single,
        }
    }

    /// The byte offset, for sources that have one: bytes are then counted
    /// from offsets, so they too are exact across restarts.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Position::File(m) => Some(m.offset),
            _ => None,
        }
    }

    /// Whether a checkpoint needs to keep it.
    pub fn is_stored(&self) -> bool {
        !matches!(self, Position::Stream)
    }
}

/// How a followed file was rotated (file sources only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationKind {
    Rename,
    Truncate,
    Recreate,
}

impl RotationKind {
    pub const ALL: [RotationKind; 3] = [
        RotationKind::Rename,
        RotationKind::Truncate,
        RotationKind::Recreate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RotationKind::Rename => "rename",
            RotationKind::Truncate => "truncate",
            RotationKind::Recreate => "recreate",
        }
    }
}

/// Why a source could not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadErrorReason {
    NotFound,
    PermissionDenied,
    /// The process (EMFILE) or the system (ENFILE) has no descriptor left.
    FdLimit,
    /// A FIFO, socket, device or directory where a log file was expected.
    NotRegular,
    Io,
}

impl ReadErrorReason {
    pub const ALL: [ReadErrorReason; 5] = [
        ReadErrorReason::NotFound,
        ReadErrorReason::PermissionDenied,
        ReadErrorReason::FdLimit,
        ReadErrorReason::NotRegular,
        ReadErrorReason::Io,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadErrorReason::NotFound => "not_found",
            ReadErrorReason::PermissionDenied => "permission_denied",
            ReadErrorReason::FdLimit => "fd_limit",
            ReadErrorReason::NotRegular => "not_regular",
            ReadErrorReason::Io => "io",
        }
    }

    pub fn of(e: &io::Error) -> ReadErrorReason {
        let fd_limit = [rustix::io::Errno::MFILE, rustix::io::Errno::NFILE]
            .map(|e| e.raw_os_error())
            .map(Some);
        if fd_limit.contains(&e.raw_os_error()) {
            return ReadErrorReason::FdLimit;
        }
        match e.kind() {
            io::ErrorKind::NotFound => ReadErrorReason::NotFound,
            io::ErrorKind::PermissionDenied => ReadErrorReason::PermissionDenied,
            _ => ReadErrorReason::Io,
        }
    }
}

/// How a source is doing, reported after every pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Whether everything the source was told to read is readable.
    pub up: bool,
    /// Files followed, for file sources.
    pub files: Option<usize>,
    /// Of those, files held without a descriptor (beyond the process's
    /// descriptor budget), reopened at each pass that sees them change.
    pub files_unheld: Option<usize>,
}

/// Where a source's findings go.
pub trait Sink {
    /// Whole lines (possibly none), `oversize` lines skipped before them,
    /// and the position just past them. Counting the lines and storing the
    /// position together is what makes a restart exact. The block is
    /// consumed whatever is returned; `Break` asks the source to stop the
    /// pass.
    fn lines(&mut self, at: &Position, block: &[u8], oversize: u64) -> ControlFlow<()>;
    /// `what` was rotated (file sources).
    fn rotated(&mut self, _what: &str, _kind: RotationKind) {}
    /// `what` (a path, a pattern, an address) could not be read. `first`
    /// is true the first time in a row this happens, so callers can log
    /// it once.
    fn read_error(
        &mut self,
        _what: &str,
        _reason: ReadErrorReason,
        _err: &io::Error,
        _first: bool,
    ) {
    }
    /// Input that never became a line (a malformed syslog frame), by reason.
    fn malformed(&mut self, _reason: &'static str) {}
    /// `what` is readable again after a read error.
    fn recovered(&mut self, _what: &str) {}
    /// A position will not advance any more (a rotated file read to its
    /// end and closed): a checkpoint may forget it after a while.
    fn finished(&mut self, _at: &Position) {}
    /// After every pass.
    fn status(&mut self, _status: Status) {}
}

/// One input of the exporter.
pub trait Source: Send {
    /// The type's name, as the config spells it (`file`).
    fn kind(&self) -> &'static str;
    /// Rotation kinds this source can report, so their series exist at 0.
    fn rotation_kinds(&self) -> &'static [RotationKind] {
        &[]
    }
    /// Reasons this source can report through [`Sink::malformed`], so
    /// their series exist at 0.
    fn malformed_reasons(&self) -> &'static [&'static str] {
        &[]
    }
    /// Before the first pass: continue from positions a checkpoint stored,
    /// written when every position before `covered_until` (Unix seconds,
    /// the start of the last complete pass) was recorded.
    fn resume(&mut self, positions: Vec<Position>, covered_until: f64);
    /// Reads what is available now. `Break` when the sink stopped it
    /// before the end, so the pass does not count as complete.
    fn pass(&mut self, sink: &mut dyn Sink) -> ControlFlow<()>;
    /// Blocks until more may be available, at most about a poll interval.
    fn wait(&mut self);
}

/// Opens `path` (`-` is stdin) for reading, transparently decompressing gzip
/// (detected by its magic bytes, so a rotated `mail.log.1.gz` and a renamed
/// one both work).
pub fn open_input(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(buffered)))
    } else {
        // Plain text goes to the caller's buffer straight from the file:
        // through the BufReader, every read smaller than its capacity
        // was copied twice.
        let head = head.to_vec();
        Ok(Box::new(io::Cursor::new(head).chain(buffered.into_inner())))
    }
}
