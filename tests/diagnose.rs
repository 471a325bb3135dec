//! `diagnose` through the real binary: every section is there, its counts
//! are `scan`'s on the real-format fixtures, `--since` goes by the lines'
//! own times, `--redact` leaves no address behind, and `/diagnose` is
//! served only when enabled, behind the same auth as `/metrics`.

mod support;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use regex::Regex;
use support::{Exporter, tmpdir};

const SAMPLE: &str = "deploy/sample/gateway.log";
const POSTFIX: &str = "tests/fixtures/real/postfix-3.7.11.log";

const SECTIONS: [&str; 12] = [
    "## Scope",
    "## Socket errors by op and errno",
    "## Timeline",
    "## Most recent matching lines",
    "## TCP counters",
    "## Socket usage",
    "## Connections by port",
    "## Restarts",
    "## Collectors",
    "## Versions",
    "## Exporter health",
    "## Raw files",
];

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
}

fn diagnose(args: &[&str]) -> String {
    let out = bin()
        .arg("diagnose")
        .args(["--sample", "200ms", "--state.dir", ""])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The errors table: (op, errno, errname) → count, over every source.
fn report_counts(md: &str) -> BTreeMap<(String, String, String), u64> {
    let table = md
        .split("## Socket errors by op and errno")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .nth(1)
        .unwrap();
    let mut out = BTreeMap::new();
    for row in table.lines().skip(2) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        if cells[3].starts_with('(') {
            continue;
        }
        let errno = if cells[2] == "-" { "" } else { cells[2] };
        *out.entry((cells[1].into(), errno.into(), cells[3].into()))
            .or_default() += cells[4].parse::<u64>().unwrap();
    }
    out
}

fn scan_counts(profile: &str, file: &str) -> BTreeMap<(String, String, String), u64> {
    let out = bin()
        .args(["scan", "--profile", profile, "--format", "json", file])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut counts = BTreeMap::new();
    for f in v["files"].as_array().unwrap() {
        for e in f["errors"].as_array().unwrap() {
            let key = (
                e["op"].as_str().unwrap().to_string(),
                e["errno"].as_str().unwrap_or("").to_string(),
                e["errname"].as_str().unwrap().to_string(),
            );
            *counts.entry(key).or_default() += e["count"].as_u64().unwrap();
        }
    }
    counts
}

fn assert_sections(md: &str) {
    let mut at = 0;
    for s in SECTIONS {
        let found = md[at..]
            .find(&format!("\n{s}"))
            .unwrap_or_else(|| panic!("{s} missing or out of order:\n{md}"));
        at += found + 1;
    }
}

