//! One followed file: where its framer started, how far it was read, its
//! first bytes as last seen, and reading it to its current end while
//! noticing that it was truncated and rewritten under us.
//!
//! A tracked file holds its descriptor while the process's budget allows
//! ([`Lease`]); beyond it, the descriptor is closed after each read and the
//! file reopened — its identity checked again — at the next pass that sees
//! it change. Either way, a pass that sees the same size and times as the
//! last one costs nothing but the `stat` that told it so.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::PassSink;
use super::identity::{FileId, FileMark, HEAD_BYTES, fnv1a, read_at_most};
use super::open::{Lease, OpenError, id_of, open_regular};
use crate::source::RotationKind;
use crate::source::framing::{Drained, Framer};

/// What a `stat` said last time: equal again means nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Seen {
    fn of(meta: &std::fs::Metadata) -> Seen {
        Seen {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

pub(super) struct Tracked {
    pub(super) path: PathBuf,
    /// `None` while the file is followed without a descriptor.
    file: Option<File>,
    /// The budget's descriptor, when this file keeps one.
    lease: Option<Lease>,
    pub(super) id: FileId,
    /// The file offset at which the framer started.
    base: u64,
    /// Bytes of the file read so far (the file position).
    read_to: u64,
    framer: Framer,
    /// The file's first bytes (up to [`HEAD_BYTES`]) as last seen.
    pub(super) head: Vec<u8>,
    seen: Option<Seen>,
}

impl Tracked {
    /// Starts following `file` at `offset`; `lease` is its descriptor from
    /// the budget, `None` to close it after every read.
    pub(super) fn open(
        path: &Path,
        file: File,
        id: FileId,
        offset: u64,
        max_line_bytes: usize,
        lease: Option<Lease>,
    ) -> io::Result<Tracked> {
        let mut t = Tracked {
            path: path.to_path_buf(),
            file: Some(file),
            lease,
            id,
            base: offset,
            read_to: offset,
            framer: Framer::new(max_line_bytes),
            head: Vec::new(),
            seen: None,
        };
        let len = t.fd()?.metadata()?.len();
        t.head_changed(len)?;
        t.fd_mut()?.seek(SeekFrom::Start(offset))?;
        if offset > 0 {
            // Starting inside a line would count its tail as a line.
            let mut last = [0u8; 1];
            if t.fd()?.read_at(&mut last, offset - 1)? == 1 && last[0] != b'\n' {
                t.framer.skip_to_next_line();
            }
        }
        Ok(t)
    }

    fn fd(&self) -> io::Result<&File> {
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("file not open"))
    }

    fn fd_mut(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("file not open"))
    }

    /// Whether the file keeps a descriptor between passes.
    pub(super) fn is_held(&self) -> bool {
        self.file.is_some()
    }

    /// Whether `meta` (a fresh `stat` of the path) shows the file exactly
    /// as the last read left it. The kernel stamps times from a coarse
    /// clock (a tick of a few ms): a file truncated and rewritten to exactly
    /// its old length within the tick of the last `stat` is read at its next
    /// change, not at once.
    pub(super) fn unchanged(&self, meta: &std::fs::Metadata) -> bool {
        self.seen == Some(Seen::of(meta)) && meta.len() == self.read_to
    }

    /// Remembers what the `stat` before a read said.
    pub(super) fn saw(&mut self, meta: &std::fs::Metadata) {
        self.seen = Some(Seen::of(meta));
    }

    /// Makes sure the file is open: a file followed without a descriptor is
    /// reopened at `path`. `Ok(false)` when the path names another file now
    /// (the next pass sees the rotation).
    pub(super) fn reopen(&mut self) -> Result<bool, OpenError> {
        if self.file.is_some() {
            return Ok(true);
        }
        let (mut file, meta) = open_regular(&self.path)?;
        if id_of(&meta) != self.id {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(self.read_to))?;
        self.file = Some(file);
        Ok(true)
    }

    /// Adopts `file`, found under another name (a rotated one), for the
    /// rest of its life.
    pub(super) fn adopt(&mut self, path: PathBuf, mut file: File) -> io::Result<()> {
        file.seek(SeekFrom::Start(self.read_to))?;
        self.path = path;
        self.file = Some(file);
        Ok(())
    }

    /// After a read: a file without a budget descriptor closes its
    /// descriptor again, and any file gives its read buffer back.
    pub(super) fn rest(&mut self) {
        if self.lease.is_none() {
            self.file = None;
        }
        self.framer.release();
    }

    pub(super) fn mark(&self) -> FileMark {
        FileMark {
            path: self.path.clone(),
            dev: self.id.0,
            ino: self.id.1,
            head_len: self.head.len() as u32,
            head_hash: fnv1a(&self.head),
            offset: self.committed(),
        }
    }

    /// The offset up to which every line was handed out.
    pub(super) fn committed(&self) -> u64 {
        self.base + self.framer.committed()
    }

    /// Whether the file's first bytes differ from those seen before; learns
    /// more of them while the file is shorter than [`HEAD_BYTES`].
    fn head_changed(&mut self, len: u64) -> io::Result<bool> {
        let want = (HEAD_BYTES as u64).min(len) as usize;
        let mut buf = [0u8; HEAD_BYTES];
        let got = read_at_most(self.fd()?, &mut buf[..want])?;
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
    pub(super) fn restart(&mut self, max_line_bytes: usize) -> io::Result<()> {
        self.fd_mut()?.seek(SeekFrom::Start(0))?;
        self.base = 0;
        self.read_to = 0;
        self.framer = Framer::new(max_line_bytes);
        self.head.clear();
        self.seen = None;
        let len = self.fd()?.metadata()?.len();
        self.head_changed(len)?;
        Ok(())
    }

    /// Reads from the position to the current end. Returns the bytes read,
    /// or `None` when the file was truncated and rewritten under us: then
    /// the bytes just read may be new content at an old offset, and
    /// nothing of them was handed out. Stops early when the sink asks to.
    pub(super) fn read_available(&mut self, sink: &mut PassSink<'_>) -> io::Result<Option<u64>> {
        // Shorter than what was read, or other first bytes: rewritten since.
        let len = self.fd()?.metadata()?.len();
        if len < self.read_to || self.head_changed(len)? {
            return Ok(None);
        }
        let mut total = 0u64;
        while !sink.halted() {
            let Some(file) = self.file.as_mut() else {
                return Err(io::Error::other("file not open"));
            };
            let n = self.framer.read_from(file)?;
            if n == 0 {
                break;
            }
            // Bytes read before the first bytes were seen unchanged are the
            // file's old content; if they changed, any of them may be new.
            let len = self.fd()?.metadata()?.len();
            if self.head_changed(len)? {
                return Ok(None);
            }
            total += n as u64;
            self.read_to += n as u64;
            let base = self.base;
            let mut mark = self.mark();
            self.framer.drain(|d: Drained<'_>| {
                mark.offset = base + d.offset;
                sink.lines(&mark, d.block, d.oversize);
            });
        }
        Ok(Some(total))
    }

    /// Hands out a closed file's partial last line.
    pub(super) fn close(&mut self, sink: &mut PassSink<'_>) {
        let base = self.base;
        let mut mark = self.mark();
        self.framer.finish(|d: Drained<'_>| {
            mark.offset = base + d.offset;
            sink.lines(&mark, d.block, d.oversize);
        });
    }

    /// A file that was moved keeps its links; a deleted one has none.
    /// Only for a file that holds its descriptor.
    pub(super) fn rotation_kind(&self) -> RotationKind {
        match self.fd().and_then(File::metadata) {
            Ok(m) if m.nlink() == 0 => RotationKind::Recreate,
            _ => RotationKind::Rename,
        }
    }
}
