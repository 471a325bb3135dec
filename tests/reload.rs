//! Reloading the configuration: SIGHUP and `POST /-/reload` against the
//! real binary. A valid new config adds a source and keeps the counts of
//! the sources that stay exactly; a broken one keeps the old running and
//! says so in `gateway_exporter_config_last_reload_successful`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Exporter, append, sum, tmpdir};

const ERR: &str = "ERROR write: (57) Socket is not connected\n";

fn config(dir: &Path, sources: &[&str]) -> String {
    let mut text = String::from("sources:\n");
    for name in sources {
        text.push_str(&format!(
            "  - name: {name}\n    paths: [{}]\n    profile: msmail\n    start_at: beginning\n",
            dir.join(format!("{name}.log")).display()
        ));
    }
    text
}

fn errors(e: &Exporter, source: &str) -> Option<f64> {
    sum(
        &e.scrape(),
        "gateway_socket_errors_total",
        &[("source", source), ("errname", "ENOTCONN")],
    )
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn sighup_adds_a_source_keeps_counts_and_survives_a_broken_config() {
    for checkpoints in [true, false] {
        let dir = tmpdir(&format!("reload-hup-{checkpoints}"));
        append(&dir.join("a.log"), &ERR.repeat(2));
        append(&dir.join("b.log"), ERR);
        let cfg = dir.join("gw.yml");
        std::fs::write(&cfg, config(&dir, &["a"])).unwrap();
        let state = if checkpoints {
            dir.join("state").display().to_string()
        } else {
            String::new()
        };
        let mut e = Exporter::start(&["--config", cfg.to_str().unwrap(), "--state.dir", &state]);
        e.wait_for("gateway_socket_errors_total", &[("source", "a")], 2.0);
        assert_eq!(
            sum(
                &e.scrape(),
                "gateway_exporter_config_last_reload_successful",
                &[]
            ),
            Some(1.0)
        );

        std::fs::write(&cfg, config(&dir, &["a", "b"])).unwrap();
        e.signal("HUP");
        wait_until("source b", || errors(&e, "b") == Some(1.0));
        assert_eq!(
            errors(&e, "a"),
            Some(2.0),
            "checkpoints={checkpoints}: a's count changed over the reload"
        );
        // Lines after the reload are counted once, from where a stopped.
        append(&dir.join("a.log"), ERR);
        e.wait_for("gateway_socket_errors_total", &[("source", "a")], 3.0);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(errors(&e, "a"), Some(3.0));
        let text = e.scrape();
        assert_eq!(
            sum(&text, "gateway_exporter_config_last_reload_successful", &[]),
            Some(1.0)
        );
        assert!(
            e.log_lines()
                .iter()
                .any(|l| l.contains("configuration reloaded"))
        );

        // A broken config: the old one keeps running, the metric says 0.
        std::fs::write(&cfg, "sources:\n  - name: a\n    profile: nonsense\n").unwrap();
        e.signal("HUP");
        wait_until("reload failure", || {
            sum(
                &e.scrape(),
                "gateway_exporter_config_last_reload_successful",
                &[],
            ) == Some(0.0)
        });
        assert!(e.running(), "SIGHUP ended the process");
        append(&dir.join("b.log"), ERR);
        e.wait_for("gateway_socket_errors_total", &[("source", "b")], 2.0);
        assert_eq!(errors(&e, "a"), Some(3.0));
        assert!(
            e.log_lines()
                .iter()
                .any(|l| l.contains("cannot reload the configuration") && l.contains("gw.yml:2:")),
            "{:?}",
            e.log_lines()
        );

        // Fixed again: the next reload succeeds and the metric returns to 1.
        std::fs::write(&cfg, config(&dir, &["a"])).unwrap();
        e.signal("HUP");
        wait_until("reload success", || {
            sum(
                &e.scrape(),
                "gateway_exporter_config_last_reload_successful",
                &[],
            ) == Some(1.0)
        });
        let text = e.scrape();
        assert_eq!(
            sum(&text, "gateway_socket_errors_total", &[("source", "a")]),
            Some(3.0)
        );
        assert_eq!(
            sum(&text, "gateway_socket_errors_total", &[("source", "b")]),
            None,
            "a removed source still shows"
        );
    }
}

#[test]
fn post_reload_needs_the_lifecycle_flag() {
    let dir = tmpdir("reload-post");
    append(&dir.join("a.log"), ERR);
    let cfg = dir.join("gw.yml");
    std::fs::write(&cfg, config(&dir, &["a"])).unwrap();
    let e = Exporter::start(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(post(e.addr, "/-/reload").0, 404);
    drop(e);

    let e = Exporter::start(&["--config", cfg.to_str().unwrap(), "--web.enable-lifecycle"]);
    e.wait_for("gateway_socket_errors_total", &[("source", "a")], 1.0);
    assert_eq!(e.get("/-/reload").0, 405);
    append(&dir.join("b.log"), ERR);
    std::fs::write(&cfg, config(&dir, &["a", "b"])).unwrap();
    assert_eq!(post(e.addr, "/-/reload").0, 200);
    assert_eq!(errors(&e, "a"), Some(1.0));
    wait_until("source b", || errors(&e, "b") == Some(1.0));
    std::fs::write(&cfg, "sources: [").unwrap();
    let (status, body) = post(e.addr, "/-/reload");
    assert_eq!(status, 500);
    assert!(body.contains("gw.yml:1:"), "{body}");
    assert_eq!(errors(&e, "a"), Some(1.0));
}
