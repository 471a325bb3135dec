//! Profiling aid for the buffer scanner: times line counting, the whole
//! scan and the anchor search alone on a file; `all` uses the classifier's
//! anchors, `drop` times the set without each anchor in turn, `-f FILE`
//! reads literals from a file; PRINT_ANCHORS=1 prints the anchors. Each set is
//! also timed in aho-corasick's packed searcher forced to slim and to fat
//! Teddy (8 or 16 buckets), to see what the bucket count costs.

use aho_corasick::{AhoCorasickBuilder, MatchKind};
use std::time::Instant;
fn main() {
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let c = gateway_exporter::classify::Classifier::builder()
        .build()
        .unwrap();
    let only_ac = std::env::var_os("ONLY_AC").is_some();
    println!("anchors {}", c.anchor_count());
    if std::env::var_os("PRINT_ANCHORS").is_some() {
        for a in c.anchor_literals() {
            println!("{a}");
        }
        return;
    }
    if !only_ac {
        let t = Instant::now();
        let n = data.iter().filter(|b| **b == b'\n').count();
        println!("count_lines {:?} {}", t.elapsed(), n);
        let t = Instant::now();
        let n = memchr::memchr_iter(b'\n', &data).count();
        println!("memchr count {:?} {}", t.elapsed(), n);
        let t = Instant::now();
        let mut k = 0;
        c.scan_block(&data, |_, _| k += 1);
        println!("scan_block {:?} {}", t.elapsed(), k);
    }
    // `cargo bench` appends `--bench`; it is not a literal to search for.
    let mut pats: Vec<String> = std::env::args()
        .skip(2)
        .filter(|a| a != "--bench")
        .collect();
    if pats.len() == 2 && pats[0] == "-f" {
        pats = std::fs::read_to_string(&pats[1])
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
    }
    if pats == ["all"] {
        pats = c.anchor_literals().to_vec();
    }
    if pats == ["drop"] {
        for i in 0..c.anchor_count() {
            let mut p = c.anchor_literals().to_vec();
            let gone = p.remove(i);
            let (elapsed, hits) = time_search(&data, &p);
            println!("without {gone:?}: {elapsed:?} {hits}");
        }
        return;
    }
    let (elapsed, hits) = time_search(&data, &pats);
    println!("ac({}) {:?} {}", pats.len(), elapsed, hits);
    if std::env::var_os("NO_PACKED").is_some() {
        return;
    }
    for fat in [false, true] {
        let (elapsed, hits) = time_packed(&data, &pats, fat);
        println!("packed fat={fat} ({}) {:?} {}", pats.len(), elapsed, hits);
    }
}

fn time_packed(data: &[u8], pats: &[String], fat: bool) -> (std::time::Duration, usize) {
    let ps = aho_corasick::packed::Config::new()
        .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
        .only_teddy_fat(Some(fat))
        .builder()
        .extend(pats)
        .build()
        .unwrap();
    let t = Instant::now();
    let mut hits = 0;
    let mut pos = 0;
    while let Some(m) = ps.find_in(data, aho_corasick::Span::from(pos..data.len())) {
        hits += 1;
        pos = m.end();
    }
    (t.elapsed(), hits)
}

/// Times a leftmost-first search for `pats` over the whole of `data`, as
/// the scanner does it; returns the time and the number of hits.
fn time_search(data: &[u8], pats: &[String]) -> (std::time::Duration, usize) {
    let ac = AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .build(pats)
        .unwrap();
    let t = Instant::now();
    let mut hits = 0;
    let mut pos = 0;
    while let Some(m) = ac.find(&data[pos..]) {
        hits += 1;
        pos += m.end();
    }
    (t.elapsed(), hits)
}
