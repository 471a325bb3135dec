//! `check-config` and `serve` go through the same settings layer, so they
//! give the same verdict on the same file: exit status 2 and the same
//! `file:line:column` message. One test per kind of mistake.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
}

fn config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gwexp-settings-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `serve`, which must refuse to start; a serve that started anyway is
/// killed after a few seconds and fails the test.
fn serve(cfg: &Path) -> Output {
    let mut child = bin()
        .args(["--config", cfg.to_str().unwrap()])
        .args(["--web.listen-address", "127.0.0.1:0", "--state.dir", ""])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve started on a config check-config rejects");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn message(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("gateway_exporter: "))
        .unwrap_or_default()
        .to_string()
}

/// Both commands exit 2 with the same message, at `line:col` in the file.
fn same_verdict(name: &str, text: &str, at: &str, says: &str) {
    let cfg = config(name, text);
    let check = bin()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let served = serve(&cfg);
    let want = format!("gateway_exporter: {}:{at}: ", cfg.display());
    for (what, out) in [("check-config", &check), ("serve", &served)] {
        assert_eq!(out.status.code(), Some(2), "{what}: {}", message(out));
        assert!(message(out).starts_with(&want), "{what}: {}", message(out));
        assert!(message(out).contains(says), "{what}: {}", message(out));
    }
    assert_eq!(message(&check), message(&served));
}

#[test]
fn a_bad_glob() {
    same_verdict(
        "glob",
        "sources:\n  - name: gw\n    paths: ['/var/log/[gw.log']\n",
        "3:13",
        "bad glob",
    );
}

#[test]
fn an_empty_path() {
    same_verdict(
        "empty",
        "sources:\n  - name: gw\n    paths: [\"\"]\n",
        "3:13",
        "empty path",
    );
}

#[test]
fn an_unknown_profile() {
    same_verdict(
        "profile",
        "sources:\n  - name: gw\n    paths: [gw.log]\n    profile: qmail\n",
        "4:14",
        "unknown profile \"qmail\"",
    );
}

#[test]
fn a_bad_dialect() {
    same_verdict(
        "dialect",
        "sources:\n  - name: gw\n    paths: [gw.log]\n    dialect: vms\n",
        "4:14",
        "unknown dialect \"vms\"",
    );
}

#[test]
fn a_duration_it_cannot_parse() {
    same_verdict(
        "duration",
        "sources:\n  - name: gw\n    paths: [gw.log]\n    poll_interval: 1.5s\n",
        "4:20",
        "expected a duration",
    );
}

#[test]
fn an_empty_anchor() {
    same_verdict(
        "anchor",
        "rules:\n  - name: acme\n    regex: 'ACME (?P<errno>[0-9]+)'\n    anchors: ['ACME', '']\n",
        "4:23",
        "empty anchor",
    );
}

#[test]
fn a_good_config_passes_both() {
    let cfg = config(
        "good",
        "sources:\n  - name: gw\n    paths: [gw.log]\n    poll_interval: 1m30s\n",
    );
    let check = bin()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", message(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("OK (0 rules, 1 sources)"));
}

#[test]
fn flags_are_named_in_their_errors() {
    for (args, says) in [
        (&["--log.path", ""][..], "--gateway.log-path: an empty path"),
        (
            &["--gateway.log-path", "/l/[x"][..],
            "--gateway.log-path: bad glob",
        ),
        (
            &["--log.path", "x.log", "--gateway.max-line-bytes", "0"][..],
            "--gateway.max-line-bytes: 0 is outside",
        ),
    ] {
        let out = bin()
            .args(args)
            .args(["--web.listen-address", "127.0.0.1:0", "--state.dir", ""])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(message(&out).contains(says), "{args:?}: {}", message(&out));
    }
}

#[test]
fn old_flag_names_still_work_and_warn() {
    let dir = std::env::temp_dir().join(format!("gwexp-settings-{}-old", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("gw.log");
    std::fs::write(&log, "").unwrap();
    let mut child = bin()
        .args(["--log.path", log.to_str().unwrap(), "--log.profile=msmail"])
        .args(["--web.listen-address", "127.0.0.1:0", "--state.dir", ""])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let listening = line.contains("msg=listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(
        text.contains("Starting gateway_exporter") && text.contains("version=\"(version="),
        "{text}"
    );
    for (old, new) in [
        ("--log.path", "--gateway.log-path"),
        ("--log.profile", "--gateway.log-profile"),
    ] {
        assert!(
            text.contains(&format!("flag={old}")) && text.contains(&format!("use_instead={new}")),
            "{text}"
        );
    }
}

#[test]
fn version_is_printed_like_every_prometheus_exporter() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "gateway_exporter, version {} (branch: ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(first.contains(", revision: "), "{text}");
    for field in ["build user:", "build date:", "rustc version:", "platform:"] {
        assert!(text.contains(&format!("  {field}")), "{text}");
    }
}
