//! Following log files by glob, across rotations, like `tail -F`.
//!
//! A [`Follower`] owns the open files of one source and reports what it reads
//! through the narrow [`Sink`] trait: blocks of whole lines, lines skipped as
//! oversize, rotations, read errors, and a status after every pass. It knows
//! nothing of classification or metrics.
//!
//! Files are read with `std::fs` on the caller's (dedicated) thread. inotify
//! on the watched directories only wakes the thread early; the truth is a
//! stat of every matched path at each pass, so a missed or overflowed event
//! costs latency, never lines. Files are identified by (device, inode):
//!
//! - **rename** (logrotate's default): the path names a new inode while the
//!   old one still has links. The old file is drained to its end — and kept
//!   open for a grace period, because writers keep appending until they
//!   reopen — before it is closed; the new file is read from its start.
//! - **recreate** (delete + create): as rename, but the old inode has no
//!   links left.
//! - **truncate** (copytruncate): the same inode got shorter than what was
//!   read, or its first bytes changed (truncated and rewritten past the old
//!   offset between two passes, or a deleted file's inode reused by a new
//!   one); it is read again from its start.
//!
//! A file renamed to another path that the globs also match is recognised by
//! its inode and kept at its offset, never read twice. Compressed rotations
//! (`.gz`, `.bz2`, `.xz`, `.zst`) are never followed.
//!
//! **Positions.** Every block of lines goes out with a [`FileMark`]: the
//! file's identity (device, inode, and a hash of its first bytes with their
//! length) and the offset just past the block. A caller that stores the
//! marks with its counts can restart with [`Follower::resume`]: each file
//! continues at its mark when its identity still matches; a file rotated
//! away while nobody was reading is looked for under the rotated-file
//! patterns (by inode, or — for a copytruncate copy — by its first bytes)
//! and finished from its mark before the new file is read from its start.
//! The same search finishes a copytruncate copy while running, when the
//! original was truncated before all of it was read.
//!
//! ```no_run
//! use gateway_exporter::source::follow::{FollowConfig, Follower};
//! # struct Print;
//! # use gateway_exporter::source::follow::FileMark;
//! # impl gateway_exporter::source::follow::Sink for Print {
//! #     fn lines(&mut self, _: &FileMark, b: &[u8], _: u64) { print!("{}", String::from_utf8_lossy(b)) }
//! # }
//! let mut f = Follower::new(FollowConfig::new(vec!["/var/log/mail.log".into()]));
//! loop {
//!     f.poll_once(&mut Print);
//!     f.wait();
//! }
//! ```

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::framing::{Drained, Framer};
use crate::config::StartAt;

/// How a followed file was rotated.
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

/// Why a path could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadErrorReason {
    NotFound,
    PermissionDenied,
    Io,
}

impl ReadErrorReason {
    pub const ALL: [ReadErrorReason; 3] = [
        ReadErrorReason::NotFound,
        ReadErrorReason::PermissionDenied,
        ReadErrorReason::Io,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadErrorReason::NotFound => "not_found",
            ReadErrorReason::PermissionDenied => "permission_denied",
            ReadErrorReason::Io => "io",
        }
    }

    fn of(e: &io::Error) -> ReadErrorReason {
        match e.kind() {
            io::ErrorKind::NotFound => ReadErrorReason::NotFound,
            io::ErrorKind::PermissionDenied => ReadErrorReason::PermissionDenied,
            _ => ReadErrorReason::Io,
        }
    }
}

/// How far before the covered time a rotated file without a mark still
/// counts as unseen (see `read_unseen_rotated`).
const UNSEEN_MARGIN_SECONDS: f64 = 2.0;

/// How many leading bytes identify a file's content besides its inode.
pub const HEAD_BYTES: usize = 256;

/// A file's identity and how far it has been read: what a checkpoint
/// stores per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// How many leading bytes `head_hash` covers (fewer than
    /// [`HEAD_BYTES`] while the file was shorter): a file that has grown
    /// since is re-verified on that prefix.
    pub head_len: u32,
    /// FNV-1a (64 bit) of those bytes.
    pub head_hash: u64,
    /// Every line before this offset has been handed out.
    pub offset: u64,
}

impl FileMark {
    pub fn id(&self) -> FileId {
        (self.dev, self.ino)
    }
}

