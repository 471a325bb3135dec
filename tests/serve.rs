//! The live exporter, run as a real process on an ephemeral loopback port:
//! appends lines to temporary logs through every rotation kind, scrapes,
//! and checks exact counter values.

mod support;

use std::process::Command;

use support::{Exporter, append, require, sum, tmpdir};

const ENOTCONN: &[(&str, &str)] = &[("errname", "ENOTCONN"), ("op", "write"), ("errno", "57")];

/// `n` numbered ENOTCONN lines (numbered so no two files start alike).
fn errors(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("{i:06} ERROR write: (57) Socket is not connected\n"))
        .collect()
}

fn msmail(log: &std::path::Path, extra: &[&str]) -> Exporter {
    let mut args = vec![
        "--log.path",
        log.to_str().unwrap(),
        "--log.profile",
        "msmail",
        "--log.start-at",
        "beginning",
    ];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

#[test]
fn counts_exactly_through_every_rotation_kind() {
    let dir = tmpdir("rotations");
    let log = dir.join("gw.log");
    append(&log, &errors(0, 3));
    append(&log, "INFO routine line\n");
    let e = msmail(&log, &[]);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 3.0);

    // rename: the writer still appends to the old file before reopening.
    std::fs::rename(&log, dir.join("gw.log.1")).unwrap();
    append(&dir.join("gw.log.1"), &errors(3, 1));
    append(&log, &errors(4, 2));
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 6.0);
    e.wait_for("gateway_log_rotations_total", &[("kind", "rename")], 1.0);

    // copytruncate: truncated in place, then written past the old offset.
    std::fs::copy(&log, dir.join("gw.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    append(&log, &errors(6, 4));
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 10.0);
    e.wait_for("gateway_log_rotations_total", &[("kind", "truncate")], 1.0);

    // delete + recreate.
    std::fs::remove_file(&log).unwrap();
    append(&log, &errors(10, 5));
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 15.0);
    e.wait_for("gateway_log_rotations_total", &[("kind", "recreate")], 1.0);

    // Nothing is counted twice once everything settled.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", ENOTCONN),
        Some(15.0)
    );
    assert_eq!(sum(&text, "gateway_log_lines_total", &[]), Some(16.0));
    assert_eq!(sum(&text, "gateway_log_rotations_total", &[]), Some(3.0));
    assert_eq!(sum(&text, "gateway_log_files", &[]), Some(1.0));
    assert_eq!(sum(&text, "gateway_log_up", &[]), Some(1.0));
    assert_eq!(e.stop().code(), Some(0), "clean exit on SIGTERM");
}

#[test]
fn partial_and_oversize_lines() {
    let dir = tmpdir("partial");
    let log = dir.join("gw.log");
    append(&log, "");
    let e = msmail(&log, &["--log.max-line-bytes", "100"]);
    append(&log, "ERROR write: (57) Socket is not");
    std::thread::sleep(std::time::Duration::from_millis(400));
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", ENOTCONN),
        Some(0.0)
    );
    assert_eq!(sum(&text, "gateway_log_lines_total", &[]), Some(0.0));
    append(&log, " connected\n");
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 1.0);

    // An over-long line carrying the same error is skipped and counted as
    // oversize; the line after it is counted normally.
    let long = format!(
        "{} ERROR write: (57) Socket is not connected\n",
        "x".repeat(300)
    );
    append(&log, &long);
    append(&log, &errors(0, 1));
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 2.0);
    e.wait_for("gateway_log_oversize_lines_total", &[], 1.0);
    e.wait_for("gateway_log_lines_total", &[], 3.0);
    // Non-UTF-8 and NUL bytes are lines like any other.
    append(&log, "\u{0}\u{1}\n");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(
        &mut f,
        b"\xff\xfe ERROR write: (57) Socket is not connected\n",
    )
    .unwrap();
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 3.0);
    e.wait_for("gateway_log_lines_total", &[], 5.0);
}

