//! Per-line cost of the classifier's hot path, so a regression shows in
//! review: a block of lines with no candidate (the common case), a block
//! where every line is a counted socket error, and one where a tenth is;
//! plus the repeat filter and the line times the live exporter adds per
//! counted line. Best of several rounds of a 64 MiB-ish block, in ns per
//! line; run `cargo bench --bench classify_micro`.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use gateway_exporter::classify::Classifier;
use gateway_exporter::metrics::BlockCounter;
use gateway_exporter::timestamp::Zone;

const LINES: usize = 400_000;
const ROUNDS: usize = 7;

fn block(mix: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..LINES {
        out.extend_from_slice(mix[i % mix.len()].as_bytes());
        out.push(b'\n');
    }
    out
}

fn best_ns_per_line(data: &[u8], mut f: impl FnMut(&[u8]) -> u64) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut seen = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        seen = f(data);
        best = best.min(t.elapsed().as_nanos() as f64 / LINES as f64);
    }
    (best, seen)
}

fn main() {
    let c = Classifier::builder().build().unwrap();
    let quiet = block(&[
        "11/28/2026 08:00:06 Sent 3 messages to mail.example.com",
        "11/28/2026 08:00:07 SMTPGATE polling m:\\SMTP every 60 seconds",
    ]);
    // Candidates that are not socket errors: anchors hit, no rule counts.
    let near = block(&[
        "11/28/2026 08:00:05 Connected to mail.example.com (192.0.2.25) port 25",
        "Nov 28 10:00:01 mx postfix/smtp[42]: 3D9339941AD: to=<a@b.example>, relay=mx.b.example[192.0.2.7]:25, delay=0.2, status=sent (250 2.0.0 Ok)",
    ]);
    let errors = block(&["11/28/2026 08:14:12 ERROR write: (57) Socket is not connected"]);
    let mut tenth: Vec<&str> = vec!["11/28/2026 08:00:06 Sent 3 messages to mail.example.com"; 9];
    tenth.push("11/28/2026 08:14:12 ERROR write: (57) Socket is not connected");
    let tenth = block(&tenth);

    println!("{:<44} {:>10} {:>10}", "block", "ns/line", "counted");
    for (name, data) in [
        ("no candidate line", &quiet),
        ("candidates that are not errors", &near),
        ("every line a socket error", &errors),
        ("one line in ten a socket error", &tenth),
    ] {
        let (ns, n) = best_ns_per_line(data, |d| {
            let mut k = 0;
            c.scan_block(d, |_, _| k += 1);
            k
        });
        println!(
            "{:<44} {:>10.1} {:>10}",
            format!("scan_block: {name}"),
            ns,
            n
        );
    }
    for (name, times) in [
        ("BlockCounter, no line times (scan)", false),
        ("BlockCounter with line times (live)", true),
    ] {
        let (ns, n) = best_ns_per_line(&errors, |d| {
            let mut counter = BlockCounter::new(&c, None);
            if times {
                counter = counter.with_line_times(Zone::Utc);
            }
            let mut k = 0;
            counter.count(d, 0, Some(1.8e9), |_, _, _| k += 1);
            k
        });
        println!(
            "{:<44} {:>10.1} {:>10}",
            format!("{name}: every line"),
            ns,
            n
        );
    }
}
