//! Trust under production conditions, on the real binary: many files
//! under a low descriptor limit, restarts with hundreds of files, input
//! that invents label values, FIFOs and directories where logs should be,
//! hostile or foreign state files, and shutdown in the middle of a large
//! backlog. Each test names the failure it guards against.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Exporter, append, sum, tmpdir};

const BIN: &str = env!("CARGO_BIN_EXE_gateway_exporter");
const NOTCONN: &[(&str, &str)] = &[("errname", "ENOTCONN")];

/// Distinct ENOTCONN lines (distinct so no repeat rule takes them).
fn errors(tag: &str, from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("{tag}-{i:07} ERROR write: (57) Socket is not connected\n"))
        .collect()
}

fn msmail_args<'a>(pattern: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--log.path", pattern, "--log.profile", "msmail"];
    args.extend_from_slice(extra);
    args
}

fn series(text: &str, name: &str, source: &str) -> usize {
    let prefix = format!("{name}{{");
    let label = format!("source=\"{source}\"");
    text.lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(&label))
        .count()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

fn stop_within(e: Exporter, limit: Duration) {
    let started = Instant::now();
    let status = e.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < limit,
        "SIGTERM took {:?}",
        started.elapsed()
    );
}

/// 1,100 files under `ulimit -n 1024`: an open that fails for lack of
/// descriptors was taken for a rotation and the file re-read from its
/// start, inventing thousands of errors. Now files beyond the budget are
/// followed without a descriptor, and nothing old is ever counted.
#[test]
fn many_files_under_a_low_descriptor_limit_invent_nothing() {
    let dir = tmpdir("fdlimit");
    let files: Vec<PathBuf> = (0..1100)
        .map(|i| dir.join(format!("f{i:04}.log")))
        .collect();
    for (i, f) in files.iter().enumerate() {
        // Old content: never to be counted with start-at end.
        append(f, &errors(&format!("old{i}"), 0, 1));
    }
    let pattern = format!("{}/*.log", dir.display());
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=1024:1024", "--", BIN]);
    let e = Exporter::start_with(cmd, &msmail_args(&pattern, &[]));
    e.wait_for("gateway_log_files", &[], 1100.0);
    std::thread::sleep(Duration::from_secs(10));
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", NOTCONN),
        Some(0.0),
        "{text}"
    );
    assert_eq!(sum(&text, "gateway_log_rotations_total", &[]), Some(0.0));
    assert_eq!(sum(&text, "gateway_log_up", &[]), Some(1.0));
    let unheld = sum(&text, "gateway_log_files_unheld", &[]).unwrap();
    assert!(unheld > 0.0, "the budget should be reached: {text}");
    assert!(
        e.log_lines()
            .iter()
            .any(|l| l.contains("descriptor budget reached")),
        "{:?}",
        e.log_lines()
    );
    let started = Instant::now();
    for (i, f) in files.iter().enumerate() {
        append(f, &errors(&format!("new{i}"), 0, 1));
    }
    e.wait_for("gateway_socket_errors_total", NOTCONN, 1100.0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let text = e.scrape();
    assert_eq!(sum(&text, "gateway_log_rotations_total", &[]), Some(0.0));
    assert_eq!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("reason", "fd_limit")]
        ),
        Some(0.0)
    );
}

