//! The journald source on real journal files, built in the test by
//! `systemd-journal-remote` from export-format input: followed, appended
//! to, SIGKILLed (its journalctl child must die with it), appended to
//! again and restarted — exact counts, none doubled. And the same Postfix
//! lines through file, syslog, journald and stdin count the same.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{Exporter, require, sum, tmpdir, under_ci};

const NOTCONN: &[(&str, &str)] = &[("errname", "ENOTCONN")];

/// systemd-journal-remote lives outside PATH.
fn journal_remote() -> Option<PathBuf> {
    let found = [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !under_ci(),
            "systemd-journal-remote is required under CI (tests/run-all.sh installs it)"
        );
        eprintln!("SKIP: systemd-journal-remote not installed");
    }
    found
}

/// Appends entries (identifier, pid, message) to the journal file `out`.
fn journal_append(remote: &Path, out: &Path, entries: &[(String, u32, String)], t0: u64) {
    let dir = out.parent().unwrap();
    let export = dir.join("batch.export");
    let mut text = String::new();
    for (i, (ident, pid, msg)) in entries.iter().enumerate() {
        text.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n_HOSTNAME=mx1\nSYSLOG_IDENTIFIER={ident}\n_PID={pid}\nMESSAGE={msg}\n\n",
            (t0 + i as u64) * 1_000_000
        ));
    }
    std::fs::write(&export, text).unwrap();
    let out_arg = format!("--output={}", out.display());
    let status = Command::new(remote)
        .arg(out_arg)
        .arg(&export)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn msmail_entries(from: usize, n: usize) -> Vec<(String, u32, String)> {
    (from..from + n)
        .map(|i| {
            (
                "smtpgate".to_string(),
                4242,
                format!("{i:06} ERROR write: (57) Socket is not connected"),
            )
        })
        .collect()
}

fn journalctl_children(journal: &Path) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", &format!("journalctl.*{}", journal.display())])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_journal_followed_across_sigkill_counts_exactly() {
    let (Some(remote), Some(_)) = (journal_remote(), require("journalctl")) else {
        return;
    };
    let dir = tmpdir("journald");
    std::fs::create_dir_all(dir.join("j")).unwrap();
    let journal = dir.join("j/remote.journal");
    journal_append(&remote, &journal, &msmail_entries(0, 5), 1_764_619_200);
    let cfg = dir.join("gw.yml");
    std::fs::write(
        &cfg,
        format!(
            "sources:\n  - name: mail\n    type: journald\n    profile: msmail\n    start_at: beginning\n    files: ['{}']\n",
            journal.display()
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--state.dir",
        state.to_str().unwrap(),
    ];
    let e = Exporter::start(&args);
    e.wait_for("gateway_socket_errors_total", NOTCONN, 5.0);
    journal_append(&remote, &journal, &msmail_entries(5, 3), 1_764_619_300);
    e.wait_for("gateway_socket_errors_total", NOTCONN, 8.0);
    assert_eq!(journalctl_children(&journal), 1);
    // A scrape persists what it serves: then the cursor is on disk.
    e.scrape();
    e.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        journalctl_children(&journal),
        0,
        "journalctl outlived the exporter"
    );
    journal_append(&remote, &journal, &msmail_entries(8, 4), 1_764_619_400);
    let e = Exporter::start(&args);
    e.wait_for("gateway_socket_errors_total", NOTCONN, 12.0);
    std::thread::sleep(Duration::from_millis(800));
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", NOTCONN),
        Some(12.0),
        "{text}"
    );
    assert_eq!(sum(&text, "gateway_log_lines_total", &[]), Some(12.0));
    assert_eq!(
        sum(&text, "gateway_log_up", &[("source", "mail")]),
        Some(1.0)
    );
}

/// Every socket-error series of `source`, without its source label.
fn errors_of(text: &str, source: &str) -> Vec<String> {
    let label = format!("source=\"{source}\"");
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("gateway_socket_errors_total{") && l.contains(&label))
        .map(|l| l.replace(&label, ""))
        .collect();
    out.sort();
    out
}

#[test]
fn the_same_lines_count_the_same_through_every_input() {
    let (Some(remote), Some(_)) = (journal_remote(), require("journalctl")) else {
        return;
    };
    let real = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/postfix-3.7.11.log"),
    )
    .unwrap();
    let dir = tmpdir("inputs");
    let file = dir.join("mail.log");
    std::fs::write(&file, &real).unwrap();
    // The journal holds what Postfix gave it: identifier, pid, message.
    let entries: Vec<(String, u32, String)> = real
        .lines()
        .filter_map(|l| {
            // "Nov 28 18:10:18 mx postfix/smtp[1263]: message"
            let tag_msg = l.splitn(4, ' ').nth(3)?;
            let (_, tag_msg) = tag_msg.split_once(' ')?;
            let (tag, msg) = tag_msg.split_once(": ")?;
            let (ident, pid) = tag.trim_end_matches(']').split_once('[')?;
            Some((ident.to_string(), pid.parse().ok()?, msg.to_string()))
        })
        .collect();
    assert_eq!(entries.len(), real.lines().count());
    std::fs::create_dir_all(dir.join("j")).unwrap();
    let journal = dir.join("j/remote.journal");
    journal_append(&remote, &journal, &entries, 1_764_353_418);
    let cfg = dir.join("gw.yml");
    std::fs::write(
        &cfg,
        format!(
            "sources:\n\
             - {{name: file, paths: ['{}'], profile: postfix, start_at: beginning}}\n\
             - {{name: syslog, type: syslog, profile: postfix, listen: ['tcp://127.0.0.1:0']}}\n\
             - {{name: journal, type: journald, profile: postfix, start_at: beginning, files: ['{}']}}\n\
             - {{name: pipe, type: stdin, profile: postfix}}\n",
            file.display(),
            journal.display()
        ),
    )
    .unwrap();
    let (e, mut stdin) =
        Exporter::start_piped(&["--config", cfg.to_str().unwrap(), "--state.dir", ""]);
    stdin.write_all(real.as_bytes()).unwrap();
    drop(stdin);
    let tcp: std::net::SocketAddr = e
        .log_lines()
        .iter()
        .find(|l| l.contains("listening for syslog"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix("address=tcp://"))
        })
        .unwrap()
        .parse()
        .unwrap();
    let mut s = TcpStream::connect(tcp).unwrap();
    for l in real.lines() {
        // facility mail (2), severity info (6): PRI 22.
        writeln!(s, "<22>{l}").unwrap();
    }
    drop(s);
    let n = real.lines().count() as f64;
    for source in ["file", "syslog", "journal", "pipe"] {
        e.wait_for("gateway_log_lines_total", &[("source", source)], n);
    }
    let text = e.scrape();
    let file_errors = errors_of(&text, "file");
    assert!(
        file_errors.iter().any(|l| !l.ends_with(" 0")),
        "no errors counted: {text}"
    );
    for source in ["syslog", "journal", "pipe"] {
        assert_eq!(errors_of(&text, source), file_errors, "{source}");
    }
}
