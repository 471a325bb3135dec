//! Any bytes through the classifier and the counters, as a block and line
//! by line: never a panic, the same verdicts both ways, and label values
//! that stay bounded however many distinct codes the input invents.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use gateway_exporter::classify::{Classifier, Profile, Verdict};
use gateway_exporter::metrics::{BlockCounter, LogMetrics};
use libfuzzer_sys::fuzz_target;

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::builder().profile(Profile::Auto).build().unwrap())
}

fn metrics() -> &'static LogMetrics {
    static M: OnceLock<LogMetrics> = OnceLock::new();
    M.get_or_init(LogMetrics::new)
}

fn kind(v: &Verdict<'_>) -> u8 {
    match v {
        Verdict::Event(_) => 0,
        Verdict::Repeat { .. } => 1,
        Verdict::Unrecognized => 2,
        Verdict::NoMatch => 3,
    }
}

fuzz_target!(|data: &[u8]| {
    let c = classifier();
    let mut block = data.to_vec();
    if !block.ends_with(b"\n") {
        block.push(b'\n');
    }
    let mut scanned = Vec::new();
    c.scan_block(&block, |v, line| scanned.push((kind(&v), line.to_vec())));
    for (k, line) in &scanned {
        assert_eq!(*k, kind(&c.classify(line)), "{line:?}");
    }
    let mut counter = BlockCounter::new(c, Some((metrics(), "fuzz")));
    counter.count(&block, 0, Some(0.0), |_| {});
    // Gathering every series is slow: the bound is checked now and then.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    if RUNS.fetch_add(1, Ordering::Relaxed) % 1024 != 0 {
        return;
    }
    let series = metrics()
        .snapshot()
        .get("fuzz")
        .map_or(0, |s| s.iter().filter(|v| v.name == "gateway_socket_errors_total").count());
    // 7 ops × (known numbers + 32 unknown + other) bounds it; far below this.
    assert!(series < 20_000, "{series} series");
});
