//! One open, followed file: where its framer started, how far it was read,
//! its first bytes as last seen, and reading it to its current end while
//! noticing that it was truncated and rewritten under us.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::PassSink;
use super::identity::{FileId, FileMark, HEAD_BYTES, fnv1a, read_at_most};
use crate::source::RotationKind;
use crate::source::framing::{Drained, Framer};

pub(super) struct Tracked {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) id: FileId,
    /// The file offset at which the framer started.
    base: u64,
    /// Bytes of the file read so far (the file position).
    read_to: u64,
    framer: Framer,
    /// The file's first bytes (up to [`HEAD_BYTES`]) as last seen.
    pub(super) head: Vec<u8>,
}

impl Tracked {
    pub(super) fn open(
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
    pub(super) fn restart(&mut self, max_line_bytes: usize) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.base = 0;
        self.read_to = 0;
        self.framer = Framer::new(max_line_bytes);
        self.head.clear();
        let len = self.file.metadata()?.len();
        self.head_changed(len)?;
        Ok(())
    }

    /// Reads from the position to the current end. Returns the bytes read,
    /// or `None` when the file was truncated and rewritten under us: then
    /// the bytes just read may be new content at an old offset, and
    /// nothing of them was handed out. Stops early when the sink asks to.
    pub(super) fn read_available(&mut self, sink: &mut PassSink<'_>) -> io::Result<Option<u64>> {
        // Shorter than what was read, or other first bytes: rewritten since.
        let len = self.file.metadata()?.len();
        if len < self.read_to || self.head_changed(len)? {
            return Ok(None);
        }
        let mut total = 0u64;
        while !sink.halted() {
            let n = self.framer.read_from(&mut self.file)?;
            if n == 0 {
                break;
            }
            // Bytes read before the first bytes were seen unchanged are the
            // file's old content; if they changed, any of them may be new.
            let len = self.file.metadata()?.len();
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
    pub(super) fn rotation_kind(&self) -> RotationKind {
        match self.file.metadata() {
            Ok(m) if m.nlink() == 0 => RotationKind::Recreate,
            _ => RotationKind::Rename,
        }
    }
}
