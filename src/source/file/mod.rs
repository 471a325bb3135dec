//! Following log files by glob, across rotations, like `tail -F`.
//!
//! A [`Follower`] owns the open files of one source and is its
//! [`Source`]: it reports blocks of whole lines with a [`FileMark`] each,
//! lines skipped as oversize, rotations, read errors, and a status after
//! every pass. It knows nothing of classification, metrics or settings:
//! its whole configuration is a plain [`FollowConfig`].
//!
//! One concern per file: [`paths`] (globs, rotated-file patterns),
//! [`identity`] (inode plus first bytes, the mark), [`open`] (opening
//! without blocking, the descriptor budget), `tracked` (one file read to
//! its end), `recovery` (files rotated away before they were finished) and
//! `wake` (inotify, only a hint).
//!
//! **Many files.** A pass costs one `stat` per matched path that did not
//! change. Files beyond the process's [`DescriptorBudget`] are followed
//! without a descriptor and reopened when their `stat` changes. An open
//! that fails for any reason (the descriptor limit, a FIFO, permissions)
//! is a read error with that reason — never a rotation — and a file seen
//! at the first pass but opened only later still starts where it ended at
//! that first sight, so nothing written before start-up is ever counted
//! as new.
//!
//! Files are read with `std::fs` on the caller's (dedicated) thread. The
//! truth is a stat of every matched path at each pass, so a missed or
//! overflowed inotify event costs latency, never lines. Files are
//! identified by (device, inode):
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
//! **Positions.** A caller that stores the marks with its counts can
//! restart with [`Follower::resume`]: each file continues at its mark when
//! its identity still matches; a file rotated away while nobody was
//! reading is looked for under the rotated-file patterns (by inode, or —
//! for a copytruncate copy — by its first bytes) and finished from its
//! mark before the new file is read from its start. The same search
//! finishes a copytruncate copy while running, when the original was
//! truncated before all of it was read.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use gateway_exporter::source::{Position, Sink, Source};
//! use gateway_exporter::source::file::{FollowConfig, Follower};
//! struct Print;
//! impl Sink for Print {
//!     fn lines(&mut self, _: &Position, b: &[u8], _: u64) -> ControlFlow<()> {
//!         print!("{}", String::from_utf8_lossy(b));
//!         ControlFlow::Continue(())
//!     }
//! }
//! let mut f = Follower::new(FollowConfig::new(vec!["/var/log/mail.log".into()]));
//! loop {
//!     let _ = f.pass(&mut Print);
//!     f.wait();
//! }
//! ```

pub mod identity;
pub mod open;
pub mod paths;
mod recovery;
mod tracked;
mod wake;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use identity::{FileId, FileMark, HEAD_BYTES, fnv1a};
pub use open::DescriptorBudget;
use open::{OpenError, id_of, open_regular, require_regular};
use paths::glob_files;
use tracked::Tracked;

use super::{Position, ReadErrorReason, RotationKind, Sink, Source, Status};
use crate::limits::DEFAULT_MAX_LINE_BYTES;

/// Where a source starts reading a file it has never seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// Like `tail -F`: only lines written from now on.
    #[default]
    End,
    Beginning,
}

impl StartAt {
    pub fn parse(s: &str) -> Option<StartAt> {
        match s {
            "end" => Some(StartAt::End),
            "beginning" => Some(StartAt::Beginning),
            _ => None,
        }
    }
}

/// What to follow, and how.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Paths or globs (`*`, `?`, `[...]`).
    pub patterns: Vec<String>,
    /// Where rotated files go (`mail.log.1`), searched for files rotated
    /// away before they were read to their end. Default:
    /// [`paths::default_rotated`].
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
        FollowConfig {
            rotated: paths::default_rotated(&patterns),
            patterns,
            start_at: StartAt::End,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            poll_interval: Duration::from_millis(1000),
            drain_grace: Duration::from_secs(5),
        }
    }
}

/// The sink of one pass: forwards to the caller's sink as file positions,
/// and remembers when it asked to stop, so every loop of the pass can
/// check.
pub(super) struct PassSink<'a> {
    inner: &'a mut dyn Sink,
    halted: bool,
}