/// FNV-1a, 64 bit: stable across builds and platforms, unlike std's
/// hasher, which matters for a hash that is written to disk.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Where a follower's findings go.
pub trait Sink {
    /// Whole lines read from a file (possibly none), `oversize` lines
    /// skipped before them, and the file's mark after them. The last line
    /// of a file that is closed for good is passed even without its
    /// newline. Counting the lines and storing the mark together is what
    /// makes a restart exact.
    fn lines(&mut self, file: &FileMark, block: &[u8], oversize: u64);
    /// `path` was rotated.
    fn rotated(&mut self, _path: &Path, _kind: RotationKind) {}
    /// `what` (a path or a pattern) could not be read. `first` is true the
    /// first time in a row this happens, so callers can log it once.
    fn read_error(
        &mut self,
        _what: &str,
        _reason: ReadErrorReason,
        _err: &io::Error,
        _first: bool,
    ) {
    }
    /// After every pass: how many files are followed, and whether every
    /// pattern matched at least one readable file.
    fn status(&mut self, _files: usize, _up: bool) {}
}

/// What to follow, and how.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Paths or globs (`*`, `?`, `[...]`).
    pub patterns: Vec<String>,
    /// Where rotated files go (`mail.log.1`), searched for files rotated
    /// away before they were read to their end. Default: `<pattern>.1` and
    /// `<pattern>-[0-9]*` (logrotate's numbered and dated names).
    pub rotated: Vec<String>,
    /// Where files present at the first pass start, when there is no
    /// checkpoint; files that appear later are read from their beginning.
    pub start_at: StartAt,
    pub max_line_bytes: usize,
    /// The longest wait between passes when inotify says nothing.
    pub poll_interval: Duration,
    /// How long a rotated-away file is still read after it last grew.
    pub drain_grace: Duration,
}

impl FollowConfig {
    pub fn new(patterns: Vec<String>) -> FollowConfig {
        let rotated = patterns
            .iter()
            .flat_map(|p| [format!("{p}.1"), format!("{p}-[0-9]*")])
            .collect();
        FollowConfig {
            patterns,
            rotated,
            start_at: StartAt::End,
            max_line_bytes: crate::classify::DEFAULT_MAX_LINE_BYTES,
            poll_interval: Duration::from_millis(1000),
            drain_grace: Duration::from_secs(5),
        }
    }
}

pub type FileId = (u64, u64);

struct Tracked {
    path: PathBuf,
    file: File,
    id: FileId,
    /// The file offset at which the framer started.
    base: u64,
    /// Bytes of the file read so far (the file position).
    read_to: u64,
    framer: Framer,
    /// The file's first bytes (up to [`HEAD_BYTES`]) as last seen.
    head: Vec<u8>,
}

impl Tracked {
    fn open(
        path: &Path,
        file: File,
        id: FileId,
        offset: u64,
        max_line_bytes: usize,
    ) -> io::Result<Tracked> {
        let mut t = Tracked {
            path: path.to_path_buf(),
            file,
            id,
            base: offset,
            read_to: offset,
            framer: Framer::new(max_line_bytes),
            head: Vec::new(),
        };
        let len = t.file.metadata()?.len();
        t.head_changed(len)?;
        t.file.seek(SeekFrom::Start(offset))?;
        if offset > 0 {
            // Starting inside a line would count its tail as a line.
            let mut last = [0u8; 1];
            if t.file.read_at(&mut last, offset - 1)? == 1 && last[0] != b'\n' {
                t.framer.skip_to_next_line();
            }
        }
        Ok(t)
    }

    fn mark(&self) -> FileMark {
        FileMark {
            path: self.path.clone(),
            dev: self.id.0,
            ino: self.id.1,
            head_len: self.head.len() as u32,
            head_hash: fnv1a(&self.head),
            offset: self.base + self.framer.committed(),
        }
    }

    /// Whether the file's first bytes differ from those seen before; learns
    /// more of them while the file is shorter than [`HEAD_BYTES`].
    fn head_changed(&mut self, len: u64) -> io::Result<bool> {
        let want = (HEAD_BYTES as u64).min(len) as usize;
        let mut buf = [0u8; HEAD_BYTES];
        let got = read_at_most(&self.file, &mut buf[..want])?;
        let check = got.min(self.head.len());
        if buf[..check] != self.head[..check] || got < self.head.len() {
            return Ok(true);
        }
        if got > self.head.len() {
            self.head = buf[..got].to_vec();
        }
        Ok(false)
    }

