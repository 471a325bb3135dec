//! Properties that must hold for any input: arbitrary bytes never panic,
//! and scanning whole buffers gives exactly the verdicts of classifying line
//! by line, however the input is cut into reads.

use gateway_exporter::classify::{Classifier, Profile, Verdict};
use gateway_exporter::report::{Timeline, parallel, scan_reader, scan_reader_started};
use proptest::prelude::*;

/// Lines that exercise every profile, mixed into random input.
const SEEDS: &[&str] = &[
    "ERROR write: (57) Socket is not connected",
    "Error (116) Network Read Error",
    "ERROR write: (119) network error",
    "Jan  1 00:00:00 mx postfix/smtp[1]: connect to mx.example.com[192.0.2.1]:25: Connection refused",
    "Jan  1 00:00:00 mx postfix/smtp[1]: AB: to=<a@example.com>, relay=none, status=deferred (connect to mx.example.com[192.0.2.1]:25: Connection refused)",
    "Jan  1 00:00:00 mx postfix/error[2]: AB: to=<a@example.com>, status=deferred (delivery temporarily suspended: connect to mx.example.com[192.0.2.1]:25: Connection refused)",
    "2024/01/02 03:04:05 [error] 1#1: *2 recv() failed (104: Connection reset by peer) while reading response header from upstream",
    "socket write failed, WSAENOTCONN (10057)",
    "[WinError 10054] An existing connection was forcibly closed by the remote host",
    "read tcp 10.0.0.1:1->10.0.0.2:25: read: CONNECTION RESET BY PEER",
    "some error that is not a socket error",
    "INFO connect from mail.example.net[192.0.2.1]",
];

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::sample::select(SEEDS).prop_map(|s| s.as_bytes().to_vec()),
        2 => proptest::collection::vec(any::<u8>(), 0..120),
        1 => (proptest::sample::select(SEEDS), proptest::collection::vec(any::<u8>(), 0..8), 0usize..80)
            .prop_map(|(s, junk, at)| {
                let mut v = s.as_bytes().to_vec();
                let at = at.min(v.len());
                v.splice(at..at, junk);
                v
            }),
    ]
}

fn classifier(profile: Profile, cap: usize) -> Classifier {
    Classifier::builder()
        .profile(profile)
        .max_line_bytes(cap)
        .build()
        .unwrap()
}

/// Compiling every profile's regexes per case would dominate the run.
fn all_profiles() -> &'static [Classifier] {
    static ALL: std::sync::OnceLock<Vec<Classifier>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| Profile::ALL.iter().map(|p| classifier(*p, 64)).collect())
}

fn auto(cap: usize) -> &'static Classifier {
    static SMALL: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    static LARGE: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    let cell = if cap == 64 { &SMALL } else { &LARGE };
    cell.get_or_init(|| classifier(Profile::Auto, cap))
}

fn verdicts_by_line(c: &Classifier, input: &[u8]) -> Vec<String> {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    if input.is_empty() {
        return vec![];
    }
    body.split(|b| *b == b'\n')
        .filter(|l| l.len() <= c.max_line_bytes())
        .filter_map(|l| match c.classify(l) {
            Verdict::NoMatch => None,
            v => Some(format!("{v:?}")),
        })
        .collect()
}

/// A reader that hands out the input in the given piece sizes.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self
            .sizes
            .get(self.i % self.sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        self.i += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        for c in all_profiles() {
            let _ = c.classify(&bytes);
            c.scan_block(&bytes, |_, _| {});
        }
    }

    /// Rule literals and anchored searches are shortcuts only.
    #[test]
    fn shortcuts_never_change_a_verdict(line in line_strategy()) {
        for c in all_profiles() {
            prop_assert_eq!(
                format!("{:?}", c.classify(&line)),
                format!("{:?}", c.classify_unassisted(&line))
            );
        }
    }

    #[test]
    fn scanning_equals_classifying_line_by_line(
        lines in proptest::collection::vec(line_strategy(), 0..40),
        trailing_newline in any::<bool>(),
        cap in prop_oneof![Just(64usize), Just(4096)],
    ) {
        let mut input = lines.join(&b'\n');
        if trailing_newline && !input.is_empty() {
            input.push(b'\n');
        }
        let c = auto(cap);
        let mut scanned = Vec::new();
        let stats = c.scan_block(&input, |v, _| scanned.push(format!("{v:?}")));
        prop_assert_eq!(&scanned, &verdicts_by_line(c, &input));
        let newlines = input.iter().filter(|b| **b == b'\n').count() as u64;
        let expected_lines = newlines + u64::from(!input.is_empty() && !input.ends_with(b"\n"));
        prop_assert_eq!(stats.lines, expected_lines);
    }

    #[test]
    fn how_reads_are_cut_does_not_change_totals(
        lines in proptest::collection::vec(line_strategy(), 1..40),
        sizes in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let input = lines.join(&b'\n');
        let c = auto(4096);
        let whole = scan_reader(c, &mut &input[..], None, |_| {}).unwrap();
        let mut chunked = Chunked { data: &input, sizes, i: 0 };
        let cut = scan_reader(c, &mut chunked, None, |_| {}).unwrap();
        prop_assert_eq!(whole, cut);
    }

    /// Many small ranges, ranges with fewer candidates than they set
    /// aside, and repeats that span range boundaries: the parallel scan
    /// counts exactly what one sequential pass counts, timeline included.
    #[test]
    fn a_parallel_scan_counts_what_a_sequential_one_does(
        lines in proptest::collection::vec(line_strategy(), 1..400),
        threads in 2usize..9,
        min_range in 16u64..2048,
        cap in prop_oneof![Just(64usize), Just(4096)],
    ) {
        let input = lines.join(&b'\n');
        let c = auto(cap);
        let mut whole_timeline = Timeline::new(60);
        let started = 1.8e9;
        let whole = scan_reader_started(c, &mut &input[..], None, Some(&mut whole_timeline), started, |_| {})
            .unwrap();
        let path = std::env::temp_dir().join(format!("gwexp-parallel-{}", std::process::id()));
        std::fs::write(&path, &input).unwrap();
        let (split, timeline) =
            parallel::scan_file_started(c, &path, threads, min_range, started, Some(60))
                .unwrap();
        prop_assert_eq!(whole, split);
        prop_assert_eq!(Some(whole_timeline), timeline);
    }
}
