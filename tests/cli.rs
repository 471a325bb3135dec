//! The real binary, driven the way a person would: `explain`, `scan` and
//! `check-config` on files, stdin and gzip, with good and bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gateway_exporter");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gwexp-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn explain_decodes_the_msmail_line_exactly() {
    let out = run_stdin(&["explain"], b"ERROR write: (57) Socket is not connected\n");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        stdout,
        "{\"line\":1,\"matched\":true,\"rule\":\"msmail\",\"op\":\"write\",\"errno\":\"57\",\"errname\":\"ENOTCONN\",\"dialect\":\"bsd\"}\n"
    );
}

#[test]
fn explain_reports_every_line_including_bad_bytes() {
    let mut input = Vec::new();
    input.extend_from_slice(b"hello\n");
    input.extend_from_slice(b"\xff\xfe\x00 ERROR read: (54) Connection reset by peer \xc3\x28\n");
    input.extend_from_slice(&[b'x'; 200]);
    input.extend_from_slice(
        b"\nERROR connect: (121) network error\r\nno newline at end: Broken pipe",
    );
    let out = run_stdin(&["explain", "--log.max-line-bytes", "100"], &input);
    let v = json_lines(&out);
    assert_eq!(v.len(), 5);
    assert_eq!(v[0], serde_json::json!({"line":1,"matched":false}));
    assert_eq!(v[1]["errname"], "ECONNRESET");
    assert_eq!(v[1]["dialect"], "bsd");
    assert_eq!(
        v[2],
        serde_json::json!({"line":3,"matched":false,"oversize":true})
    );
    assert_eq!(v[3]["errname"], "UNKNOWN");
    assert_eq!(v[3]["errno"], "121");
    assert_eq!(v[3]["op"], "connect");
    assert_eq!(v[4]["errname"], "EPIPE");
    assert_eq!(v[4]["errno"], serde_json::Value::Null);
}

#[test]
fn explain_honours_profile_and_dialect() {
    // A bare number means nothing without a numbering: 57 is ENOTCONN in BSD
    // and EBADSLT (not a socket error) in Linux.
    let line = b"app: send failed errno=57\n";
    let bsd = json_lines(&run_stdin(
        &["explain", "--profile", "generic", "--dialect", "bsd"],
        line,
    ));
    assert_eq!(bsd[0]["errname"], "ENOTCONN");
    assert_eq!(bsd[0]["dialect"], "bsd");
    let linux = json_lines(&run_stdin(
        &["explain", "--profile", "generic", "--dialect", "linux"],
        line,
    ));
    assert_eq!(linux[0]["matched"], false);
    // The msmail profile alone does not read nginx lines.
    let ng = b"2024/01/02 03:04:05 [error] 1#1: *2 recv() failed (104: Connection reset by peer)\n";
    let only_msmail = json_lines(&run_stdin(&["explain", "--profile", "msmail"], ng));
    assert_eq!(only_msmail[0]["matched"], false);
    let auto = json_lines(&run_stdin(&["explain"], ng));
    assert_eq!(auto[0]["rule"], "nginx");
    assert_eq!(auto[0]["op"], "read");
}

fn sample_log(dir: &Path) -> PathBuf {
    let p = dir.join("gw.log");
    std::fs::write(
        &p,
        "INFO started\n\
         ERROR write: (57) Socket is not connected\n\
         ERROR write: (57) Socket is not connected\n\
         ERROR read: (52) Network dropped connection or reset\n\
         ERROR write: (119) network error\n\
         INFO quiet\n",
    )
    .unwrap();
    p
}