    /// Starts over from offset 0 (the file was truncated under us).
    fn restart(&mut self, max_line_bytes: usize) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.base = 0;
        self.read_to = 0;
        self.framer = Framer::new(max_line_bytes);
        self.head.clear();
        let len = self.file.metadata()?.len();
        self.head_changed(len)?;
        Ok(())
    }
}

fn read_at_most(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether `file` starts with the bytes `mark` hashed.
fn head_matches(file: &File, head_len: u32, head_hash: u64) -> io::Result<bool> {
    let mut buf = [0u8; HEAD_BYTES];
    let want = (head_len as usize).min(HEAD_BYTES);
    let got = read_at_most(file, &mut buf[..want])?;
    Ok(got == want && fnv1a(&buf[..got]) == head_hash)
}

struct Draining {
    t: Tracked,
    last_growth: Instant,
}

/// Follows the files of one source.
pub struct Follower {
    cfg: FollowConfig,
    tracked: HashMap<FileId, Tracked>,
    draining: Vec<Draining>,
    first_pass: bool,
    /// Marks from a checkpoint, consumed at the first pass.
    resume: Option<HashMap<FileId, FileMark>>,
    /// Rotated files that no mark knows and that changed after this time
    /// (Unix seconds) were never seen under a followed path: created,
    /// written and rotated away between two passes, or while nobody was
    /// reading. The checkpoint's time on a resume, the first pass's start
    /// otherwise.
    resume_time: f64,
    /// Every file opened in this run: a copy search never picks one of
    /// them, since each continues from its own mark.
    known: HashSet<FileId>,
    /// The checkpoint's marks, kept for the whole run: a file whose inode
    /// and first bytes match one is that file, not a copy or a new one.
    start_marks: HashMap<FileId, FileMark>,
    failing: HashSet<String>,
    wake: Option<super::wake::Wake>,
}

fn is_compressed(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("gz" | "bz2" | "xz" | "zst" | "lz4" | "Z" | "zip")
    )
}

fn glob_files(pattern: &str) -> Result<Vec<PathBuf>, glob::PatternError> {
    Ok(glob::glob(pattern)?
        .filter_map(Result::ok)
        .filter(|p| !is_compressed(p))
        .collect())
}

impl Follower {
    pub fn new(cfg: FollowConfig) -> Follower {
        let wake = super::wake::Wake::new(&cfg.patterns);
        Follower {
            cfg,
            tracked: HashMap::new(),
            draining: Vec::new(),
            first_pass: true,
            resume: None,
            resume_time: 0.0,
            known: HashSet::new(),
            start_marks: HashMap::new(),
            failing: HashSet::new(),
            wake,
        }
    }

    /// A follower that continues from the marks of a checkpoint written at
    /// `written_at` (Unix seconds). Followed files without a mark are read
    /// from their beginning: they appeared since. So are rotated files
    /// without a mark that changed after the checkpoint: created, written
    /// and rotated away while nobody was reading.
    pub fn resume(cfg: FollowConfig, marks: Vec<FileMark>, written_at: f64) -> Follower {
        let mut f = Follower::new(cfg);
        // A mark of an empty file (nothing read, no first bytes) would
        // match whatever file later reuses its inode; reading such a file
        // from its start loses nothing, so the mark is dropped.
        let marks: Vec<FileMark> = marks.into_iter().filter(|m| m.head_len > 0).collect();
        f.start_marks = marks.iter().map(|m| (m.id(), m.clone())).collect();
        f.resume = Some(marks.into_iter().map(|m| (m.id(), m)).collect());
        f.resume_time = written_at;
        f
    }

    /// Files currently followed (not counting rotated files still draining).
    pub fn files(&self) -> usize {
        self.tracked.len()
    }

    /// Waits until inotify reports a change under a watched directory, or
    /// the poll interval passes.
    pub fn wait(&mut self) {
        match &mut self.wake {
            Some(w) => w.wait(self.cfg.poll_interval),
            None => std::thread::sleep(self.cfg.poll_interval),
        }
    }

    fn error(&mut self, sink: &mut impl Sink, what: &str, e: &io::Error) {
        let first = self.failing.insert(what.to_string());
        sink.read_error(what, ReadErrorReason::of(e), e, first);
    }

