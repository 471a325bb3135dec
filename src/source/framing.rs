//! Cutting a byte stream into blocks of whole lines.
//!
//! The framer owns one buffer. Callers fill it from any reader, then drain
//! it: every complete line goes out in one block (so the classifier can scan
//! the whole block at once), and a partial last line stays behind until its
//! newline arrives. A line longer than the buffer can hold is skipped up to
//! its newline and counted as oversize; the line after it is read normally.
//! Lines longer than the cap but short enough to hold are passed on, and
//! the classifier counts and skips them.

use std::io::{self, Read};

use memchr::{memchr, memrchr};

/// The smallest buffer; larger caps get a buffer of twice the cap.
const MIN_BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// A line too long to hold: counted once its newline is found.
    Oversize,
    /// The tail of a line we started reading in the middle of: not counted.
    MidLine,
}

/// What one drain step hands out: whole lines, how many over-long lines
/// were skipped before them, and the offset just past both — the point up
/// to which the input is fully accounted for, which is what a checkpoint
/// may record.
#[derive(Debug, Clone, Copy)]
pub struct Drained<'a> {
    pub block: &'a [u8],
    pub oversize: u64,
    pub offset: u64,
}

#[derive(Debug)]
pub struct Framer {
    /// Allocated at the first read and released by [`Framer::release`]:
    /// thousands of idle followed files hold no buffer.
    buf: Vec<u8>,
    cap: usize,
    filled: usize,
    skipping: Option<Skip>,
    /// Bytes removed from the buffer (handed out or discarded), relative to
    /// where reading started.
    consumed: u64,
    /// The offset up to which everything was handed out or counted.
    committed: u64,
}

impl Framer {
    pub fn new(max_line_bytes: usize) -> Framer {
        let cap = max_line_bytes.saturating_mul(2).max(MIN_BUFFER);
        Framer {
            buf: Vec::new(),
            cap,
            filled: 0,
            skipping: None,
            consumed: 0,
            committed: 0,
        }
    }

