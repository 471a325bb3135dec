//! Standard input as a source, for `tail -F file | gateway_exporter …` and
//! `journalctl -f | …`.
//!
//! A pipe has no position to resume from, so blocks go out with
//! [`Position::Stream`] and a restart starts over with whatever the pipe
//! brings next. Reading blocks, and a blocked read cannot be interrupted,
//! so a reader thread owns the input and hands chunks over a bounded
//! channel: a pass only takes what has arrived and never blocks, and
//! shutdown never waits for the writer. The end of the input ends the
//! source: its last partial line is counted, and it reports itself down
//! from then on while the exporter goes on serving.
//!
//! ```
//! use std::ops::ControlFlow;
//! use gateway_exporter::source::{Position, Sink, Source};
//! use gateway_exporter::source::stdin::StreamSource;
//! struct Count(usize);
//! impl Sink for Count {
//!     fn lines(&mut self, _: &Position, b: &[u8], _: u64) -> ControlFlow<()> {
//!         self.0 += b.iter().filter(|c| **c == b'\n').count();
//!         ControlFlow::Continue(())
//!     }
//! }
//! let mut s = StreamSource::new(&b"one\ntwo\n"[..], 1024, std::time::Duration::from_millis(10));
//! let mut sink = Count(0);
//! while !s.ended() {
//!     s.wait();
//!     let _ = s.pass(&mut sink);
//! }
//! assert_eq!(sink.0, 2);
//! ```

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use super::framing::{Drained, Framer};
use super::{Position, ReadErrorReason, Sink, Source, Status};

/// Chunks in flight between the reader thread and the source: enough to
/// keep reading while a pass counts, little enough to bound memory.
const CHUNKS_IN_FLIGHT: usize = 16;
const CHUNK_BYTES: usize = 256 * 1024;

enum Chunk {
    Bytes(Vec<u8>),
    End,
    Failed(io::Error),
}

/// Any byte stream (stdin in the exporter) as a source.
pub struct StreamSource {
    chunks: Receiver<Chunk>,
    /// A chunk that [`Source::wait`] received and the next pass counts.
    early: Option<Chunk>,
    framer: Framer,
    poll_interval: Duration,
    ended: bool,
    reported_end: bool,
}

impl StreamSource {
    /// Reads `input` on a thread of its own.
    pub fn new(
        input: impl Read + Send + 'static,
        max_line_bytes: usize,
        poll_interval: Duration,
    ) -> StreamSource {
        let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || read_all(input, tx))
            .expect("spawning the stdin reader");
        StreamSource {
            chunks: rx,
            early: None,
            framer: Framer::new(max_line_bytes),
            poll_interval,
            ended: false,
            reported_end: false,
        }
    }

    /// The exporter's standard input.
    pub fn stdin(max_line_bytes: usize, poll_interval: Duration) -> StreamSource {
        StreamSource::new(io::stdin(), max_line_bytes, poll_interval)
    }

    /// Whether the input has ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Frames `bytes` and hands out the whole lines; false when the sink
    /// asked to stop.
    fn feed(&mut self, mut bytes: &[u8], sink: &mut dyn Sink) -> bool {
        let mut go_on = true;
        while !bytes.is_empty() {
            if self.framer.read_from(&mut bytes).is_err() {
                break;
            }
            self.framer.drain(|d: Drained<'_>| {
                go_on &= sink
                    .lines(&Position::Stream, d.block, d.oversize)
                    .is_continue();
            });
        }
        go_on
    }
}

fn read_all(mut input: impl Read, tx: SyncSender<Chunk>) {
    loop {
        let mut buf = vec![0u8; CHUNK_BYTES];
        let chunk = match input.read(&mut buf) {
            Ok(0) => Chunk::End,
            Ok(n) => {
                buf.truncate(n);
                Chunk::Bytes(buf)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Chunk::Failed(e),
        };
        let last = !matches!(chunk, Chunk::Bytes(_));
        if tx.send(chunk).is_err() || last {
            return;
        }
    }
}

impl Source for StreamSource {
    fn kind(&self) -> &'static str {
        "stdin"
    }

    /// A stream has nothing to resume from.
    fn resume(&mut self, _positions: Vec<Position>, _covered_until: f64) {}

    fn pass(&mut self, sink: &mut dyn Sink) -> ControlFlow<()> {
        while !self.ended {
            let chunk = match self
                .early
                .take()
                .map(Ok)
                .unwrap_or_else(|| self.chunks.try_recv())
            {
                Ok(c) => c,
                Err(TryRecvError::Empty) => break,
                // The reader is gone without saying why: as an end.
                Err(TryRecvError::Disconnected) => Chunk::End,
            };
            match chunk {
                Chunk::Bytes(b) => {
                    if !self.feed(&b, sink) {
                        return ControlFlow::Break(());
                    }
                }
                Chunk::End => self.ended = true,
                Chunk::Failed(e) => {
                    sink.read_error("-", ReadErrorReason::of(&e), &e, true);
                    self.ended = true;
                }
            }
        }
        if self.ended && !self.reported_end {
            self.reported_end = true;
            // The last line of a stream need not end in a newline.
            self.framer.finish(|d| {
                let _ = sink.lines(&Position::Stream, d.block, d.oversize);
            });
            log::info!("standard input ended; the source stays down, the exporter serves on");
        }
        sink.status(Status {
            up: !self.ended,
            ..Status::default()
        });
        ControlFlow::Continue(())
    }

    fn wait(&mut self) {
        if self.ended {
            std::thread::sleep(self.poll_interval);
            return;
        }
        if self.early.is_none() {
            match self.chunks.recv_timeout(self.poll_interval) {
                Ok(c) => self.early = Some(c),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.early = Some(Chunk::End),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        text: Vec<u8>,
        up: Vec<bool>,
    }

    impl Sink for Collect {
        fn lines(&mut self, at: &Position, block: &[u8], _: u64) -> ControlFlow<()> {
            assert_eq!(at, &Position::Stream);
            self.text.extend_from_slice(block);
            ControlFlow::Continue(())
        }
        fn status(&mut self, s: Status) {
            assert_eq!(s.files, None);
            self.up.push(s.up);
        }
    }

    #[test]
    fn counts_every_line_and_the_unterminated_last_one_then_stays_down() {
        let input: &'static [u8] = b"a\nb\nlast";
        let mut s = StreamSource::new(input, 1024, Duration::from_millis(5));
        let mut sink = Collect::default();
        for _ in 0..200 {
            s.wait();
            let _ = s.pass(&mut sink);
            if s.ended() {
                break;
            }
        }
        let _ = s.pass(&mut sink);
        assert_eq!(sink.text, b"a\nb\nlast");
        assert_eq!(sink.up.last(), Some(&false));
    }

    #[test]
    fn a_pass_never_blocks_on_a_silent_writer() {
        let (_keep_open, reader) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut s = StreamSource::new(reader, 1024, Duration::from_millis(5));
        let mut sink = Collect::default();
        let started = std::time::Instant::now();
        assert!(s.pass(&mut sink).is_continue());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(sink.up, [true]);
    }
}