/// The checkpoint kept 256 file marks: with more files, every restart
/// re-read the rest from the start. Now every followed file keeps its mark.
#[test]
fn three_hundred_files_restart_exactly() {
    let dir = tmpdir("restart300");
    let state = dir.join("state");
    let state_s = state.to_str().unwrap().to_string();
    let files: Vec<PathBuf> = (0..300).map(|i| dir.join(format!("f{i:03}.log"))).collect();
    for f in &files {
        append(f, &errors("old", 0, 1));
    }
    let pattern = format!("{}/*.log", dir.display());
    let args = msmail_args(&pattern, &["--state.dir", &state_s]);
    let e = Exporter::start(&args);
    e.wait_for("gateway_log_files", &[], 300.0);
    for (i, f) in files.iter().enumerate() {
        append(f, &errors(&format!("r0f{i}"), 0, 1));
    }
    e.wait_for("gateway_socket_errors_total", NOTCONN, 300.0);
    assert!(e.stop().success());
    for round in 1..=3 {
        // Written while it is down: counted once at the next start.
        for (i, f) in files.iter().enumerate() {
            append(f, &errors(&format!("r{round}f{i}"), 0, 1));
        }
        let e = Exporter::start(&args);
        let want = 300.0 * (round as f64 + 1.0);
        e.wait_for("gateway_socket_errors_total", NOTCONN, want);
        std::thread::sleep(Duration::from_millis(500));
        let text = e.scrape();
        assert_eq!(
            sum(&text, "gateway_socket_errors_total", NOTCONN),
            Some(want),
            "round {round}"
        );
        assert!(e.stop().success());
    }
}

/// A number that disagrees with its text (dialect `vendor`) became a label
/// value with no cap: 100,000 codes gave 100,006 series. Now every errno
/// outside the tables is capped per source.
#[test]
fn invented_codes_are_bounded() {
    let dir = tmpdir("codes");
    let log = dir.join("gw.log");
    let mut text = String::new();
    for i in 0..100_000 {
        text.push_str(&format!(
            "{i:06} ERROR write: ({}) Socket is not connected\n",
            20_000 + i
        ));
    }
    std::fs::write(&log, text).unwrap();
    let state = dir.join("state");
    let args = msmail_args(
        log.to_str().unwrap(),
        &[
            "--log.start-at",
            "beginning",
            "--state.dir",
            state.to_str().unwrap(),
        ],
    );
    let e = Exporter::start(&args);
    e.wait_for("gateway_log_lines_total", &[], 100_000.0);
    let (_, body) = e.get("/metrics");
    let max = gateway_exporter::limits::MAX_UNKNOWN_ERRNOS_PER_SOURCE;
    // The watch list's series, the capped codes, and `other`.
    let n = series(&body, "gateway_socket_errors_total", "default");
    assert!(n <= 5 + max + 1, "{n} series");
    assert_eq!(
        sum(&body, "gateway_socket_errors_total", NOTCONN),
        Some(100_000.0)
    );
    assert_eq!(
        sum(&body, "gateway_socket_errors_total", &[("errno", "other")]),
        Some((100_000 - max) as f64)
    );
    assert_eq!(
        sum(&body, "gateway_socket_errors_collapsed_total", &[]),
        Some((100_000 - max) as f64)
    );
    assert!(body.len() < 100_000, "scrape of {} bytes", body.len());
    assert!(e.stop().success());
    let saved = std::fs::metadata(state.join("gateway_exporter.state.json")).unwrap();
    assert!(saved.len() < 100_000, "state of {} bytes", saved.len());
}

/// A FIFO under a rotated name, or matched by the glob (also at a restart),
/// froze the source in open() and made SIGTERM hang.
#[test]
fn fifos_never_block_a_source() {
    let dir = tmpdir("fifo");
    let log = dir.join("r.log");
    append(&log, "");
    mkfifo(&dir.join("r.log.1"));
    mkfifo(&dir.join("q.log"));
    let state = dir.join("state");
    let pattern = format!("{}/*.log", dir.display());
    let args = msmail_args(&pattern, &["--state.dir", state.to_str().unwrap()]);
    let e = Exporter::start(&args);
    e.wait_for("gateway_log_files", &[], 1.0);
    let started = Instant::now();
    append(&log, &errors("a", 0, 1));
    e.wait_for("gateway_socket_errors_total", NOTCONN, 1.0);
    assert!(started.elapsed() < Duration::from_secs(3));
    let text = e.scrape();
    assert!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("reason", "not_regular")]
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    stop_within(e, Duration::from_secs(2));
    // At a restart, the resumed pass opens every matched path first.
    let e = Exporter::start(&args);
    append(&log, &errors("b", 0, 1));
    e.wait_for("gateway_socket_errors_total", NOTCONN, 2.0);
    stop_within(e, Duration::from_secs(2));
}