    /// Reads once from `r` into free space. Returns the bytes read (0 at
    /// end of input). Interrupted reads are retried. Call [`drain`] after
    /// every read.
    ///
    /// [`drain`]: Framer::drain
    pub fn read_from(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.buf.len() < self.cap {
            // Zeroed pages from the allocator are only touched as bytes
            // arrive, so a small append costs a page, not the whole buffer.
            let mut buf = vec![0; self.cap];
            buf[..self.filled].copy_from_slice(&self.buf[..self.filled]);
            self.buf = buf;
        }
        if self.filled == self.buf.len() {
            // A partial line fills the whole buffer: it is over-long. Its
            // bytes are dropped now; it is counted when its end is found,
            // so the committed offset never points into its middle.
            self.skipping.get_or_insert(Skip::Oversize);
            self.consumed += self.filled as u64;
            self.filled = 0;
        }
        loop {
            match r.read(&mut self.buf[self.filled..]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands every complete line out as one block and keeps the partial
    /// last line.
    pub fn drain(&mut self, mut on_block: impl FnMut(Drained<'_>)) {
        let mut start = 0;
        let mut oversize = 0;
        if let Some(kind) = self.skipping {
            match memchr(b'\n', &self.buf[..self.filled]) {
                Some(i) => {
                    start = i + 1;
                    self.skipping = None;
                    oversize = u64::from(kind == Skip::Oversize);
                }
                None => {
                    self.consumed += self.filled as u64;
                    self.filled = 0;
                    return;
                }
            }
        }
        let end = memrchr(b'\n', &self.buf[start..self.filled]).map_or(start, |l| start + l + 1);
        if end > 0 {
            let offset = self.consumed + end as u64;
            on_block(Drained {
                block: &self.buf[start..end],
                oversize,
                offset,
            });
            self.committed = offset;
        }
        self.consumed += end as u64;
        self.buf.copy_within(end..self.filled, 0);
        self.filled -= end;
    }

    /// At end of input: hands out the partial last line, if any, as a line.
    pub fn finish(&mut self, mut on_block: impl FnMut(Drained<'_>)) {
        self.drain(&mut on_block);
        let oversize = u64::from(self.skipping == Some(Skip::Oversize));
        let tail = if self.skipping.is_some() {
            0
        } else {
            self.filled
        };
        if tail > 0 || oversize > 0 {
            let offset = self.consumed + self.filled as u64;
            on_block(Drained {
                block: &self.buf[..tail],
                oversize,
                offset,
            });
            self.committed = offset;
        }
        self.consumed += self.filled as u64;
        self.filled = 0;
        self.skipping = None;
    }

    /// Discards input up to and including the next newline without counting
    /// it: used when reading starts in the middle of a line.
    pub fn skip_to_next_line(&mut self) {
        self.skipping = Some(Skip::MidLine);
    }

    /// Gives the buffer back, keeping only a partial line: for a source
    /// that has read all there is for now.
    pub fn release(&mut self) {
        if self.filled == 0 {
            self.buf = Vec::new();
        } else {
            self.buf.truncate(self.filled);
            self.buf.shrink_to_fit();
        }
    }

    /// Bytes held back as a partial line.
    pub fn pending(&self) -> usize {
        if self.skipping.is_some() {
            0
        } else {
            self.filled
        }
    }

    /// The offset, relative to where reading started, up to which every
    /// line was handed out or counted.
    pub fn committed(&self) -> u64 {
        self.committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` in `chunk`-sized pieces and returns the lines handed out.
    fn frame(input: &[u8], chunk: usize, cap: usize) -> (Vec<Vec<u8>>, u64) {
        let mut f = Framer::new(cap);
        f.cap = cap.max(4); // a tiny buffer to exercise the skip path
        let mut lines = Vec::new();
        let mut skipped = 0;
        let mut push = |d: Drained<'_>| {
            skipped += d.oversize;
            let b = d.block;
            if b.is_empty() {
                return;
            }
            for l in b.strip_suffix(b"\n").unwrap_or(b).split(|c| *c == b'\n') {
                lines.push(l.to_vec());
            }
        };
        for piece in input.chunks(chunk) {
            let mut r = piece;
            while !r.is_empty() {
                f.read_from(&mut r).unwrap();
                f.drain(&mut push);
            }
        }
        f.finish(&mut push);
        (lines, skipped)
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let (lines, skipped) = frame(b"ab\ncd\nef", 1, 16);
        assert_eq!(lines, [b"ab".to_vec(), b"cd".to_vec(), b"ef".to_vec()]);
        assert_eq!(skipped, 0);
    }

    #[test]
    fn lines_longer_than_the_buffer_are_skipped_and_counted() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend(b"\nafter\n");
        for chunk in [1, 3, 7, 64] {
            let (lines, skipped) = frame(&input, chunk, 8);
            assert_eq!(lines, [b"ok".to_vec(), b"after".to_vec()], "chunk {chunk}");
            assert_eq!(skipped, 1);
        }
    }

    #[test]
    fn a_released_buffer_keeps_the_partial_line() {
        let mut f = Framer::new(16);
        let mut r: &[u8] = b"ab\ncd";
        f.read_from(&mut r).unwrap();
        f.drain(|_| {});
        f.release();
        assert_eq!(f.buf.len(), 2);
        let mut r: &[u8] = b"e\n";
        f.read_from(&mut r).unwrap();
        let mut got = Vec::new();
        f.drain(|d| got.extend_from_slice(d.block));
        assert_eq!(got, b"cde\n");
        f.release();
        assert!(f.buf.is_empty() && f.buf.capacity() == 0);
    }

    #[test]
    fn committed_offsets_never_point_into_a_line() {
        let mut f = Framer::new(16);
        f.cap = 8;
        let mut r: &[u8] = b"abc\nde";
        f.read_from(&mut r).unwrap();
        f.drain(|_| {});
        assert_eq!(f.committed(), 4);
        assert_eq!(f.pending(), 2);
        // An over-long line ("de" + 16 more bytes): nothing is committed
        // until its end is found, then everything up to it at once.
        let mut r: &[u8] = b"fghijklmnopqrstu\nvw\n";
        let mut oversize = 0;
        while f.read_from(&mut r).unwrap() > 0 {
            f.drain(|d| oversize += d.oversize);
            assert!([4, 23, 26].contains(&f.committed()), "{}", f.committed());
        }
        assert_eq!(oversize, 1);
        assert_eq!(f.committed(), 26);
    }
}
