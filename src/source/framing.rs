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

#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    filled: usize,
    /// Inside a line too long to hold: discard up to the next newline.
    skipping: bool,
    /// Lines skipped whole by the framer (each also counts as a line).
    pub oversize_skipped: u64,
    /// Bytes handed out or skipped: the offset of the first pending byte
    /// relative to where reading started.
    consumed: u64,
}

impl Framer {
    pub fn new(max_line_bytes: usize) -> Framer {
        let cap = max_line_bytes.saturating_mul(2).max(MIN_BUFFER);
        Framer {
            buf: vec![0; cap],
            filled: 0,
            skipping: false,
            oversize_skipped: 0,
            consumed: 0,
        }
    }

    /// Reads once from `r` into free space. Returns the bytes read (0 at
    /// end of input). Interrupted reads are retried.
    pub fn read_from(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.filled == self.buf.len() {
            // The pending partial line fills the buffer: it is oversize.
            self.skip_pending();
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

    fn skip_pending(&mut self) {
        if !self.skipping {
            self.oversize_skipped += 1;
        }
        self.skipping = true;
        self.consumed += self.filled as u64;
        self.filled = 0;
    }

    /// Hands every complete line out as one block and keeps the partial
    /// last line.
    pub fn drain(&mut self, mut on_block: impl FnMut(&[u8])) {
        let mut start = 0;
        if self.skipping {
            match memchr(b'\n', &self.buf[..self.filled]) {
                Some(i) => {
                    start = i + 1;
                    self.skipping = false;
                }
                None => {
                    self.consumed += self.filled as u64;
                    self.filled = 0;
                    return;
                }
            }
        }
        if let Some(last) = memrchr(b'\n', &self.buf[start..self.filled]) {
            let end = start + last + 1;
            on_block(&self.buf[start..end]);
            start = end;
        }
        self.consumed += start as u64;
        self.buf.copy_within(start..self.filled, 0);
        self.filled -= start;
    }

    /// At end of input: hands out the partial last line, if any, as a line.
    pub fn finish(&mut self, mut on_block: impl FnMut(&[u8])) {
        self.drain(&mut on_block);
        if self.filled > 0 && !self.skipping {
            on_block(&self.buf[..self.filled]);
        }
        self.consumed += self.filled as u64;
        self.filled = 0;
        self.skipping = false;
    }

    /// Forgets everything held (the file was truncated under us: the held
    /// partial line belonged to content that is gone).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.skipping = false;
    }

    /// Discards input up to and including the next newline without counting
    /// it: used when reading starts in the middle of a line.
    pub fn skip_to_next_line(&mut self) {
        self.reset();
        // Already skipping, so a long remainder is not counted as oversize.
        self.skipping = true;
    }

    /// Bytes held back as a partial line.
    pub fn pending(&self) -> usize {
        if self.skipping { 0 } else { self.filled }
    }

    /// Bytes handed out or skipped so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` in `chunk`-sized pieces and returns the lines handed out.
    fn frame(input: &[u8], chunk: usize, cap: usize) -> (Vec<Vec<u8>>, u64) {
        let mut f = Framer::new(cap);
        f.buf.truncate(cap.max(4)); // a tiny buffer to exercise the skip path
        let mut lines = Vec::new();
        let mut push = |b: &[u8]| {
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
        (lines, f.oversize_skipped)
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
    fn consumed_tracks_offsets() {
        let mut f = Framer::new(16);
        let mut r: &[u8] = b"abc\nde";
        f.read_from(&mut r).unwrap();
        f.drain(|_| {});
        assert_eq!(f.consumed(), 4);
        assert_eq!(f.pending(), 2);
    }
}
