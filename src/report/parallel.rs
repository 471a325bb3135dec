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
//! their state after [`SETTLING_CANDIDATES`] candidates (twice the longest
//! window) holds everything later verdicts read: older keys can no longer
//! be within a window, and are the first the filter would forget. Each
//! range but the first therefore counts from an empty state, setting its
//! first [`SETTLING_CANDIDATES`] candidate lines aside uncounted; from
//! there on its verdicts are the sequential ones. When the threads are
//! done, the ranges are settled in file order: the set-aside lines of a
//! range are counted through the state the range before it ended with
//! (the first range's is exact, and so, by induction, is each one's),
//! which then continues as the range's own state if the range had more
//! candidates than it set aside, and as the carried one otherwise.
//! `tests/properties.rs` checks this against the sequential scan on random
//! inputs cut into many small ranges.
//!
//! So no thread reads before its range: a thread that searched backwards
//! for the candidates before its range read megabytes of a sparse log
//! again, once per thread (docs/performance.md has the figures).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Tally, Timeline, scan_with_counter};
use crate::classify::{Classifier, Verdict};
use crate::metrics::BlockCounter;
use crate::timestamp::Zone;

/// The longest repeat window a rule may have (the filter's memory).
pub const REPEAT_WINDOW_MAX: u64 = 64;

/// Candidate lines after which a range's own state is exact: twice the
/// longest window.
pub const SETTLING_CANDIDATES: u64 = 2 * REPEAT_WINDOW_MAX;

/// A range's first candidate lines, set aside uncounted for the merge.
#[derive(Debug, Default)]
pub(crate) struct Unsettled {
    lines: Vec<Vec<u8>>,
    /// Whether candidates came after those: the range's own state is then
    /// exact at its end.
    settled: bool,
}

impl Unsettled {
    /// Takes `line` (a candidate) while fewer than [`SETTLING_CANDIDATES`]
    /// are set aside; `false` once the range counts for itself.
    pub(crate) fn set_aside(&mut self, line: &[u8]) -> bool {
        if self.lines.len() < SETTLING_CANDIDATES as usize {
            self.lines.push(line.to_vec());
            true
        } else {
            self.settled = true;
            false
        }
    }
}

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
    scan_file_started(c, path, threads, min_range, started, timeline_bucket)
}

/// As [`scan_file`], with the reading time of lines that carry no time
/// given, so that tests can compare it with a sequential scan.
pub fn scan_file_started(
    c: &Classifier,
    path: &Path,
    threads: usize,
    min_range: u64,
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
    // A clone shares the compiled automata but gets its own regex cache
    // pools (threads sharing one pool contend on it for every line). They
    // outlive the threads: the merge goes on with the counters they hold.
    let clones: Vec<Classifier> = starts.windows(2).map(|_| c.clone()).collect();
    let results: Vec<io::Result<RangeScan<'_>>> = std::thread::scope(|s| {
        let handles: Vec<_> = starts
            .windows(2)
            .zip(&clones)
            .map(|(w, own)| {
                let (start, end, file) = (w[0], w[1], &file);
                s.spawn(move || scan_range(own, file, start, end, started, timeline_bucket))
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
    let mut carried: Option<BlockCounter<'_>> = None;
    for r in results {
        let r = r?;
        tally.add(&r.tally);
        if let (Some(all), Some(part)) = (timeline.as_mut(), &r.timeline) {
            all.merge(part);
        }
        if let Some(before) = carried.as_mut() {
            for line in &r.unsettled.lines {
                before.count(line, 0, None, |v, _, at| {
                    tally.absorb(v);
                    if let (Verdict::Event(e), Some(at), Some(t)) = (v, at, timeline.as_mut()) {
                        t.add(e.errname.as_str(), at);
                    }
                });
            }
        }
        if carried.is_none() || r.unsettled.settled {
            carried = Some(r.counter);
        }
    }
    Ok((tally, timeline))
}

/// What a range's thread hands the merge.
struct RangeScan<'c> {
    tally: Tally,
    timeline: Option<Timeline>,
    /// The repeat filter and line clock as the range left them.
    counter: BlockCounter<'c>,
    unsettled: Unsettled,
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

fn scan_range<'c>(
    c: &'c Classifier,
    file: &File,
    start: u64,
    end: u64,
    started: f64,
    timeline_bucket: Option<u64>,
) -> io::Result<RangeScan<'c>> {
    let mut counter = BlockCounter::new(c, None).reading_at(started);
    let mut timeline = timeline_bucket.map(Timeline::new);
    if timeline.is_some() {
        counter = counter.with_line_times(Zone::local());
    }
    let mut unsettled = Unsettled::default();
    let mut range = Range {
        file,
        pos: start,
        end,
    };
    let tally = scan_with_counter(
        c,
        &mut counter,
        &mut range,
        None,
        timeline.as_mut(),
        (start > 0).then_some(&mut unsettled),
        |_| {},
    )?;
    Ok(RangeScan {
        tally,
        timeline,
        counter,
        unsettled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Profile;

    #[test]
    fn no_window_reaches_past_what_settles() {
        // The merge's exactness rests on it (and on the filter keeping at
        // least this many keys).
        for profile in Profile::ALL {
            for spec in profile.rules() {
                if let Some(w) = spec.witness {
                    assert!(u64::from(w.window) <= REPEAT_WINDOW_MAX, "{}", spec.name);
                }
            }
        }
        assert!(crate::classify::repeat::REMEMBERED as u64 >= REPEAT_WINDOW_MAX);
    }
}