#[test]
fn watch_list_series_exist_before_the_first_error() {
    let dir = tmpdir("watch");
    let gw = dir.join("gw.log");
    let mx = dir.join("mail.log");
    append(&gw, "");
    append(&mx, "");
    let cfg = dir.join("gw.yml");
    std::fs::write(
        &cfg,
        format!(
            "sources:\n  - name: gw\n    paths: ['{}']\n    profile: msmail\n  - name: mx\n    paths: ['{}']\n    profile: postfix\n",
            gw.display(),
            mx.display()
        ),
    )
    .unwrap();
    let e = Exporter::start(&["--config", cfg.to_str().unwrap()]);
    let text = e.scrape();
    for (source, errno) in [("gw", "57"), ("mx", "")] {
        let series = format!(
            "gateway_socket_errors_total{{errname=\"ENOTCONN\",errno=\"{errno}\",op=\"write\",source=\"{source}\"}} 0"
        );
        assert!(text.contains(&series), "missing {series}\n{text}");
    }
    for errname in ["EPIPE", "ECONNRESET", "ETIMEDOUT", "ECONNREFUSED"] {
        assert_eq!(
            sum(
                &text,
                "gateway_socket_errors_total",
                &[("source", "gw"), ("errname", errname)]
            ),
            Some(0.0),
            "{errname}"
        );
    }
    // Each errno is the one the source's numbering logs (BSD 32 for EPIPE).
    assert!(text.contains(r#"errname="EPIPE",errno="32",op="write",source="gw"} 0"#));
    // The first error increments the pre-existing series.
    append(&gw, &errors(0, 1));
    e.wait_for(
        "gateway_socket_errors_total",
        &[("source", "gw"), ("errname", "ENOTCONN"), ("errno", "57")],
        1.0,
    );
}

#[test]
fn missing_files_are_retried_and_reported() {
    let dir = tmpdir("missing");
    let log = dir.join("late.log");
    let e = msmail(&log, &[]);
    e.wait_for("gateway_log_up", &[], 0.0);
    let text = e.scrape();
    assert!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("reason", "not_found")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        e.get("/-/ready").0,
        200,
        "a source that started is ready even without files"
    );
    assert!(
        e.log_lines()
            .iter()
            .any(|l| l.contains("level=warn") && l.contains("late.log")),
        "{:?}",
        e.log_lines()
    );
    append(&log, &errors(0, 2));
    e.wait_for("gateway_log_up", &[], 1.0);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 2.0);
}

#[test]
fn unreadable_files_are_reported_not_fatal() {
    let dir = tmpdir("denied");
    let log = dir.join("secret.log");
    append(&log, &errors(0, 1));
    let root = rustix_is_root();
    // Root reads any file: drop to nobody for this test when root.
    let mut cmd = Command::new(if root {
        "setpriv"
    } else {
        env!("CARGO_BIN_EXE_gateway_exporter")
    });
    if root {
        if require("setpriv").is_none() {
            return;
        }
        cmd.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            env!("CARGO_BIN_EXE_gateway_exporter"),
        ]);
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    // The state directory must belong to the user the exporter runs as.
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    if root {
        let status = Command::new("chown")
            .args(["nobody:nogroup", state.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let e = Exporter::start_with(
        cmd,
        &[
            "--log.path",
            log.to_str().unwrap(),
            "--log.profile",
            "msmail",
            "--log.start-at",
            "beginning",
            "--state.dir",
            state.to_str().unwrap(),
        ],
    );
    e.wait_for("gateway_log_up", &[], 0.0);
    let text = e.scrape();
    assert!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("reason", "permission_denied")]
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    e.wait_for("gateway_log_up", &[], 1.0);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 1.0);
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn scrape_passes_promtool_check_metrics() {
    let Some(promtool) = require("promtool") else {
        return;
    };
    let dir = tmpdir("promtool");
    let log = dir.join("gw.log");
    append(&log, &errors(0, 2));
    append(
        &log,
        "ERROR write: (119) network error\nERROR read: (54) Connection reset by peer\n",
    );
    let e = msmail(&log, &[]);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 2.0);
    let text = e.scrape();
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool: {report}\n{text}"
    );
}

#[test]
fn http_routes_of_the_real_binary() {
    let dir = tmpdir("routes");
    let log = dir.join("gw.log");
    append(&log, &errors(0, 1));
    let e = msmail(&log, &[]);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 1.0);
    assert_eq!(e.get("/-/healthy").0, 200);
    assert_eq!(e.get("/-/ready").0, 200);
    assert_eq!(e.get("/nope").0, 404);
    let (status, page) = e.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("ENOTCONN"), "{page}");
    let text = e.scrape();
    assert!(text.contains("gateway_exporter_build_info{"), "{text}");
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
}

