//! `scan --timeline` on the real-format fixtures: buckets exact, every
//! bucket between the first and the last error present, and the terminal
//! chart checked against a golden file (no screenshot needed).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn scan(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
        .arg("scan")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

fn root(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

#[test]
fn sample_log_buckets_are_exact() {
    let sample = root("deploy/sample/gateway.log");
    let out = scan(&[
        "--profile",
        "msmail",
        "--timeline",
        "--bucket",
        "15m",
        "--format",
        "json",
        &sample,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bucket_seconds"], 900);
    assert_eq!(v["first_error"], "2026-11-28T08:14:12Z");
    assert_eq!(v["last_error"], "2026-11-28T08:41:00Z");
    let buckets = v["buckets"].as_array().unwrap();
    let starts: Vec<&str> = buckets
        .iter()
        .map(|b| b["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-11-28T08:00:00Z",
            "2026-11-28T08:15:00Z",
            "2026-11-28T08:30:00Z"
        ]
    );
    assert_eq!(buckets[0]["counts"], serde_json::json!({"ENOTCONN": 1}));
    assert_eq!(
        buckets[1]["counts"],
        serde_json::json!({"ECONNREFUSED": 1, "ENETRESET": 1, "ENOTCONN": 1, "EPIPE": 1, "ETIMEDOUT": 1, "UNKNOWN": 2})
    );
    assert_eq!(
        buckets[2]["counts"],
        serde_json::json!({"ECONNRESET": 1, "ENOTCONN": 1})
    );
}

#[test]
fn empty_buckets_between_errors_are_present() {
    let dir = std::env::temp_dir().join(format!("gwexp-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("gw.log");
    std::fs::write(
        &log,
        "2026-11-28 10:05:00 ERROR connect: (61) Connection refused\n\
         2026-11-28 10:59:59 ERROR connect: (61) Connection refused\n\
         2026-11-28 13:00:00 ERROR write: (57) Socket is not connected\n",
    )
    .unwrap();
    let out = scan(&[
        "--profile",
        "msmail",
        "--timeline",
        "--format",
        "json",
        log.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = v["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 4);
    assert_eq!(b[0]["counts"]["ECONNREFUSED"], 2);
    assert_eq!(b[1]["counts"], serde_json::json!({}));
    assert_eq!(b[2]["counts"], serde_json::json!({}));
    assert_eq!(b[3]["start"], "2026-11-28T13:00:00Z");
    assert_eq!(b[3]["counts"]["ENOTCONN"], 1);
}

#[test]
fn the_real_postfix_capture_buckets_sum_to_its_totals() {
    let log = root("tests/fixtures/real/postfix-3.7.11.log");
    let totals = scan(&["--profile", "postfix", "--format", "json", &log]);
    let totals: Value = serde_json::from_slice(&totals.stdout).unwrap();
    let counted: u64 = totals
        .pointer("/files/0/errors")
        .or_else(|| totals.pointer("/0/errors"))
        .and_then(Value::as_array)
        .map(|e| e.iter().map(|x| x["count"].as_u64().unwrap()).sum())
        .unwrap_or_else(|| panic!("{totals}"));
    let out = scan(&[
        "--profile",
        "postfix",
        "--timeline",
        "--bucket",
        "1m",
        "--format",
        "json",
        &log,
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let in_buckets: u64 = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["counts"].as_object().unwrap().values())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert!(counted > 0);
    assert_eq!(in_buckets, counted);
    // RFC 3164 times carry no year: month, day and time are the line's.
    assert!(
        v["first_error"].as_str().unwrap()[4..].starts_with("-11-28T18:"),
        "{v}"
    );
}

#[test]
fn the_terminal_chart_matches_its_golden_file() {
    let sample = root("deploy/sample/gateway.log");
    let out = scan(&[
        "--profile",
        "msmail",
        "--timeline",
        "--bucket",
        "15m",
        "--format",
        "chart",
        &sample,
    ]);
    let golden = std::fs::read_to_string(root("tests/fixtures/timeline/sample-15m.chart")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), golden);
    for mark in ["<- first", "<- peak", "<- last"] {
        assert!(golden.contains(mark), "{mark}");
    }
}

#[test]
fn a_timeline_in_prometheus_format_or_a_chart_without_one_is_a_usage_error() {
    let sample = root("deploy/sample/gateway.log");
    for args in [
        vec!["--timeline", "--format", "prometheus", sample.as_str()],
        vec!["--format", "chart", sample.as_str()],
        vec!["--timeline", "--bucket", "1500ms", sample.as_str()],
    ] {
        let out = scan(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn several_files_on_two_threads_count_what_one_thread_does() {
    let sample = root("deploy/sample/gateway.log");
    let postfix = root("tests/fixtures/real/postfix-3.7.11.log");
    for extra in [&[][..], &["--timeline", "--bucket", "1m"][..]] {
        let run = |j: &str| {
            let mut args = vec!["-j", j, "--format", "json"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&[sample.as_str(), postfix.as_str(), sample.as_str()]);
            let out = scan(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        let one = run("1");
        assert_eq!(one, run("2"), "{extra:?}");
        assert!(!one.is_empty());
    }
}