/// A directory as the log path showed `up=0` with no reason and no log
/// line; an unreadable literal path logged a warning on every poll.
#[test]
fn a_directory_as_the_log_path_says_why_once() {
    let dir = tmpdir("dirpath");
    let not_a_log = dir.join("gw.log");
    std::fs::create_dir_all(&not_a_log).unwrap();
    let e = Exporter::start(&msmail_args(not_a_log.to_str().unwrap(), &[]));
    e.wait_for("gateway_log_up", &[], 0.0);
    // Ten polls at least.
    std::thread::sleep(Duration::from_millis(1200));
    let text = e.scrape();
    assert!(
        sum(
            &text,
            "gateway_log_read_errors_total",
            &[("reason", "not_regular")]
        )
        .unwrap()
            >= 5.0,
        "{text}"
    );
    let warned = e
        .log_lines()
        .iter()
        .filter(|l| l.contains("level=warn") && l.contains("not_regular"))
        .count();
    assert_eq!(warned, 1, "{:?}", e.log_lines());
}

/// A `….state.json.tmp` symlink in the state directory made a root-run
/// exporter overwrite its target; two instances shared one state file.
#[test]
fn the_state_directory_is_ours_alone() {
    let dir = tmpdir("statedir");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let target = dir.join("precious");
    std::fs::write(&target, "do not touch").unwrap();
    std::os::unix::fs::symlink(&target, state.join("gateway_exporter.state.json.tmp")).unwrap();
    let log = dir.join("gw.log");
    append(&log, &errors("a", 0, 2));
    let state_s = state.to_str().unwrap().to_string();
    let args = msmail_args(
        log.to_str().unwrap(),
        &["--log.start-at", "beginning", "--state.dir", &state_s],
    );
    let e = Exporter::start(&args);
    e.wait_for("gateway_socket_errors_total", NOTCONN, 2.0);
    e.scrape(); // a scrape after counts writes a checkpoint first
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
    // A second instance on the same directory refuses to start.
    let out = Command::new(BIN)
        .args(&args)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&state_s) && err.contains("in use"), "{err}");
    assert!(e.stop().success());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
}

/// State written for other inputs under the same source name was applied
/// as is: a restart served another log's errors.
#[test]
fn state_of_another_configuration_is_not_applied() {
    let dir = tmpdir("foreign");
    let state = dir.join("state");
    let state_s = state.to_str().unwrap().to_string();
    let a = dir.join("a.log");
    let b = dir.join("b.log");
    append(&a, &errors("a", 0, 3));
    append(&b, "");
    let extra = ["--log.start-at", "beginning", "--state.dir", &state_s];
    let e = Exporter::start(&msmail_args(a.to_str().unwrap(), &extra));
    e.wait_for("gateway_socket_errors_total", NOTCONN, 3.0);
    assert!(e.stop().success());
    // Same name ("default"), another file: a's counts must not appear.
    let e = Exporter::start(&msmail_args(b.to_str().unwrap(), &extra));
    e.wait_for("gateway_log_up", &[], 1.0);
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", NOTCONN),
        Some(0.0),
        "{text}"
    );
    assert!(
        e.log_lines()
            .iter()
            .any(|l| l.contains("written for other inputs")),
        "{:?}",
        e.log_lines()
    );
}