#[test]
fn scan_prints_totals_in_all_formats() {
    let dir = tmpdir("scan");
    let log = sample_log(&dir);
    let log_s = log.to_str().unwrap();
    let json = bin()
        .args(["scan", "--format", "json", log_s])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let f = &v["files"][0];
    assert_eq!(f["lines"], 6);
    assert_eq!(f["matched"], 4);
    let errors = f["errors"].as_array().unwrap();
    let count = |op: &str, errname: &str| {
        errors
            .iter()
            .filter(|e| e["op"] == op && e["errname"] == errname)
            .map(|e| e["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(count("write", "ENOTCONN"), 2);
    assert_eq!(count("read", "ENETRESET"), 1);
    assert_eq!(count("write", "UNKNOWN"), 1);

    let prom = bin()
        .args(["scan", "--format", "prometheus", log_s])
        .output()
        .unwrap();
    let text = String::from_utf8(prom.stdout).unwrap();
    let want = format!(
        "gateway_socket_errors_total{{errname=\"ENOTCONN\",errno=\"57\",op=\"write\",source=\"{log_s}\"}} 2"
    );
    assert!(text.contains(&want), "{text}");
    assert!(text.contains(&format!("gateway_log_lines_total{{source=\"{log_s}\"}} 6")));

    let table = bin().args(["scan", log_s]).output().unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("ENOTCONN"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("write") && l.contains("57") && l.trim_end().ends_with(" 2"))
    );
}

#[test]
fn scan_reads_gzip_and_stdin() {
    let dir = tmpdir("gz");
    let log = sample_log(&dir);
    let gz = dir.join("gw.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(&log).unwrap()).unwrap();
    enc.finish().unwrap();
    let out = bin()
        .args(["scan", "--format", "json", gz.to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["matched"], 4);
    let out = run_stdin(
        &["scan", "--format", "json", "-"],
        &std::fs::read(&gz).unwrap(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["matched"], 4);
    assert_eq!(v["files"][0]["file"], "-");
}

#[test]
fn scan_of_a_missing_file_fails_clearly() {
    let out = bin()
        .args(["scan", "/nonexistent/gw.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/nonexistent/gw.log: cannot open"), "{err}");
}

#[test]
fn user_rules_from_config_are_used() {
    let dir = tmpdir("rules");
    let cfg = dir.join("rules.yml");
    std::fs::write(
        &cfg,
        "rules:\n  - name: acme\n    regex: 'ACME-GW sockerr=(?P<errno>[0-9]+) call=(?P<op>[a-z]+)'\n    dialect: svr4\n",
    )
    .unwrap();
    let out = run_stdin(
        &["explain", "--config", cfg.to_str().unwrap()],
        b"ACME-GW sockerr=134 call=send\n",
    );
    let v = json_lines(&out);
    assert_eq!(v[0]["rule"], "acme");
    assert_eq!(v[0]["errname"], "ENOTCONN");
    assert_eq!(v[0]["dialect"], "svr4");
    assert_eq!(v[0]["op"], "write");
}

#[test]
fn bad_config_exits_2_with_file_and_line() {
    let dir = tmpdir("badcfg");
    let cfg = dir.join("bad.yml");
    std::fs::write(&cfg, "rules:\n  - name: a\n    regex: 'ok (?P<errno>[0-9]+)'\n  - name: b\n    regex: '(?P<errno>[0-9]+'\n").unwrap();
    let cfg_s = cfg.to_str().unwrap();
    for args in [
        vec!["check-config", cfg_s],
        vec!["scan", "--config", cfg_s, cfg_s],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(&format!("{cfg_s}:5:")), "{err}");
        assert!(err.contains("invalid regex"), "{err}");
    }
    std::fs::write(&cfg, "rules:\n  - name: a\n    regexp: 'x'\n").unwrap();
    let out = bin().args(["check-config", cfg_s]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("{cfg_s}:3:")) && err.contains("regexp"),
        "{err}"
    );

    std::fs::write(
        &cfg,
        "rules:\n  - name: a\n    regex: 'x (?P<errno>[0-9]+)'\n",
    )
    .unwrap();
    let out = bin().args(["check-config", cfg_s]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}
