//! Logs written by the real programs (see tests/fixtures/real/README.md for
//! how each was produced), scanned whole: the counts must equal the ones
//! determined by reading the log.

use std::collections::BTreeMap;
use std::path::Path;

use gateway_exporter::classify::{Classifier, Profile};
use gateway_exporter::report::scan_reader;

fn expected(tsv: &Path) -> (BTreeMap<(String, String), u64>, u64) {
    let mut events = BTreeMap::new();
    let mut repeats = 0;
    for line in std::fs::read_to_string(tsv).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 3 || line.starts_with('#') {
            continue;
        }
        let n: u64 = f[2].parse().unwrap();
        if f[0] == "repeat" {
            repeats = n;
        } else {
            events.insert((f[0].to_string(), f[1].to_string()), n);
        }
    }
    (events, repeats)
}

fn check(log: &str, tsv: &str, profile: Profile) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real");
    let (want, want_repeats) = expected(&dir.join(tsv));
    let c = Classifier::builder().profile(profile).build().unwrap();
    let mut file = std::fs::File::open(dir.join(log)).unwrap();
    let tally = scan_reader(&c, &mut file, None, |_| {}).unwrap();
    let mut got: BTreeMap<(String, String), u64> = BTreeMap::new();
    for ((op, _errno, errname), n) in &tally.errors {
        *got.entry((op.to_string(), errname.to_string()))
            .or_default() += n;
    }
    assert_eq!(got, want, "{log} [{profile}] events by (op, errname)");
    assert_eq!(tally.repeats, want_repeats, "{log} [{profile}] repeats");
}

#[test]
fn real_postfix_3_7() {
    check(
        "postfix-3.7.11.log",
        "postfix-expected.tsv",
        Profile::Postfix,
    );
    check("postfix-3.7.11.log", "postfix-expected.tsv", Profile::Auto);
}