    /// One pass: find files, notice rotations, read what is new.
    pub fn poll_once(&mut self, sink: &mut impl Sink) {
        if self.first_pass && self.resume.is_none() {
            self.resume_time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
        }
        let mut up = true;
        let mut seen: HashSet<FileId> = HashSet::new();
        let patterns = self.cfg.patterns.clone();
        let mut matched_paths: Vec<(String, Vec<PathBuf>)> = Vec::new();
        for pattern in &patterns {
            match glob_files(pattern) {
                Ok(paths) => matched_paths.push((pattern.clone(), paths)),
                Err(e) => {
                    up = false;
                    let err = io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
                    self.error(sink, pattern, &err);
                }
            }
        }
        if self.first_pass && self.resume.is_some() {
            self.finish_rotated_while_down(&matched_paths, sink);
        }
        for (pattern, paths) in &matched_paths {
            let mut readable = 0;
            for path in paths {
                match self.visit(path, sink) {
                    Ok(Some(id)) => {
                        readable += 1;
                        seen.insert(id);
                        self.failing.remove(&path.display().to_string());
                    }
                    Ok(None) => {}
                    Err(e) => {
                        up = false;
                        self.error(sink, &path.display().to_string(), &e);
                    }
                }
            }
            if paths.is_empty() {
                up = false;
                let e = io::Error::new(io::ErrorKind::NotFound, "no file matches");
                self.error(sink, pattern, &e);
            } else {
                self.failing.remove(pattern.as_str());
                // Paths that matched but failed were reported one by one.
                up &= readable > 0;
            }
        }
        // Files no pattern matches any more were renamed away or deleted.
        let gone: Vec<FileId> = self
            .tracked
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(t) = self.tracked.remove(&id) {
                let kind = rotation_kind_of(&t.file);
                sink.rotated(&t.path, kind);
                self.start_draining(t, sink);
            }
        }
        self.drain_rotated(sink);
        self.read_unseen_rotated(&matched_paths, sink);
        self.first_pass = false;
        self.resume = None;
        sink.status(self.tracked.len(), up);
    }

    /// Reads, from their start, rotated files that appeared since we began
    /// covering the source and that we never saw. A copy of a file we
    /// follow is not one of them: it is finished from the original's
    /// offset when the original's truncation is seen.
    fn read_unseen_rotated(&mut self, matched: &[(String, Vec<PathBuf>)], sink: &mut impl Sink) {
        let main: HashSet<&PathBuf> = matched.iter().flat_map(|(_, paths)| paths).collect();
        let mut heads: Vec<(u32, u64)> = self
            .tracked
            .values()
            .chain(self.draining.iter().map(|d| &d.t))
            .map(|t| (t.head.len() as u32, fnv1a(&t.head)))
            .collect();
        if let Some(resume) = &self.resume {
            heads.extend(resume.values().map(|m| (m.head_len, m.head_hash)));
        }
        let mut unseen = Vec::new();
        for (path, file, meta) in self.rotated_files() {
            let changed = meta.mtime() as f64 + f64::from(meta.mtime_nsec() as u32) / 1e9;
            // Kernel timestamps come from a coarse clock (a tick behind);
            // a margin keeps a file written just before a pass began from
            // passing for history.
            if !main.contains(&path) && changed > self.resume_time - UNSEEN_MARGIN_SECONDS {
                unseen.push((changed, path, file, (meta.dev(), meta.ino())));
            }
        }
        unseen.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, path, file, id) in unseen {
            if self.accounted_for(&file, id) {
                continue;
            }
            let is_copy = heads
                .iter()
                .any(|(len, hash)| *len > 0 && head_matches(&file, *len, *hash).unwrap_or(false));
            if is_copy {
                continue;
            }
            log::info!(path = path.display().to_string().as_str(); "reading a rotated file never seen under a followed path");
            match Tracked::open(&path, file, id, 0, self.cfg.max_line_bytes) {
                Ok(t) => self.start_draining(t, sink),
                Err(e) => self.error(sink, &path.display().to_string(), &e),
            }
        }
    }

    /// At the first pass after a restart: files that a checkpoint was
    /// reading but that no longer sit under a followed path, or that were
    /// truncated there, are looked for among the rotated-file patterns and
    /// finished from their marks.
    fn finish_rotated_while_down(
        &mut self,
        matched: &[(String, Vec<PathBuf>)],
        sink: &mut impl Sink,
    ) {
        let Some(resume) = self.resume.as_ref() else {
            return;
        };
        let mut live: HashSet<FileId> = HashSet::new();
        for path in matched.iter().flat_map(|(_, paths)| paths) {
            let Ok(file) = File::open(path) else { continue };
            let Ok(meta) = file.metadata() else { continue };
            let id = (meta.dev(), meta.ino());
            if let Some(m) = resume.get(&id) {
                // Still here and still the same content: resumed by visit().
                if meta.len() >= m.offset
                    && head_matches(&file, m.head_len, m.head_hash).unwrap_or(false)
                {
                    live.insert(id);
                }
            }
        }
        let lost: Vec<FileMark> = resume
            .values()
            .filter(|m| !live.contains(&m.id()))
            .cloned()
            .collect();
        // 1. Renamed and intact: the same inode and first bytes under a
        //    rotated name continue at their mark.
        let mut broken = Vec::new();
        for m in lost {
            let found = self.find_rotated(|_, id, _| Ok(id == m.id()));
            let intact = found.as_ref().is_some_and(|(_, file, _)| {
                file.metadata().is_ok_and(|md| md.len() >= m.offset)
                    && head_matches(file, m.head_len, m.head_hash).unwrap_or(false)
            });
            match found {
                Some((path, file, id)) if intact => {
                    log::info!(path = path.display().to_string().as_str(), offset = m.offset; "finishing a file rotated while stopped");
                    match Tracked::open(&path, file, id, m.offset, self.cfg.max_line_bytes) {
                        Ok(t) => self.start_draining(t, sink),
                        Err(e) => self.error(sink, &path.display().to_string(), &e),
                    }
                }
                other => broken.push((m, other.map(|(path, _, id)| (path, id)))),
            }
        }
        // 2. Truncated (copytruncate) while we were down: the old content
        //    is finished from a copy that starts with the same bytes. This
        //    comes first, since a copy may sit on an inode that a stale
        //    mark also names.
        for (m, _) in &broken {
            self.finish_copy(m.head_len, m.head_hash, m.offset, m.id(), sink);
        }
        // 3. The inode under a rotated name now holds other content (the
        //    file rewritten in place, or the inode reused by a new file):
        //    all of it is new to us, unless step 2 took it as a copy.
        for (_, found) in broken {
            let Some((path, id)) = found else { continue };
            if self.known.contains(&id) {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            log::info!(path = path.display().to_string().as_str(); "reading a rotated file whose content changed while stopped");
            match Tracked::open(&path, file, id, 0, self.cfg.max_line_bytes) {
                Ok(t) => self.start_draining(t, sink),
                Err(e) => self.error(sink, &path.display().to_string(), &e),
            }
        }
    }

    /// Whether `file` is already accounted for: opened in this run, or the
    /// very file a checkpoint mark describes (same inode, same first bytes).
    fn accounted_for(&self, file: &File, id: FileId) -> bool {
        self.known.contains(&id)
            || self.tracked.contains_key(&id)
            || self.draining.iter().any(|d| d.t.id == id)
            || self.start_marks.get(&id).is_some_and(|m| {
                // An empty file's mark (nothing read, no first bytes)
                // proves nothing: reading such a file from 0 loses nothing.
                m.head_len > 0 && head_matches(file, m.head_len, m.head_hash).unwrap_or(false)
            })
    }

    /// The regular files under the rotated-file patterns, opened.
    fn rotated_files(&self) -> Vec<(PathBuf, File, std::fs::Metadata)> {
        let mut out = Vec::new();
        for pattern in &self.cfg.rotated {
            for path in glob_files(pattern).unwrap_or_default() {
                let Ok(file) = File::open(&path) else {
                    continue;
                };
                match file.metadata() {
                    Ok(meta) if meta.is_file() => out.push((path, file, meta)),
                    _ => {}
                }
            }
        }
        out
    }

    /// The first file under the rotated-file patterns for which `is_it`
    /// holds (given the file, its identity and its length).
    fn find_rotated(
        &self,
        mut is_it: impl FnMut(&File, FileId, u64) -> io::Result<bool>,
    ) -> Option<(PathBuf, File, FileId)> {
        self.rotated_files()
            .into_iter()
            .find_map(|(path, file, meta)| {
                let id = (meta.dev(), meta.ino());
                is_it(&file, id, meta.len())
                    .unwrap_or(false)
                    .then_some((path, file, id))
            })
    }

    /// Looks at one matched path. Returns the identity of the file followed
    /// there, `None` for something that is not a regular file.
    fn visit(&mut self, path: &Path, sink: &mut impl Sink) -> io::Result<Option<FileId>> {
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            return Ok(None);
        }
        let id = (meta.dev(), meta.ino());
        // The file that this path named before, if it is not `id` any more.
        let replaced = self
            .tracked
            .iter()
            .find(|(tid, t)| t.path == path && **tid != id)
            .map(|(tid, _)| *tid);
        if let Some(old) = replaced {
            if let Some(t) = self.tracked.remove(&old) {
                let kind = rotation_kind_of(&t.file);
                sink.rotated(&t.path, kind);
                self.start_draining(t, sink);
            }
        }
        if !self.tracked.contains_key(&id) {
            // A rotated file that another pattern still matches (renamed
            // within the glob): keep following it where it was.
            if let Some(i) = self.draining.iter().position(|d| d.t.id == id) {
                let d = self.draining.swap_remove(i);
                self.tracked.insert(id, d.t);
            }
        }
        if let Some(t) = self.tracked.get_mut(&id) {
            // Renamed to another matched path: same file, same offset.
            t.path = path.to_path_buf();
            // Reading checks first whether the file was rewritten.
            self.read_tracked(id, sink)?;
            return Ok(Some(id));
        }
        let file = File::open(path)?;
        let offset = self.start_offset(&file, id, meta.len(), sink)?;
        let t = Tracked::open(path, file, id, offset, self.cfg.max_line_bytes)?;
        // Record where reading starts, so a restart before the first line
        // does not read what was meant to be skipped.
        sink.lines(&t.mark(), &[], 0);
        self.known.insert(id);
        self.tracked.insert(id, t);
        self.read_tracked(id, sink)?;
        Ok(Some(id))
    }

    /// Reads a followed file to its end; if it turns out to have been
    /// truncated and rewritten meanwhile, handles that instead.
    fn read_tracked(&mut self, id: FileId, sink: &mut impl Sink) -> io::Result<()> {
        let Some(t) = self.tracked.get_mut(&id) else {
            return Ok(());
        };
        if read_available(t, sink)?.is_none() {
            self.truncated(id, sink)?;
        }
        Ok(())
    }

    /// The followed file `id` was truncated (copytruncate): read it again
    /// from its start, and finish its old content from a copy if one exists.
    fn truncated(&mut self, id: FileId, sink: &mut impl Sink) -> io::Result<()> {
        let Some(mut t) = self.tracked.remove(&id) else {
            return Ok(());
        };
        let result = self.rewritten(&mut t, sink);
        self.tracked.insert(id, t);
        result
    }

    /// `t` was truncated and rewritten under us: start it over, finish its
    /// old content from a copy under a rotated name if one exists, and read
    /// its new content.
    fn rewritten(&mut self, t: &mut Tracked, sink: &mut impl Sink) -> io::Result<()> {
        let (old_len, old_hash) = (t.head.len() as u32, fnv1a(&t.head));
        let old_offset = t.base + t.framer.committed();
        t.restart(self.cfg.max_line_bytes)?;
        // The copy's mark is recorded before the original's new one, so
        // that any checkpoint holds either the original's old mark (and a
        // restart finds the copy again) or the copy's own.
        self.finish_copy(old_len, old_hash, old_offset, t.id, sink);
        sink.rotated(&t.path, RotationKind::Truncate);
        sink.lines(&t.mark(), &[], 0);
        // Rewritten once more meanwhile: the next pass sees to it.
        let _ = read_available(t, sink)?;
        Ok(())
    }

    /// Where a newly opened file starts.
    fn start_offset(
        &mut self,
        file: &File,
        id: FileId,
        len: u64,
        sink: &mut impl Sink,
    ) -> io::Result<u64> {
        if let Some(resume) = &self.resume {
            let Some(m) = resume.get(&id).cloned() else {
                // Appeared (or replaced an older file) while we were down.
                return Ok(0);
            };
            // Another file on a reused inode, or this one truncated while
            // we were down: read it from its start. The old content, if a
            // copy of it survives, was finished by the first pass already.
            if !head_matches(file, m.head_len, m.head_hash)? {
                return Ok(0);
            }
            if len < m.offset {
                sink.rotated(&m.path, RotationKind::Truncate);
                return Ok(0);
            }
            log::info!(path = m.path.display().to_string().as_str(), offset = m.offset; "resuming file");
            return Ok(m.offset);
        }
        if self.first_pass && self.cfg.start_at == StartAt::End {
            return Ok(len);
        }
        Ok(0)
    }

    /// After a truncation: if a copy of the old content (one that starts
    /// with the bytes `head_len`/`head_hash` describe) exists under a
    /// rotated name, reads it from where the original was left.
    fn finish_copy(
        &mut self,
        head_len: u32,
        head_hash: u64,
        offset: u64,
        not: FileId,
        sink: &mut impl Sink,
    ) {
        if head_len == 0 {
            return;
        }
        let found = self.find_rotated(|file, id, len| {
            Ok(id != not
                && len >= offset
                && head_matches(file, head_len, head_hash)?
                && !self.accounted_for(file, id))
        });
        if let Some((path, file, id)) = found {
            log::info!(path = path.display().to_string().as_str(), offset = offset; "finishing the copy of a truncated file");
            match Tracked::open(&path, file, id, offset, self.cfg.max_line_bytes) {
                Ok(t) => self.start_draining(t, sink),
                Err(e) => self.error(sink, &path.display().to_string(), &e),
            }
        }
    }

    fn start_draining(&mut self, mut t: Tracked, sink: &mut impl Sink) {
        self.known.insert(t.id);
        // Known from now on, across a restart too.
        sink.lines(&t.mark(), &[], 0);
        // A file copytruncated and then renamed before we saw either.
        let result = match read_available(&mut t, sink) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => self.rewritten(&mut t, sink),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let what = t.path.display().to_string();
            self.error(sink, &what, &e);
        }
        self.draining.push(Draining {
            t,
            last_growth: Instant::now(),
        });
    }

    fn drain_rotated(&mut self, sink: &mut impl Sink) {
        let grace = self.cfg.drain_grace;
        let mut keep = Vec::new();
        for mut d in std::mem::take(&mut self.draining) {
            // The same file may have come back under a followed path.
            if self.tracked.contains_key(&d.t.id) {
                continue;
            }
            let result = match read_available(&mut d.t, sink) {
                Ok(Some(n)) => {
                    if n > 0 {
                        d.last_growth = Instant::now();
                    }
                    Ok(())
                }
                Ok(None) => {
                    d.last_growth = Instant::now();
                    self.rewritten(&mut d.t, sink)
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(e) => {
                    let what = d.t.path.display().to_string();
                    self.error(sink, &what, &e);
                }
            }
            if d.last_growth.elapsed() >= grace {
                close(&mut d.t, sink);
            } else {
                keep.push(d);
            }
        }
        // Copies found while handling rewritten files joined meanwhile.
        keep.append(&mut self.draining);
        self.draining = keep;
    }
}

