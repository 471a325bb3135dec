//! Standard input as a source (`--log.path -`, `type: stdin`): lines piped
//! in are counted as from a file, the end of input leaves the source down
//! while the exporter serves on, and SIGTERM never waits for the writer.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{Exporter, sum};

const LINE: &str = "ERROR write: (57) Socket is not connected\n";

#[test]
fn piped_lines_are_counted_and_the_end_leaves_the_source_down() {
    let (e, mut stdin) = Exporter::start_piped(&[
        "--log.path",
        "-",
        "--log.profile",
        "msmail",
        "--state.dir",
        "",
    ]);
    for _ in 0..3 {
        stdin.write_all(LINE.as_bytes()).unwrap();
    }
    stdin.flush().unwrap();
    let notconn = [("source", "default"), ("errname", "ENOTCONN")];
    e.wait_for("gateway_socket_errors_total", &notconn, 3.0);
    e.wait_for("gateway_log_up", &[("source", "default")], 1.0);
    // The last line of a stream needs no newline; the end of input counts it.
    stdin.write_all(LINE.trim_end().as_bytes()).unwrap();
    drop(stdin);
    e.wait_for("gateway_socket_errors_total", &notconn, 4.0);
    e.wait_for("gateway_log_up", &[("source", "default")], 0.0);
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_log_lines_total", &[("source", "default")]),
        Some(4.0)
    );
    // A stream has no files to count.
    assert_eq!(
        sum(&text, "gateway_log_files", &[("source", "default")]),
        None
    );
    assert!(
        e.log_lines()
            .iter()
            .any(|l| l.contains("standard input ended")),
        "{:?}",
        e.log_lines()
    );
}

#[test]
fn a_config_stdin_source_and_sigterm_with_a_silent_writer() {
    let dir = support::tmpdir("stdin-config");
    let cfg = dir.join("gw.yml");
    std::fs::write(
        &cfg,
        "sources:\n  - name: pipe\n    type: stdin\n    profile: msmail\n",
    )
    .unwrap();
    let (e, mut stdin) =
        Exporter::start_piped(&["--config", cfg.to_str().unwrap(), "--state.dir", ""]);
    stdin.write_all(LINE.as_bytes()).unwrap();
    stdin.flush().unwrap();
    e.wait_for(
        "gateway_socket_errors_total",
        &[("source", "pipe"), ("errname", "ENOTCONN")],
        1.0,
    );
    // The writer stays silent with the pipe open: shutdown must not wait.
    let started = Instant::now();
    let status = e.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(stdin);
}