/// A state file that failed to load was overwritten (a newer version's
/// state destroyed on downgrade); restored series bypassed every bound.
#[test]
fn hostile_or_unreadable_state_is_bounded_and_kept() {
    let dir = tmpdir("hostile");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let log = dir.join("gw.log");
    append(&log, "");
    let identity = format!("file:{}", log.display());
    let mut counters = vec![
        r#"{"name":"gateway_socket_errors_total","labels":{"source":"default","op":"<script>","errno":"57","errname":"ENOTCONN"},"value":5}"#.to_string(),
        r#"{"name":"gateway_socket_errors_total","labels":{"source":"default","op":"write","errno":"57","errname":"ENOTCONN"},"value":1e300}"#.to_string(),
        r#"{"name":"gateway_socket_errors_total","labels":{"source":"default","op":"write","errno":"57","errname":"ENOTCONN"},"value":7}"#.to_string(),
    ];
    for i in 0..1000 {
        counters.push(format!(
            r#"{{"name":"gateway_socket_errors_total","labels":{{"source":"default","op":"write","errno":"{}","errname":"UNKNOWN"}},"value":1}}"#,
            50_000 + i
        ));
    }
    let text = format!(
        r#"{{"version":2,"written_at":1.0,"sources":{{"default":{{"identity":{identity:?},"positions":[],"counters":[{}],"covered_until":1.0}}}}}}"#,
        counters.join(",")
    );
    std::fs::write(state.join("gateway_exporter.state.json"), text).unwrap();
    let state_s = state.to_str().unwrap().to_string();
    let args = msmail_args(log.to_str().unwrap(), &["--state.dir", &state_s]);
    let e = Exporter::start(&args);
    e.wait_for("gateway_log_up", &[], 1.0);
    let body = e.scrape();
    assert!(!body.contains("<script>"), "{body}");
    assert_eq!(
        sum(&body, "gateway_socket_errors_total", NOTCONN),
        Some(7.0),
        "{body}"
    );
    let max = gateway_exporter::limits::MAX_UNKNOWN_ERRNOS_PER_SOURCE;
    assert!(series(&body, "gateway_socket_errors_total", "default") <= 5 + max + 1);
    assert_eq!(
        sum(
            &body,
            "gateway_socket_errors_total",
            &[("errname", "UNKNOWN")]
        ),
        Some(1000.0)
    );
    assert!(e.stop().success());

    // A newer version's state is kept aside, not overwritten.
    let newer = r#"{"version":99,"sources":{}}"#;
    std::fs::write(state.join("gateway_exporter.state.json"), newer).unwrap();
    let e = Exporter::start(&args);
    e.wait_for("gateway_checkpoint_errors_total", &[("op", "load")], 1.0);
    assert!(e.stop().success());
    let kept: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|f| f.file_name().to_string_lossy().contains(".unreadable-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(kept[0].path()).unwrap(), newer);
}

/// SIGTERM during a 1 GiB backlog took 31 s (beyond Kubernetes' 30 s grace
/// period). Now a pass stops at the next block; what was counted is
/// checkpointed and the next start resumes exactly.
#[test]
fn sigterm_mid_backlog_is_quick_and_exact() {
    let dir = tmpdir("backlog");
    let log = dir.join("big.log");
    let (lines, every) = (9_500_000usize, 1000usize);
    {
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&log).unwrap());
        let filler = "x".repeat(80);
        for i in 0..lines {
            if i % every == 0 {
                writeln!(w, "{i:09} ERROR write: (57) Socket is not connected").unwrap();
            } else {
                writeln!(w, "{i:09} INFO delivered message {filler}").unwrap();
            }
        }
    }
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size >= 1 << 30, "{size} bytes");
    let state = dir.join("state");
    let args = msmail_args(
        log.to_str().unwrap(),
        &[
            "--log.start-at",
            "beginning",
            "--state.dir",
            state.to_str().unwrap(),
        ],
    );
    let e = Exporter::start(&args);
    // Mid-backlog: some lines counted, most not.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = sum(&e.scrape(), "gateway_log_lines_total", &[]).unwrap_or(0.0);
        if got > 0.0 {
            assert!(got < lines as f64, "the backlog finished before SIGTERM");
            break;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_within(e, Duration::from_secs(2));
    let e = Exporter::start(&args);
    e.wait_for_long(
        "gateway_log_lines_total",
        &[],
        lines as f64,
        Duration::from_secs(300),
    );
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", NOTCONN),
        Some((lines / every) as f64)
    );
    assert!(e.stop().success());
    let _ = std::fs::remove_file(&log);
}