/// Hands out a closed file's partial last line.
fn close(t: &mut Tracked, sink: &mut impl Sink) {
    let base = t.base;
    let mut mark = t.mark();
    t.framer.finish(|d: Drained<'_>| {
        mark.offset = base + d.offset;
        sink.lines(&mark, d.block, d.oversize);
    });
}

/// A file that was moved keeps its links; a deleted one has none.
fn rotation_kind_of(file: &File) -> RotationKind {
    match file.metadata() {
        Ok(m) if m.nlink() == 0 => RotationKind::Recreate,
        _ => RotationKind::Rename,
    }
}

/// Reads `t` from its position to its current end. Returns the bytes read,
/// or `None` when the file was truncated and rewritten under us: then the
/// bytes just read may be new content at an old offset, and nothing of
/// them was handed out.
fn read_available(t: &mut Tracked, sink: &mut impl Sink) -> io::Result<Option<u64>> {
    // Shorter than what was read, or other first bytes: rewritten since.
    let len = t.file.metadata()?.len();
    if len < t.read_to || t.head_changed(len)? {
        return Ok(None);
    }
    let mut total = 0u64;
    loop {
        let n = t.framer.read_from(&mut t.file)?;
        if n == 0 {
            break;
        }
        // Bytes read before the first bytes were seen unchanged are the
        // file's old content; if they changed, any of them may be new.
        let len = t.file.metadata()?.len();
        if t.head_changed(len)? {
            return Ok(None);
        }
        total += n as u64;
        t.read_to += n as u64;
        let base = t.base;
        let mut mark = t.mark();
        t.framer.drain(|d: Drained<'_>| {
            mark.offset = base + d.offset;
            sink.lines(&mark, d.block, d.oversize);
        });
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Default)]
    struct Collect {
        lines: Vec<String>,
        rotations: Vec<RotationKind>,
        errors: Vec<ReadErrorReason>,
        up: bool,
    }

    impl Sink for Collect {
        fn lines(&mut self, _: &FileMark, block: &[u8], _: u64) {
            let text = String::from_utf8_lossy(block);
            self.lines.extend(text.lines().map(str::to_string));
        }
        fn rotated(&mut self, _: &Path, kind: RotationKind) {
            self.rotations.push(kind);
        }
        fn read_error(&mut self, _: &str, r: ReadErrorReason, _: &io::Error, _: bool) {
            self.errors.push(r);
        }
        fn status(&mut self, _: usize, up: bool) {
            self.up = up;
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gwexp-follow-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn append(p: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    fn follower(pattern: &Path, start_at: StartAt) -> Follower {
        let mut cfg = FollowConfig::new(vec![pattern.display().to_string()]);
        cfg.start_at = start_at;
        cfg.drain_grace = Duration::ZERO;
        Follower::new(cfg)
    }

    #[test]
    fn starts_at_end_and_holds_partial_lines() {
        let d = dir("end");
        let log = d.join("a.log");
        append(&log, "old 1\nold 2\nhalf");
        let mut f = follower(&log, StartAt::End);
        let mut s = Collect::default();
        f.poll_once(&mut s);
        assert!(s.lines.is_empty());
        append(&log, " line\nnew 1\nnew");
        f.poll_once(&mut s);
        assert_eq!(s.lines, ["new 1"]);
        append(&log, " 2\n");
        f.poll_once(&mut s);
        assert_eq!(s.lines, ["new 1", "new 2"]);
        assert!(s.up);
    }

    #[test]
    fn follows_every_rotation_kind() {
        let d = dir("rot");
        let log = d.join("gw.log");
        append(&log, "");
        let mut f = follower(&log, StartAt::Beginning);
        let mut s = Collect::default();
        f.poll_once(&mut s);
        append(&log, "a\n");
        f.poll_once(&mut s);
        // rename, with a late write to the old file before the writer reopens
        std::fs::rename(&log, d.join("gw.log.1")).unwrap();
        append(&d.join("gw.log.1"), "b\n");
        append(&log, "c\n");
        f.poll_once(&mut s);
        // copytruncate
        std::fs::copy(&log, d.join("gw.log.2")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .unwrap();
        append(&log, "d\n");
        f.poll_once(&mut s);
        // delete + recreate
        std::fs::remove_file(&log).unwrap();
        append(&log, "e\n");
        f.poll_once(&mut s);
        f.poll_once(&mut s);
        let mut got = s.lines.clone();
        got.sort();
        assert_eq!(got, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            s.rotations,
            [
                RotationKind::Rename,
                RotationKind::Truncate,
                RotationKind::Recreate
            ]
        );
    }

    #[test]
    fn a_rename_within_the_glob_is_not_read_twice() {
        let d = dir("glob");
        let log = d.join("gw.log");
        append(&log, "one\n");
        let mut f = follower(&d.join("gw.log*"), StartAt::Beginning);
        let mut s = Collect::default();
        f.poll_once(&mut s);
        std::fs::rename(&log, d.join("gw.log.1")).unwrap();
        append(&log, "two\n");
        f.poll_once(&mut s);
        f.poll_once(&mut s);
        assert_eq!(s.lines, ["one", "two"]);
    }

    #[test]
    fn missing_files_are_reported_and_picked_up_later() {
        let d = dir("missing");
        let log = d.join("late.log");
        let mut f = follower(&log, StartAt::End);
        let mut s = Collect::default();
        f.poll_once(&mut s);
        assert!(!s.up);
        assert_eq!(s.errors, [ReadErrorReason::NotFound]);
        append(&log, "first\n");
        f.poll_once(&mut s);
        assert!(s.up);
        // A file that appears after the start is read from its beginning.
        assert_eq!(s.lines, ["first"]);
    }

    #[test]
    fn compressed_rotations_are_ignored() {
        let d = dir("gz");
        append(&d.join("gw.log.1.gz"), "\x1fjunk\n");
        append(&d.join("gw.log"), "x\n");
        let mut f = follower(&d.join("gw.log*"), StartAt::Beginning);
        let mut s = Collect::default();
        f.poll_once(&mut s);
        assert_eq!(s.lines, ["x"]);
        assert_eq!(f.files(), 1);
    }
}