#[test]
fn every_section_and_scan_counts_on_the_real_fixtures() {
    for (profile, file) in [("msmail", SAMPLE), ("postfix", POSTFIX)] {
        let md = diagnose(&[
            "--gateway.log-path",
            file,
            "--gateway.log-profile",
            profile,
            "--tcp.local-port",
            "25",
            "--since",
            "100y",
        ]);
        assert_sections(&md);
        let want = scan_counts(profile, file);
        assert!(!want.is_empty(), "{file}: scan counts nothing");
        assert_eq!(report_counts(&md), want, "{file}:\n{md}");
        let total: u64 = want.values().sum();
        assert!(
            md.contains(&format!(
                "The last {} of {total} counted lines",
                total.min(20)
            )),
            "{md}"
        );
        assert!(
            md.contains("gateway_collector_up{collector=\"snmp\"}` | 1 |"),
            "{md}"
        );
        assert!(md.contains("Kernel: `"), "{md}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn rfc3339(t: u64) -> String {
    gateway_exporter::timestamp::rfc3339_utc(t as f64)
}

#[test]
fn since_goes_by_the_lines_own_times() {
    let dir = tmpdir("diagnose-since");
    let now = gateway_exporter::clock::unix_now() as u64;
    let log = write(
        &dir,
        "gw.log",
        &format!(
            "{} ERROR write: (57) Socket is not connected\n\
             {} ERROR write: (32) Broken pipe\n\
             ERROR read: (54) Connection reset by peer\n",
            rfc3339(now - 48 * 3600),
            rfc3339(now - 2 * 3600),
        ),
    );
    let log = log.to_str().unwrap();
    let args = ["--gateway.log-path", log, "--gateway.log-profile", "msmail"];
    let day = diagnose(&[&args[..], &["--since", "24h"]].concat());
    let counts = report_counts(&day);
    let names: Vec<&str> = counts.keys().map(|k| k.2.as_str()).collect();
    assert_eq!(names, ["ECONNRESET", "EPIPE"], "{day}");
    assert!(day.contains("| default | 0 | 0 | 1 | 1 |"), "{day}");
    assert!(!day.contains("(57) Socket is not connected"), "{day}");

    let three = diagnose(&[&args[..], &["--since", "3d"]].concat());
    assert_eq!(report_counts(&three).len(), 3, "{three}");
    // The timeline places the old error 46 h before the new one.
    let timeline = three.split("## Timeline").nth(1).unwrap();
    let first = rfc3339(now - 48 * 3600 - (now - 48 * 3600) % 3600);
    assert!(timeline.contains(&first), "{first} not in {timeline}");
}

#[test]
fn listening_sources_are_named_not_reread_and_bad_flags_exit_2() {
    let md = diagnose(&[
        "--gateway.syslog-listen",
        "udp://127.0.0.1:5514",
        "--gateway.log-profile",
        "postfix",
    ]);
    assert_sections(&md);
    assert!(
        md.contains("| syslog | syslog | postfix | not re-readable after the fact: see the live `gateway_socket_errors_total` on /metrics |"),
        "{md}"
    );
    assert!(md.contains("(no file source: nothing re-read)"), "{md}");

    let out = bin()
        .args(["diagnose", "--gateway.log-path", "/x.log", "--sample", "2m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sample: 120s: expected at most 1m"), "{err}");
    let out = bin()
        .args(["diagnose", "--since", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
}

/// Addresses left in `text`: IPv4, IPv6 (checked by the parser) and
/// e-mail addresses other than the tokens' own domain.
fn addresses(text: &str) -> Vec<String> {
    let v4 = Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").unwrap();
    let v6 = Regex::new(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}").unwrap();
    let mail = Regex::new(r"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").unwrap();
    let mut out: Vec<String> = v4.find_iter(text).map(|m| m.as_str().into()).collect();
    out.extend(
        v6.find_iter(text)
            .map(|m| m.as_str())
            .filter(|s| s.parse::<Ipv6Addr>().is_ok())
            .map(String::from),
    );
    out.extend(
        mail.find_iter(text)
            .map(|m| m.as_str())
            .filter(|s| !s.ends_with("@example.invalid"))
            .map(String::from),
    );
    out
}

fn dir_text(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    all
}

#[test]
fn redact_leaves_no_address_and_keeps_hosts_apart() {
    let dir = tmpdir("diagnose-redact");
    let extra = write(
        &dir,
        "relay.log",
        "Nov 28 18:10:18 mx postfix/smtp[1]: connect to mx1.example.net[2001:db8::25]:25: Connection refused\n\
         Nov 28 18:10:19 mx postfix/smtp[2]: connect to mx2.example.net[192.0.2.8]:25: Connection refused\n\
         Nov 28 18:10:20 mx postfix/smtp[3]: connect to mx1.example.net[2001:db8::25]:25: Connection timed out\n\
         Nov 28 18:10:21 mx postfix/smtp[4]: 4F85299400C: to=<ops@example.org>, relay=mx2.example.net[192.0.2.8]:25, status=deferred (lost connection with mx2.example.net[192.0.2.8] while receiving the initial server greeting)\n",
    );
    let sample = std::fs::canonicalize(SAMPLE).unwrap();
    let postfix = std::fs::canonicalize(POSTFIX).unwrap();
    let cfg = write(
        &dir,
        "gw.yml",
        &format!(
            "sources:\n  - name: msmail\n    paths: ['{}']\n    profile: msmail\n  - name: postfix\n    paths: ['{}', '{}']\n    profile: postfix\n",
            sample.display(),
            postfix.display(),
            extra.display()
        ),
    );
    let run = |out: &Path, redact: bool| {
        let mut cmd = bin();
        cmd.args(["diagnose", "--sample", "200ms", "--state.dir", ""])
            .args(["--config", cfg.to_str().unwrap(), "--since", "100y"])
            .arg("--output")
            .arg(out);
        if redact {
            cmd.arg("--redact");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dir_text(out)
    };
    let plain = run(&dir.join("plain"), false);
    let found = addresses(&plain);
    // The test can fail: the unredacted report does carry them.
    for want in ["127.0.0.1", "192.0.2.8", "2001:db8::25", "ops@example.org"] {
        assert!(found.iter().any(|f| f == want), "{want} not in {found:?}");
    }
    let redacted = run(&dir.join("redacted"), true);
    assert_eq!(addresses(&redacted), Vec::<String>::new());
    for name in [
        "mx1.example.net",
        "mx2.example.net",
        "example.org",
        " mx postfix/",
    ] {
        assert!(!redacted.contains(name), "{name} left in the report");
    }
    // The same host, the same token; another host, another.
    let token =
        Regex::new(r"connect to (host-\d+\[ip-\d+\]):25: Connection (refused|timed out)").unwrap();
    let lines = std::fs::read_to_string(dir.join("redacted/lines.txt")).unwrap();
    let peers: Vec<String> = lines
        .lines()
        .filter(|l| l.contains("relay.log"))
        .filter_map(|l| token.captures(l).map(|c| c[1].to_string()))
        .collect();
    assert_eq!(peers.len(), 3, "{lines}");
    assert_eq!(peers[0], peers[2]);
    assert_ne!(peers[0], peers[1]);
    assert!(
        lines.contains(&format!("lost connection with {} while", peers[1])),
        "{lines}"
    );
    for raw in [
        "timeline.json",
        "lines.txt",
        "collectors.prom",
        "proc-net-snmp.txt",
    ] {
        assert!(dir.join("redacted").join(raw).is_file(), "{raw} missing");
    }
    let timeline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("redacted/timeline.json")).unwrap())
            .unwrap();
    assert_eq!(timeline["bucket_seconds"], 3600);
    let report = std::fs::read_to_string(dir.join("redacted/report.md")).unwrap();
    assert_sections(&report);
}

/// A GET with optional basic credentials: (status, body).
fn get(addr: std::net::SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    use base64::Engine;
    let header = auth.map_or(String::new(), |a| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(a)
        )
    });
    support::http_get_with(addr, path, &header, Duration::from_secs(20))
}

#[test]
fn http_diagnose_only_when_enabled_and_behind_auth() {
    let dir = tmpdir("diagnose-http");
    // Within the HTTP report's day.
    let at = rfc3339(gateway_exporter::clock::unix_now() as u64 - 3600);
    let log = write(
        &dir,
        "gw.log",
        &format!(
            "{at} Connected to mail.example.com (192.0.2.25) port 25\n\
             {at} ERROR write: (57) Socket is not connected to 192.0.2.25\n"
        ),
    );
    let base = [
        "--gateway.log-path",
        log.to_str().unwrap(),
        "--gateway.log-profile",
        "msmail",
        "--gateway.start-at",
        "beginning",
    ];
    let off = Exporter::start(&base);
    assert_eq!(off.get("/diagnose").0, 404);
    assert_eq!(off.get("/metrics").0, 200);
    drop(off);

    let on = Exporter::start(&[&base[..], &["--web.enable-diagnose"]].concat());
    // The exporter listens before its source has opened the log: ask
    // again (bounded) until the report shows it started.
    let row = "| default | file | true | true | 1 |";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = on.get("/diagnose");
        if status != 200 || body.contains(row) || std::time::Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 200, "{body}");
    assert_sections(&body);
    assert!(body.contains("ERROR write: (57)"), "{body}");
    assert!(
        body.contains("Live sources of this exporter:") && body.contains(row),
        "{body}"
    );
    assert_eq!(
        addresses(&body),
        Vec::<String>::new(),
        "redacted by default"
    );
    let (status, body) = on.get("/diagnose?redact=0");
    assert_eq!(status, 200);
    assert!(body.contains("192.0.2.25"), "{body}");
    assert_eq!(on.get("/diagnose/").0, 404);
    drop(on);

    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = write(
        &dir,
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    );
    let web = web.to_str().unwrap();
    let authed = Exporter::start(
        &[
            &base[..],
            &["--web.enable-diagnose", "--web.config.file", web],
        ]
        .concat(),
    );
    assert_eq!(get(authed.addr, "/diagnose", None).0, 401);
    assert_eq!(
        get(authed.addr, "/diagnose", Some("prometheus:wrong")).0,
        401
    );
    let (status, body) = get(authed.addr, "/diagnose", Some("prometheus:s3cret"));
    assert_eq!(status, 200, "{body}");
    assert_sections(&body);
}
