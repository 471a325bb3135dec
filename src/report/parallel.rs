//! `scan` of one large file on every core: the file is cut at line
//! boundaries into one range per thread, each range is counted on its own,
//! and the tallies (and timelines) are added up.
//!
//! **Exactly what a sequential scan counts.** Two things carry state from
//! line to line: the repeat filter (a failure seen within the last `window`
//! candidate lines, at most [`REPEAT_WINDOW_MAX`], is a repeat) and the line
//! clock (an event line without a time takes the time of the last event
//! line that had one). Both are fed candidate lines only (verdicts other
//! than `NoMatch`), and a line's verdict depends on that line alone. So
//! before its range, each thread finds the last [`WARM_UP_CANDIDATES`]
//! candidate lines before it (or every one, back to the file's start) and
//! feeds just those through the same counter without counting them. The
//! filter's memory then holds every key a sequential scan would still look
//! at (older keys can no longer be within a window, and are the first it
//! would forget), so every verdict in the range is the sequential one.
//! `tests/properties.rs` checks this against the sequential scan on random
//! inputs cut into many small ranges.
//!
//! The candidates are found by framing chunks backwards from the range's
//! start, so a thread reads only as far back as they reach plus one chunk,
//! and classifies those bytes once.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Tally, Timeline, scan_with_counter};
use crate::classify::Classifier;
use crate::metrics::BlockCounter;
use crate::source::framing::Framer;
use crate::timestamp::Zone;

/// The longest repeat window a rule may have (the filter's memory).
pub const REPEAT_WINDOW_MAX: u64 = 64;

/// Candidate lines replayed before a range: twice the longest window.
pub const WARM_UP_CANDIDATES: u64 = 2 * REPEAT_WINDOW_MAX;

/// Scans `path` (a regular, uncompressed file) in `threads` ranges of at
/// least `min_range` bytes; fewer when the file is small.
pub fn scan_file(
    c: &Classifier,
    path: &Path,
    threads: usize,
    min_range: u64,
    timeline_bucket: Option<u64>,
) -> io::Result<(Tally, Option<Timeline>)> {
    let started = crate::clock::unix_now();
    scan_file_tuned(
        c,
        path,
        threads,
        min_range,
        1 << 20,
        started,
        timeline_bucket,
    )
}

/// As [`scan_file`], with the first step back of the warm-up given (tests
/// make it tiny, so the warm-up stops on its candidate count rather than
/// at the file's start).
pub fn scan_file_tuned(
    c: &Classifier,
    path: &Path,
    threads: usize,
    min_range: u64,
    warm_step: u64,
    started: f64,
    timeline_bucket: Option<u64>,
) -> io::Result<(Tally, Option<Timeline>)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let ranges = (size / min_range.max(1)).clamp(1, threads.max(1) as u64);
    let mut starts = vec![0u64];
    for k in 1..ranges {
        let start = next_line_start(&file, size * k / ranges, size)?;
        if start > *starts.last().unwrap_or(&0) && start < size {
            starts.push(start);
        }
    }
    starts.push(size);
    let results: Vec<io::Result<(Tally, Option<Timeline>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = starts
            .windows(2)
            .map(|w| {
                let (start, end, file) = (w[0], w[1], &file);
                s.spawn(move || {
                    scan_range(c, file, start, end, warm_step, started, timeline_bucket)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a scan thread panicked")))
            })
            .collect()
    });
    let mut tally = Tally::default();
    let mut timeline = timeline_bucket.map(Timeline::new);
    for r in results {
        let (t, tl) = r?;
        tally.add(&t);
        if let (Some(all), Some(part)) = (timeline.as_mut(), tl) {
            all.merge(&part);
        }
    }
    Ok((tally, timeline))
}

/// The offset just after the first newline at or after `at` (or `size`).
fn next_line_start(file: &File, at: u64, size: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = at;
    while pos < size {
        let n = file.read_at(&mut buf, pos)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
    Ok(size)
}

/// A byte range of a file as a reader, so a range is framed by the same
/// [`Framer`](crate::source::framing::Framer) loop as a whole file.
struct Range<'f> {
    file: &'f File,
    pos: u64,
    end: u64,
}

impl io::Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was scanned",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn scan_range(
    shared: &Classifier,
    file: &File,
    start: u64,
    end: u64,
    warm_step: u64,
    started: f64,
    timeline_bucket: Option<u64>,
) -> io::Result<(Tally, Option<Timeline>)> {
    // A clone shares the compiled automata but gets its own regex cache
    // pools: threads sharing one pool contend on it for every line.
    let own = shared.clone();
    let c = &own;
    let mut counter = BlockCounter::new(c, None).reading_at(started);
    let mut timeline = timeline_bucket.map(Timeline::new);
    if timeline.is_some() {
        counter = counter.with_line_times(Zone::local());
    }
    if start > 0 {
        for line in warm_up_lines(c, file, start, warm_step)? {
            counter.count(&line, 0, None, |_, _| {});
        }
    }
    let mut range = Range {
        file,
        pos: start,
        end,
    };
    let tally = scan_with_counter(c, &mut counter, &mut range, None, timeline.as_mut(), |_| {})?;
    Ok((tally, timeline))
}

/// The last [`WARM_UP_CANDIDATES`] candidate lines before `start`, oldest
/// first (all of them when the file's start comes sooner), found by
/// framing chunks of `warm_step` bytes backwards from `start`.
fn warm_up_lines(
    c: &Classifier,
    file: &File,
    start: u64,
    warm_step: u64,
) -> io::Result<VecDeque<Vec<u8>>> {
    let want = WARM_UP_CANDIDATES as usize;
    let mut lines = VecDeque::new();
    let mut end = start;
    let mut back = 0u64;
    while end > 0 && lines.len() < want {
        back = back.saturating_add(warm_step.max(1));
        let from = if back >= start {
            0
        } else {
            next_line_start(file, start - back, end)?
        };
        if from >= end {
            // No line starts in this chunk (one line is longer than it).
            continue;
        }
        let mut found = candidate_lines(c, file, from, end, want)?;
        while lines.len() < want {
            match found.pop_back() {
                Some(line) => lines.push_front(line),
                None => break,
            }
        }
        end = from;
    }
    Ok(lines)
}

/// The last `keep` candidate lines of `[from, end)` (whole lines), framed
/// as a sequential scan frames them, so over-long lines are skipped alike.
fn candidate_lines(
    c: &Classifier,
    file: &File,
    from: u64,
    end: u64,
    keep: usize,
) -> io::Result<VecDeque<Vec<u8>>> {
    let mut found = VecDeque::new();
    let mut region = Range {
        file,
        pos: from,
        end,
    };
    let mut framer = Framer::new(c.max_line_bytes());
    let mut on_block = |d: crate::source::framing::Drained<'_>| {
        c.scan_block(d.block, |_, line| {
            if found.len() == keep {
                found.pop_front();
            }
            found.push_back(line.to_vec());
        });
    };
    loop {
        let n = framer.read_from(&mut region)?;
        if n == 0 {
            framer.finish(&mut on_block);
            break;
        }
        framer.drain(&mut on_block);
    }
    Ok(found)
}