impl PassSink<'_> {
    fn lines(&mut self, mark: &FileMark, block: &[u8], oversize: u64) {
        let at = Position::File(mark.clone());
        if self.inner.lines(&at, block, oversize).is_break() {
            self.halted = true;
        }
    }

    fn rotated(&mut self, path: &Path, kind: RotationKind) {
        self.inner.rotated(&path.display().to_string(), kind);
    }

    fn finished(&mut self, mark: &FileMark) {
        self.inner.finished(&Position::File(mark.clone()));
    }

    fn halted(&self) -> bool {
        self.halted
    }
}

/// A failing-set key (`path …`, `pattern …`) as the sink shows it: a
/// literal path is its own pattern, and the two must not share a key, or
/// each would end the other's run of errors and log it again every pass.
fn shown(key: &str) -> &str {
    key.split_once(' ').map_or(key, |(_, what)| what)
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
    /// What each followed path names now.
    by_path: HashMap<PathBuf, FileId>,
    /// Files seen at the first pass that could not be opened then, with
    /// their length at that sight: where they start once they can be.
    first_seen: HashMap<FileId, u64>,
    /// Patterns and paths in a run of read errors (`pattern …`/`path …`),
    /// so each run is logged once and its end once.
    failing: HashSet<String>,
    budget: Arc<DescriptorBudget>,
    wake: Option<wake::Wake>,
    /// Whether a directory may have changed since the last pass: inotify
    /// said so, or cannot say.
    dirs_changed: bool,
    /// Passes since rotated names were last searched.
    passes_since_search: u32,
}

/// Rotated names are searched for unseen files at least this often (in
/// passes), even when inotify reported nothing: a missed event then costs
/// latency, never lines.
const SEARCH_EVERY_PASSES: u32 = 10;

impl Follower {
    pub fn new(cfg: FollowConfig) -> Follower {
        Self::with_budget(cfg, DescriptorBudget::unlimited())
    }

    /// A follower whose open files count against `budget`, shared with the
    /// process's other file sources.
    pub fn with_budget(cfg: FollowConfig, budget: Arc<DescriptorBudget>) -> Follower {
        let watched: Vec<String> = cfg.patterns.iter().chain(&cfg.rotated).cloned().collect();
        let wake = wake::Wake::new(&watched);
        Follower {
            cfg,
            tracked: HashMap::new(),
            draining: Vec::new(),
            first_pass: true,
            resume: None,
            resume_time: 0.0,
            known: HashSet::new(),
            start_marks: HashMap::new(),
            by_path: HashMap::new(),
            first_seen: HashMap::new(),
            failing: HashSet::new(),
            budget,
            wake,
            dirs_changed: true,
            passes_since_search: 0,
        }
    }

    /// A follower that continues from the marks of a checkpoint written at
    /// `written_at` (Unix seconds). Followed files without a mark are read
    /// from their beginning: they appeared since. So are rotated files
    /// without a mark that changed after the checkpoint: created, written
    /// and rotated away while nobody was reading.
    pub fn resume(cfg: FollowConfig, marks: Vec<FileMark>, written_at: f64) -> Follower {
        Self::resume_with_budget(cfg, marks, written_at, DescriptorBudget::unlimited())
    }

