//! Every profile against its fixture file of real-world lines
//! (`tests/fixtures/profiles/<profile>.tsv`; sources in the README there).
//!
//! Each file is fed top to bottom through one classifier and one repeat
//! filter, as a live source would be, once with the profile alone and once
//! with `auto`. Every row must come out exactly as written: events with
//! their op, errno, errname and dialect; repeats as repeats; near-misses as
//! not counted.

use std::path::Path;

use gateway_exporter::classify::{Classifier, Profile, RepeatFilter, Verdict};

struct Row {
    line_no: usize,
    expect: String,
    op: String,
    errno: String,
    errname: String,
    dialect: String,
    line: String,
}

fn rows(profile: &str) -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profiles")
        .join(format!("{profile}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate().skip(1) {
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        let f: Vec<&str> = l.splitn(6, '\t').collect();
        assert_eq!(f.len(), 6, "{}:{}: bad row", path.display(), i + 1);
        out.push(Row {
            line_no: i + 1,
            expect: f[0].into(),
            op: f[1].into(),
            errno: f[2].into(),
            errname: f[3].into(),
            dialect: f[4].into(),
            line: f[5].into(),
        });
    }
    out
}

fn got(v: &Verdict<'_>) -> (String, String, String, String, String) {
    match v {
        Verdict::Event(e) => (
            "event".into(),
            e.op.to_string(),
            e.errno.as_deref().unwrap_or("-").to_string(),
            e.errname.to_string(),
            e.dialect.to_string(),
        ),
        Verdict::Repeat { .. } => (
            "repeat".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ),
        Verdict::Unrecognized | Verdict::NoMatch => (
            "none".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ),
    }
}

fn check(file: &str, profile: Profile) -> Vec<String> {
    let c = Classifier::builder().profile(profile).build().unwrap();
    let mut filter = RepeatFilter::default();
    let mut failures = Vec::new();
    for r in rows(file) {
        let v = filter.apply(c.classify(r.line.as_bytes()));
        let want = (
            r.expect.clone(),
            r.op.clone(),
            r.errno.clone(),
            r.errname.clone(),
            r.dialect.clone(),
        );
        let have = got(&v);
        if have != want {
            let rule = match &v {
                Verdict::Event(e) => e.rule.to_string(),
                Verdict::Repeat { rule } => rule.to_string(),
                _ => "-".into(),
            };
            failures.push(format!(
                "{file}.tsv:{} [{profile}] want {want:?}\n    got {have:?} (rule {rule})\n    {}",
                r.line_no, r.line
            ));
        }
    }
    failures
}

/// The classifier's shortcuts (rule literals, anchored searches from
/// their positions) give the verdicts the plain regexes give, on every
/// fixture line of every profile, with every profile.
#[test]
fn shortcuts_never_change_a_verdict() {
    let files = [
        "msmail", "postfix", "exim", "sendmail", "nginx", "haproxy", "windows", "generic", "drift",
    ];
    let mut compared = 0;
    for profile in [
        "auto", "msmail", "postfix", "exim", "sendmail", "nginx", "haproxy", "windows", "generic",
    ] {
        let c = Classifier::builder()
            .profile(profile.parse().unwrap())
            .build()
            .unwrap();
        for file in files {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/profiles")
                .join(format!("{file}.tsv"));
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, l) in text.lines().enumerate().skip(1) {
                if l.starts_with('#') || l.is_empty() {
                    continue;
                }
                let line = l.rsplit('\t').next().unwrap().as_bytes();
                assert_eq!(
                    format!("{:?}", c.classify(line)),
                    format!("{:?}", c.classify_unassisted(line)),
                    "{file}.tsv:{} [{profile}] {l}",
                    i + 1
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "{compared}");
}

fn check_profile(name: &str) {
    let profile: Profile = name.parse().unwrap();
    let mut failures = check(name, profile);
    failures.extend(check(name, Profile::Auto));
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn msmail() {
    check_profile("msmail");
}
#[test]
fn postfix() {
    check_profile("postfix");
}
#[test]
fn exim() {
    check_profile("exim");
}
#[test]
fn sendmail() {
    check_profile("sendmail");
}
#[test]
fn nginx() {
    check_profile("nginx");
}
#[test]
fn haproxy() {
    check_profile("haproxy");
}
#[test]
fn windows() {
    check_profile("windows");
}
#[test]
fn generic() {
    check_profile("generic");
}

/// `drift.tsv`: the drift flag fires on socket failures in formats no rule
/// knows, and stays quiet on ordinary system lines.
#[test]
fn drift_flag() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profiles/drift.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = Classifier::builder().build().unwrap();
    let mut failures = Vec::new();
    let mut rows = 0;
    for (i, l) in text.lines().enumerate().skip(1) {
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        let (expect, line) = l.split_once('\t').unwrap();
        rows += 1;
        let flagged = matches!(c.classify(line.as_bytes()), Verdict::Unrecognized);
        let want = match expect {
            "drift" => true,
            "quiet" => false,
            other => panic!("drift.tsv:{}: bad expect {other:?}", i + 1),
        };
        if flagged != want {
            failures.push(format!("drift.tsv:{}: want {expect}: {line}", i + 1));
        }
    }
    assert!(rows >= 10);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
