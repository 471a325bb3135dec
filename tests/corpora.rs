//! The classifier on real-world logs nobody here wrote, scored against a
//! hand-made truth file per corpus (`tests/fixtures/corpora/<name>.truth`:
//! one label per log line — `err <errname>`, `echo`, or `no`).
//!
//! The logs themselves are not in the repository (see the README there for
//! where each comes from and its licence); `fetch.sh` builds them from the
//! public repositories at pinned commits and checks their SHA-256. Run:
//!
//! ```text
//! LOGHUB=<loghub clone> EXIM=<exim clone> bash tests/fixtures/corpora/fetch.sh
//! cargo test --release --test corpora -- --ignored --nocapture
//! ```
//!
//! Every line goes through one classifier and one repeat filter, in order,
//! as a live source would. Scored per corpus and profile: true positives
//! (an `err` line counted), false positives (a `no` line counted), misses
//! (an `err` line not counted), echoes counted (an `echo` line counted),
//! wrong errnames (counted under another name than the truth's), and drift
//! (lines flagged "unrecognized").

use std::path::{Path, PathBuf};

use gateway_exporter::classify::{Classifier, Profile, RepeatFilter, Verdict};

/// (corpus, profiles it is scored under, whether it is an ordinary system
/// log on which the drift flag must stay quiet). Recall and precision are
/// required of `auto`, the default; a single profile on a log of many
/// programs misses the others' lines by design (`generic` knows no Exim
/// host line without an errno text, `sendmail` no sshd), so its rows are
/// shown, and held to no echo counted and no wrong errname.
const CORPORA: &[(&str, &[&str], bool)] = &[
    ("loghub-linux", &["auto", "generic"], true),
    ("loghub-openssh", &["auto", "generic"], true),
    ("loghub-apache", &["auto", "generic"], true),
    ("loghub-mac", &["auto", "generic"], false),
    ("loghub-proxifier", &["auto", "generic", "windows"], false),
    ("loghub-thunderbird", &["auto", "sendmail"], false),
    ("exim-testsuite", &["auto", "exim", "generic"], false),
];

/// The most of an ordinary log's lines the drift flag may fire on.
const DRIFT_LIMIT: f64 = 0.05;

#[derive(Default, Debug, Clone, Copy)]
struct Score {
    lines: u64,
    truth_err: u64,
    tp: u64,
    fp: u64,
    missed: u64,
    echoes_counted: u64,
    wrong_errname: u64,
    drift: u64,
}

impl Score {
    fn add(&mut self, o: &Score) {
        self.lines += o.lines;
        self.truth_err += o.truth_err;
        self.tp += o.tp;
        self.fp += o.fp;
        self.missed += o.missed;
        self.echoes_counted += o.echoes_counted;
        self.wrong_errname += o.wrong_errname;
        self.drift += o.drift;
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.missed)
    }
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp + self.echoes_counted)
    }
    fn drift_share(&self) -> f64 {
        ratio(self.drift, self.lines)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn corpora_dir() -> PathBuf {
    std::env::var_os("GATEWAY_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/corpora"))
}