    fn resume_with_budget(
        cfg: FollowConfig,
        marks: Vec<FileMark>,
        written_at: f64,
        budget: Arc<DescriptorBudget>,
    ) -> Follower {
        let mut f = Follower::with_budget(cfg, budget);
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

    /// Reports a read error of `what` (a path or a pattern).
    fn error(&mut self, sink: &mut PassSink<'_>, what: &str, e: &io::Error) {
        self.failed(sink, what, ReadErrorReason::of(e), e);
    }

    fn failed(
        &mut self,
        sink: &mut PassSink<'_>,
        what: &str,
        reason: ReadErrorReason,
        e: &io::Error,
    ) {
        let first = self.failing.insert(what.to_string());
        sink.inner.read_error(shown(what), reason, e, first);
    }

    /// `what` is fine now; says so once after a run of errors.
    fn fine(&mut self, sink: &mut PassSink<'_>, what: &str) {
        if self.failing.remove(what) {
            sink.inner.recovered(shown(what));
        }
    }

    /// One pass: find files, notice rotations, read what is new. `Break`
    /// when the sink stopped it early.
    pub fn poll_once(&mut self, sink: &mut dyn Sink) -> ControlFlow<()> {
        let mut sink = PassSink {
            inner: sink,
            halted: false,
        };
        let sink = &mut sink;
        if self.first_pass && self.resume.is_none() {
            self.resume_time = crate::clock::unix_now();
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
                    self.error(sink, &format!("pattern {pattern}"), &err);
                }
            }
        }
        if self.first_pass && self.resume.is_some() {
            self.finish_rotated_while_down(&matched_paths, sink);
        }
        for (pattern, paths) in &matched_paths {
            let mut readable = 0;
            for path in paths {
                if sink.halted() {
                    return ControlFlow::Break(());
                }
                match self.visit(path, sink) {
                    Ok(id) => {
                        readable += 1;
                        seen.insert(id);
                        // Most passes have nothing failing: no key to build.
                        if !self.failing.is_empty() {
                            self.fine(sink, &format!("path {}", path.display()));
                        }
                    }
                    Err(e) => {
                        up = false;
                        let what = format!("path {}", path.display());
                        self.failed(sink, &what, e.reason, &e.error);
                    }
                }
            }
            let what = format!("pattern {pattern}");
            if paths.is_empty() {
                up = false;
                let e = io::Error::new(io::ErrorKind::NotFound, "no file matches");
                self.error(sink, &what, &e);
            } else {
                self.fine(sink, &what);
                // Paths that matched but failed were reported one by one.
                up &= readable > 0;
            }
        }
        if sink.halted() {
            return ControlFlow::Break(());
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
                if self.by_path.get(&t.path) == Some(&id) {
                    self.by_path.remove(&t.path);
                }
                self.rotated_away(t, sink);
            }
        }
        self.drain_rotated(sink);
        if sink.halted() {
            return ControlFlow::Break(());
        }
        // The search opens nothing that did not change, but it lists every
        // rotated name: skipped while inotify vouches that nothing happened.
        self.passes_since_search += 1;
        if self.first_pass || self.dirs_changed || self.passes_since_search >= SEARCH_EVERY_PASSES {
            self.read_unseen_rotated(&matched_paths, sink);
            self.passes_since_search = 0;
        }
        // Until the next wait() vouches otherwise, anything may change.
        self.dirs_changed = true;
        self.first_pass = false;
        self.resume = None;
        let unheld = self.tracked.values().filter(|t| !t.is_held()).count();
        sink.inner.status(Status {
            up,
            files: Some(self.tracked.len()),
            files_unheld: Some(unheld),
        });
        if sink.halted() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Looks at one matched path and reads what is new there. Returns the
    /// identity of the file followed there.
    fn visit(&mut self, path: &Path, sink: &mut PassSink<'_>) -> Result<FileId, OpenError> {
        // stat, not open: it never blocks, whatever the path names.
        let meta = std::fs::metadata(path)?;
        require_regular(&meta)?;
        let id = id_of(&meta);
        // The file that this path named before, if it is not `id` any more.
        if let Some(old) = self.by_path.get(path).copied().filter(|old| *old != id) {
            self.by_path.remove(path);
            if let Some(t) = self.tracked.remove(&old) {
                self.rotated_away(t, sink);
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
            if t.path != path {
                // Renamed to another matched path: same file, same offset.
                // Its old path may name another file by now.
                if self.by_path.get(&t.path) == Some(&id) {
                    self.by_path.remove(&t.path);
                }
                t.path = path.to_path_buf();
                self.by_path.insert(path.to_path_buf(), id);
            } else if !self.by_path.contains_key(path) {
                self.by_path.insert(path.to_path_buf(), id);
            }
            if !t.unchanged(&meta) {
                // Reading checks first whether the file was rewritten.
                self.read_tracked(id, &meta, sink)?;
            }
            return Ok(id);
        }
        let (file, fmeta) = match open_regular(path) {
            Ok(opened) => opened,
            Err(e) => {
                if self.first_pass && self.resume.is_none() && self.cfg.start_at == StartAt::End {
                    self.first_seen.entry(id).or_insert(meta.len());
                }
                return Err(e);
            }
        };
        if id_of(&fmeta) != id {
            // Replaced between the stat and the open: the next pass sees
            // the new file.
            return Err(OpenError::of(io::Error::other("replaced while opening")));
        }
        let offset = self.start_offset(&file, id, fmeta.len(), sink)?;
        let lease = self.budget.lease();
        let t = Tracked::open(path, file, id, offset, self.cfg.max_line_bytes, lease)?;
        // Record where reading starts, so a restart before the first line
        // does not read what was meant to be skipped.
        sink.lines(&t.mark(), &[], 0);
        self.known.insert(id);
        self.first_seen.remove(&id);
        self.by_path.insert(path.to_path_buf(), id);
        self.tracked.insert(id, t);
        self.read_tracked(id, &meta, sink)?;
        Ok(id)
    }

    /// Reads a followed file to its end (reopening it when it is followed
    /// without a descriptor); if it turns out to have been truncated and
    /// rewritten meanwhile, handles that instead. `meta` is the `stat`
    /// that showed it changed.
    fn read_tracked(
        &mut self,
        id: FileId,
        meta: &std::fs::Metadata,
        sink: &mut PassSink<'_>,
    ) -> Result<(), OpenError> {
        let Some(t) = self.tracked.get_mut(&id) else {
            return Ok(());
        };
        if !t.reopen()? {
            return Ok(());
        }
        t.saw(meta);
        let result = match t.read_available(sink) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => self.truncated(id, sink),
            Err(e) => Err(e),
        };
        if let Some(t) = self.tracked.get_mut(&id) {
            t.rest();
        }
        Ok(result?)
    }

    /// Where a newly opened file starts.
    fn start_offset(
        &mut self,
        file: &File,
        id: FileId,
        len: u64,
        sink: &mut PassSink<'_>,
    ) -> io::Result<u64> {
        if let Some(resume) = &self.resume {
            let Some(m) = resume.get(&id).cloned() else {
                // Appeared (or replaced an older file) while we were down.
                return Ok(0);
            };
            // Another file on a reused inode, or this one truncated while
            // we were down: read it from its start. The old content, if a
            // copy of it survives, was finished by the first pass already.
            if !identity::head_matches(file, m.head_len, m.head_hash)? {
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
        // Known before it could be opened — a checkpoint's file that the
        // first pass could not open (permissions, the descriptor limit), or
        // a file seen at the first pass: what was there then is not new.
        if let Some(m) = self
            .start_marks
            .get(&id)
            .filter(|_| !self.known.contains(&id))
        {
            if len >= m.offset && identity::head_matches(file, m.head_len, m.head_hash)? {
                log::info!(path = m.path.display().to_string().as_str(), offset = m.offset; "resuming file");
                return Ok(m.offset);
            }
            return Ok(0);
        }
        if let Some(&then) = self.first_seen.get(&id) {
            return Ok(if len >= then { then } else { 0 });
        }
        Ok(0)
    }
}

impl Source for Follower {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn rotation_kinds(&self) -> &'static [RotationKind] {
        &RotationKind::ALL
    }

    fn resume(&mut self, positions: Vec<Position>, covered_until: f64) {
        let marks = positions
            .into_iter()
            .filter_map(|p| match p {
                Position::File(m) => Some(m),
                _ => None,
            })
            .collect();
        *self = Follower::resume_with_budget(
            self.cfg.clone(),
            marks,
            covered_until,
            Arc::clone(&self.budget),
        );
    }

    fn pass(&mut self, sink: &mut dyn Sink) -> ControlFlow<()> {
        self.poll_once(sink)
    }

    /// Waits until inotify reports a change under a watched directory, or
    /// the poll interval passes.
    fn wait(&mut self) {
        self.dirs_changed = match &mut self.wake {
            Some(w) => w.wait(self.cfg.poll_interval) || !w.complete(),
            None => {
                std::thread::sleep(self.cfg.poll_interval);
                true
            }
        };
    }
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
        fn lines(&mut self, _: &Position, block: &[u8], _: u64) -> ControlFlow<()> {
            let text = String::from_utf8_lossy(block);
            self.lines.extend(text.lines().map(str::to_string));
            ControlFlow::Continue(())
        }
        fn rotated(&mut self, _: &str, kind: RotationKind) {
            self.rotations.push(kind);
        }
        fn read_error(&mut self, _: &str, r: ReadErrorReason, _: &io::Error, _: bool) {
            self.errors.push(r);
        }
        fn status(&mut self, s: Status) {
            self.up = s.up;
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
        let _ = f.poll_once(&mut s);
        assert!(s.lines.is_empty());
        append(&log, " line\nnew 1\nnew");
        let _ = f.poll_once(&mut s);
        assert_eq!(s.lines, ["new 1"]);
        append(&log, " 2\n");
        let _ = f.poll_once(&mut s);
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
        let _ = f.poll_once(&mut s);
        append(&log, "a\n");
        let _ = f.poll_once(&mut s);
        // rename, with a late write to the old file before the writer reopens
        std::fs::rename(&log, d.join("gw.log.1")).unwrap();
        append(&d.join("gw.log.1"), "b\n");
        append(&log, "c\n");
        let _ = f.poll_once(&mut s);
        // copytruncate
        std::fs::copy(&log, d.join("gw.log.2")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .unwrap();
        append(&log, "d\n");
        let _ = f.poll_once(&mut s);
        // delete + recreate
        std::fs::remove_file(&log).unwrap();
        append(&log, "e\n");
        let _ = f.poll_once(&mut s);
        let _ = f.poll_once(&mut s);
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
        let _ = f.poll_once(&mut s);
        std::fs::rename(&log, d.join("gw.log.1")).unwrap();
        append(&log, "two\n");
        let _ = f.poll_once(&mut s);
        let _ = f.poll_once(&mut s);
        assert_eq!(s.lines, ["one", "two"]);
    }

    #[test]
    fn missing_files_are_reported_and_picked_up_later() {
        let d = dir("missing");
        let log = d.join("late.log");
        let mut f = follower(&log, StartAt::End);
        let mut s = Collect::default();
        let _ = f.poll_once(&mut s);
        assert!(!s.up);
        assert_eq!(s.errors, [ReadErrorReason::NotFound]);
        append(&log, "first\n");
        let _ = f.poll_once(&mut s);
        assert!(s.up);
        // A file that appears after the start is read from its beginning.
        assert_eq!(s.lines, ["first"]);
    }

    /// copytruncate's copy caught half-written is a copy, not a new file:
    /// reading it from its start would count the original's lines twice.
    #[test]
    fn a_copy_still_being_written_is_not_read_as_new() {
        let d = dir("copying");
        let log = d.join("gw.log");
        let lines: String = (0..50)
            .map(|i| format!("{i:04} a line long enough to fill the head\n"))
            .collect();
        append(&log, &lines);
        let mut cfg = FollowConfig::new(vec![log.display().to_string()]);
        cfg.rotated = vec![format!("{}.*", log.display())];
        cfg.start_at = StartAt::Beginning;
        cfg.drain_grace = Duration::ZERO;
        let mut f = Follower::new(cfg);
        let mut s = Collect::default();
        let _ = f.poll_once(&mut s);
        assert_eq!(s.lines.len(), 50);
        // The copy so far: its first 40 bytes, fewer than the head.
        std::fs::write(d.join("gw.log.1"), &lines.as_bytes()[..40]).unwrap();
        let _ = f.poll_once(&mut s);
        assert_eq!(s.lines.len(), 50, "a partial copy was read as a new file");
        // The copy completes, the original is truncated and written anew.
        std::fs::write(d.join("gw.log.1"), &lines).unwrap();
        std::fs::write(&log, "after 1\n").unwrap();
        let _ = f.poll_once(&mut s);
        let _ = f.poll_once(&mut s);
        assert_eq!(s.lines.len(), 51, "{:?}", &s.lines[50..]);
        assert_eq!(s.lines.last().map(String::as_str), Some("after 1"));
    }

    #[test]
    fn compressed_rotations_are_ignored() {
        let d = dir("gz");
        append(&d.join("gw.log.1.gz"), "\x1fjunk\n");
        append(&d.join("gw.log"), "x\n");
        let mut f = follower(&d.join("gw.log*"), StartAt::Beginning);
        let mut s = Collect::default();
        let _ = f.poll_once(&mut s);
        assert_eq!(s.lines, ["x"]);
        assert_eq!(f.files(), 1);
    }
}