#[test]
fn bad_setups_fail_with_clear_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_gateway_exporter");
    let out = Command::new(bin)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no log sources"));

    let dir = tmpdir("badsetup");
    let cfg = dir.join("bad.yml");
    std::fs::write(
        &cfg,
        "sources:\n  - name: gw\n    paths: [x]\n    profile: nosuch\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4:", cfg.display())), "{err}");

    // A port that is taken fails fast, naming the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(bin)
        .args(["--log.path", "/nonexistent", "--web.listen-address", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}

#[test]
fn counts_survive_a_restart_and_bad_state_starts_fresh() {
    let dir = tmpdir("restart");
    let state = dir.join("state");
    let log = dir.join("gw.log");
    append(&log, &errors(0, 3));
    let state_s = state.to_str().unwrap().to_string();
    let e = msmail(&log, &["--state.dir", &state_s]);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 3.0);
    assert_eq!(e.stop().code(), Some(0));

    // Lines written while it was stopped are counted once, on top of the
    // restored counts; nothing is read twice.
    append(&log, &errors(3, 2));
    let e = msmail(&log, &["--state.dir", &state_s]);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 5.0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", ENOTCONN),
        Some(5.0)
    );
    assert_eq!(sum(&text, "gateway_log_lines_total", &[]), Some(5.0));
    assert!(
        sum(
            &text,
            "gateway_checkpoint_last_success_timestamp_seconds",
            &[]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(e.stop().code(), Some(0));
    let saved = std::fs::read_to_string(state.join("gateway_exporter.state.json")).unwrap();
    assert!(saved.contains("\"default\""), "{saved}");

    // A corrupt state file is reported and the exporter starts fresh
    // (here from the beginning, as configured) instead of failing.
    std::fs::write(
        state.join("gateway_exporter.state.json"),
        "{\"version\": 1, \"sources\": [",
    )
    .unwrap();
    let e = msmail(&log, &["--state.dir", &state_s]);
    e.wait_for("gateway_checkpoint_errors_total", &[("op", "load")], 1.0);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 5.0);
    assert!(
        e.log_lines()
            .iter()
            .any(|l| l.contains("level=error") && l.contains("checkpoint"))
    );
    assert_eq!(e.stop().code(), Some(0));

    // State of a source that is no longer configured is dropped.
    let cfg = dir.join("gw.yml");
    std::fs::write(
        &cfg,
        format!(
            "sources:\n  - name: other\n    paths: ['{}']\n    profile: msmail\n",
            log.display()
        ),
    )
    .unwrap();
    let e = Exporter::start(&["--config", cfg.to_str().unwrap(), "--state.dir", &state_s]);
    e.scrape();
    assert_eq!(e.stop().code(), Some(0));
    let saved = std::fs::read_to_string(state.join("gateway_exporter.state.json")).unwrap();
    assert!(
        !saved.contains("\"default\"") && saved.contains("\"other\""),
        "{saved}"
    );
}

/// Run as an unprivileged user with no --state.dir, checkpoints go to the
/// user's state directory ($HOME/.local/state/gateway_exporter) and a
/// restart keeps counts exactly.
#[test]
fn non_root_defaults_keep_counts_across_a_restart() {
    if !rustix_is_root() || require("setpriv").is_none() {
        return;
    }
    let dir = tmpdir("nonroot");
    let home = dir.join("home");
    let log = dir.join("gw.log");
    std::fs::create_dir_all(&home).unwrap();
    append(&log, &errors(0, 3));
    for p in [&dir, &home] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let status = Command::new("chown")
        .args([
            "-R",
            "nobody:nogroup",
            home.to_str().unwrap(),
            log.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let cmd = || {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_gateway_exporter"))
            .env("HOME", &home)
            .env_remove("XDG_STATE_HOME")
            .env_remove("STATE_DIRECTORY");
        c
    };
    let args = [
        "--gateway.log-path",
        log.to_str().unwrap(),
        "--gateway.log-profile",
        "msmail",
        "--gateway.start-at",
        "beginning",
    ];
    let e = Exporter::start_with_default_state(cmd(), &args);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 3.0);
    assert_eq!(e.stop().code(), Some(0));
    assert!(
        home.join(".local/state/gateway_exporter/gateway_exporter.state.json")
            .is_file()
    );
    append(&log, &errors(3, 2));
    let e = Exporter::start_with_default_state(cmd(), &args);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 5.0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        sum(&e.scrape(), "gateway_socket_errors_total", ENOTCONN),
        Some(5.0)
    );
    assert_eq!(e.stop().code(), Some(0));
}

/// A checkpoint's file that the first pass after a restart cannot open
/// (here: permissions) and that becomes readable later resumes at its
/// mark: read from its start, its old lines would be counted twice.
#[test]
fn a_file_unreadable_at_restart_resumes_at_its_mark_later() {
    if !rustix_is_root() || require("setpriv").is_none() {
        return;
    }
    let dir = tmpdir("unreadable-restart");
    let state = dir.join("state");
    let log = dir.join("gw.log");
    std::fs::create_dir_all(&state).unwrap();
    append(&log, &errors(0, 3));
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let status = Command::new("chown")
        .args([
            "nobody:nogroup",
            state.to_str().unwrap(),
            log.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let cmd = || {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_gateway_exporter"));
        c
    };
    let args = [
        "--gateway.log-path",
        log.to_str().unwrap(),
        "--gateway.log-profile",
        "msmail",
        "--gateway.start-at",
        "beginning",
        "--state.dir",
        state.to_str().unwrap(),
    ];
    let e = Exporter::start_with(cmd(), &args);
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 3.0);
    assert_eq!(e.stop().code(), Some(0));
    let mode = |m| std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(m));
    mode(0o000).unwrap();
    let e = Exporter::start_with(cmd(), &args);
    e.wait_for("gateway_log_up", &[], 0.0);
    mode(0o644).unwrap();
    e.wait_for("gateway_log_up", &[], 1.0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        sum(&e.scrape(), "gateway_socket_errors_total", ENOTCONN),
        Some(3.0)
    );
    append(&log, &errors(3, 2));
    e.wait_for("gateway_socket_errors_total", ENOTCONN, 5.0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        sum(&e.scrape(), "gateway_socket_errors_total", ENOTCONN),
        Some(5.0)
    );
}