fn score(name: &str, profile: Profile, log: &[u8], truth: &str, notes: &mut Vec<String>) -> Score {
    let c = Classifier::builder().profile(profile).build().unwrap();
    let mut filter = RepeatFilter::default();
    let mut lines: Vec<&[u8]> = log.split(|b| *b == b'\n').collect();
    if log.ends_with(b"\n") {
        lines.pop();
    }
    let labels: Vec<&str> = truth.lines().collect();
    assert_eq!(
        lines.len(),
        labels.len(),
        "{name}: {} log lines but {} truth labels",
        lines.len(),
        labels.len()
    );
    let mut s = Score::default();
    for (i, (line, label)) in lines.iter().zip(&labels).enumerate() {
        s.lines += 1;
        let v = filter.apply(c.classify(line));
        let counted = match &v {
            Verdict::Event(e) => Some(e.errname.to_string()),
            _ => None,
        };
        if matches!(v, Verdict::Unrecognized) {
            s.drift += 1;
        }
        let mut note = |what: &str| {
            notes.push(format!(
                "{name}:{} [{profile}] {what}: {}",
                i + 1,
                String::from_utf8_lossy(line)
            ))
        };
        match (label.split_once(' '), *label, counted) {
            (Some(("err", want)), _, Some(got)) => {
                s.truth_err += 1;
                s.tp += 1;
                if got != want {
                    s.wrong_errname += 1;
                    note(&format!("errname {got}, truth {want}"));
                }
            }
            (Some(("err", _)), _, None) => {
                s.truth_err += 1;
                s.missed += 1;
                note(&format!("missed ({v:?})"));
            }
            (_, "echo", Some(got)) => {
                s.echoes_counted += 1;
                note(&format!("echo counted as {got}"));
            }
            (_, "no", Some(got)) => {
                s.fp += 1;
                note(&format!("counted as {got}, truth no"));
            }
            (_, "echo" | "no", None) => {}
            _ => panic!("{name}.truth:{}: bad label {label:?}", i + 1),
        }
    }
    s
}

#[test]
#[ignore = "needs the fetched corpora: see tests/fixtures/corpora/README.md"]
fn corpora_recall_precision_and_drift() {
    let dir = corpora_dir();
    let truth_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpora");
    let mut total = Score::default();
    let mut others = Score::default();
    let mut notes = Vec::new();
    let mut drift_failures = Vec::new();
    println!(
        "{:<20} {:<9} {:>6} {:>5} {:>4} {:>4} {:>6} {:>6} {:>6} {:>7} {:>9} {:>7}",
        "corpus",
        "profile",
        "lines",
        "err",
        "TP",
        "FP",
        "missed",
        "echoes",
        "wrong",
        "recall",
        "precision",
        "drift"
    );
    for (name, profiles, ordinary) in CORPORA {
        let path = dir.join(format!("{name}.log"));
        let log = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build the corpora first: tests/fixtures/corpora/README.md)",
                path.display()
            )
        });
        let truth = std::fs::read_to_string(truth_dir.join(format!("{name}.truth"))).unwrap();
        for p in *profiles {
            let profile: Profile = p.parse().unwrap();
            let s = score(name, profile, &log, &truth, &mut notes);
            println!(
                "{:<20} {:<9} {:>6} {:>5} {:>4} {:>4} {:>6} {:>6} {:>6} {:>6.1}% {:>8.1}% {:>6.2}%",
                name,
                p,
                s.lines,
                s.truth_err,
                s.tp,
                s.fp,
                s.missed,
                s.echoes_counted,
                s.wrong_errname,
                100.0 * s.recall(),
                100.0 * s.precision(),
                100.0 * s.drift_share()
            );
            if *ordinary && s.drift_share() > DRIFT_LIMIT {
                drift_failures.push(format!("{name} [{p}]: drift on {} lines", s.drift));
            }
            if *p == "auto" {
                total.add(&s);
            } else {
                others.add(&s);
            }
        }
    }
    for (label, t) in [("all, auto", &total), ("all, single profiles", &others)] {
        println!(
            "{:<30} {:>6} {:>5} {:>4} {:>4} {:>6} {:>6} {:>6} {:>6.1}% {:>8.1}%",
            label,
            t.lines,
            t.truth_err,
            t.tp,
            t.fp,
            t.missed,
            t.echoes_counted,
            t.wrong_errname,
            100.0 * t.recall(),
            100.0 * t.precision()
        );
    }
    for n in &notes {
        println!("  {n}");
    }
    assert!(drift_failures.is_empty(), "{drift_failures:?}");
    assert!(total.recall() >= 0.95, "recall {:.3}", total.recall());
    assert!(
        total.precision() >= 0.97,
        "precision {:.3}",
        total.precision()
    );
    assert_eq!(
        total.wrong_errname + others.wrong_errname,
        0,
        "wrong errnames"
    );
    assert_eq!(
        total.echoes_counted + others.echoes_counted,
        0,
        "echoes counted"
    );
    assert!(
        others.precision() >= 0.97,
        "single-profile precision {:.3}",
        others.precision()
    );
}
