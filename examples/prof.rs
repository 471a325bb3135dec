use aho_corasick::{AhoCorasickBuilder, MatchKind};
use std::time::Instant;
fn main() {
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let c = gateway_exporter::classify::Classifier::builder()
        .build()
        .unwrap();
    println!("anchors {}", c.anchor_count());
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
    let pats: Vec<String> = std::env::args().skip(2).collect();
    let ac = AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .build(&pats)
        .unwrap();
    let t = Instant::now();
    let mut hits = 0;
    let mut pos = 0;
    while let Some(m) = ac.find(&data[pos..]) {
        hits += 1;
        pos += m.end();
    }
    println!("ac({}) {:?} {}", pats.len(), t.elapsed(), hits);
}
#[allow(dead_code)]
fn unused() {}
