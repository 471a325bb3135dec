//! The landing page as a person sees it: headless Chromium loads `/` from
//! the real exporter and we read what it rendered.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Exporter, append, require, tmpdir};

fn chromium(dir: &std::path::Path, args: &[&str], url: &str) -> std::process::Output {
    let bin = require("chromium").expect("checked by the caller");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1000,900",
        "--virtual-time-budget=2000",
    ]);
    cmd.arg(format!("--user-data-dir={}", dir.join("profile").display()));
    cmd.args(args).arg(url);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a hung browser fails the test instead of the suite.
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(killer);
    out
}

/// The text content of every element with `class="<class>"`, in order.
fn cells(dom: &str, class: &str) -> Vec<String> {
    let marker = format!("class=\"{class}\">");
    dom.match_indices(&marker)
        .map(|(i, _)| {
            let rest = &dom[i + marker.len()..];
            rest[..rest.find('<').unwrap_or(rest.len())]
                .trim()
                .to_string()
        })
        .collect()
}

#[test]
fn landing_page_shows_counts_and_links_to_the_runbook() {
    if require("chromium").is_none() {
        return;
    }
    let dir = tmpdir("landing");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/sample/gateway.log");
    let e = Exporter::start(&[
        "--log.path",
        sample,
        "--log.profile",
        "msmail",
        "--log.start-at",
        "beginning",
    ]);
    e.wait_for("gateway_socket_errors_total", &[], 10.0);
    let url = format!("http://{}/", e.addr);

    let out = chromium(&dir, &["--dump-dom"], &url);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("<table id=\"socket-errors\">"),
        "{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = cells(&dom, "errname");
    let counts = cells(&dom, "count");
    let rows: Vec<(String, String)> = names.into_iter().zip(counts).collect();
    // Largest first, as a person scanning the page wants it.
    assert_eq!(
        rows[0],
        ("ENOTCONN".to_string(), "3".to_string()),
        "{rows:?}"
    );
    for (name, count) in [
        ("UNKNOWN", "2"),
        ("ECONNRESET", "1"),
        ("EPIPE", "1"),
        ("ENETRESET", "1"),
    ] {
        assert!(
            rows.contains(&(name.to_string(), count.to_string())),
            "{name}: {rows:?}"
        );
    }
    assert!(dom.contains("<h1>gateway_exporter</h1>"), "{dom}");
    assert!(
        dom.contains("id=\"link-runbook\" href=\"/runbook\">Runbook</a>"),
        "{dom}"
    );
    assert!(dom.contains("href=\"/metrics\">Metrics</a>"), "{dom}");

    // A screenshot renders without error and has content (kept in the
    // temporary directory for a person to look at, never committed).
    let shot = dir.join("landing.png");
    let out = chromium(&dir, &[&format!("--screenshot={}", shot.display())], &url);
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot: {} bytes; {}",
        png.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("screenshot: {}", shot.display());
}

/// The elements of `dom` from each `<tag ... class="<class>"` to the
/// matching close tag (not nested), in order.
fn elements<'a>(dom: &'a str, tag: &str, class: &str) -> Vec<&'a str> {
    let open = format!("<{tag} class=\"{class}\"");
    let close = format!("</{tag}>");
    dom.match_indices(&open)
        .map(|(i, _)| {
            let rest = &dom[i..];
            &rest[..rest.find(&close).map_or(rest.len(), |j| j + close.len())]
        })
        .collect()
}

#[test]
fn landing_page_shows_each_source_and_a_chart_per_watched_errname() {
    if require("chromium").is_none() {
        return;
    }
    let dir = tmpdir("landing-sources");
    let log = dir.join("gw.log");
    append(&log, "");
    let missing = dir.join("not-yet.log");
    let cfg = dir.join("gw.yml");
    std::fs::write(
        &cfg,
        format!(
            "sources:\n  - name: gw\n    paths: ['{}']\n    profile: msmail\n  - name: absent\n    paths: ['{}']\n    profile: msmail\n",
            log.display(),
            missing.display()
        ),
    )
    .unwrap();
    let e = Exporter::start(&["--config", cfg.to_str().unwrap()]);
    // The sources start at the end of their files: lines written before
    // the first pass opened the file are not new lines. Ready means every
    // source has made that pass.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while e.get("/-/ready").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    append(
        &log,
        "ERROR write: (57) Socket is not connected\n\
         ERROR write: (57) Socket is not connected\n\
         ERROR write: (57) Socket is not connected\n\
         ERROR read: (54) Connection reset by peer\n",
    );
    e.wait_for(
        "gateway_socket_errors_total",
        &[("source", "gw"), ("errname", "ENOTCONN")],
        3.0,
    );
    // What readiness promises: a missing log does not hold it back.
    assert_eq!(e.get("/-/ready").0, 200);

    let out = chromium(&dir, &["--dump-dom"], &format!("http://{}/", e.addr));
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("<table id=\"sources\">"),
        "{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(String, String, String)> = cells(&dom, "source-name")
        .into_iter()
        .zip(cells(&dom, "source-state"))
        .zip(cells(&dom, "source-problem"))
        .map(|((n, s), p)| (n, s, p))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str(), rows[0].2.as_str()),
        ("gw", "up", "-")
    );
    assert_eq!((rows[1].0.as_str(), rows[1].1.as_str()), ("absent", "down"));
    assert_eq!(
        rows[1].2,
        format!("{}: not_found (no file matches)", missing.display()),
        "{rows:?}"
    );
    let last_lines = cells(&dom, "source-last-line");
    assert!(last_lines[0].ends_with("ago)"), "{last_lines:?}");
    assert_eq!(last_lines[1], "no line yet");
    let last_errors = cells(&dom, "source-last-error");
    assert!(last_errors[0].contains(" UTC ("), "{last_errors:?}");
    assert_eq!(last_errors[1], "never");

    // One inline chart per watched errname (the defaults), nothing loaded
    // from elsewhere.
    let charts = elements(&dom, "figure", "errname-chart");
    let names: Vec<String> = charts
        .iter()
        .flat_map(|c| cells(c, "chart-errname"))
        .collect();
    assert_eq!(
        names,
        [
            "ENOTCONN",
            "EPIPE",
            "ECONNRESET",
            "ETIMEDOUT",
            "ECONNREFUSED"
        ],
        "{dom}"
    );
    for chart in &charts {
        assert_eq!(chart.matches("<svg ").count(), 1, "{chart}");
    }
    let bars = |i: usize| charts[i].matches("<rect class=\"bar\"").count();
    assert_eq!(cells(charts[0], "last-hour"), ["3"]);
    assert_eq!(cells(charts[0], "trend"), ["rising"]);
    assert_eq!(bars(0), 1, "{}", charts[0]);
    assert_eq!(cells(charts[2], "last-hour"), ["1"]);
    assert_eq!(bars(2), 1);
    assert_eq!(cells(charts[1], "last-hour"), ["0"]);
    assert_eq!(bars(1), 0);
    assert!(!dom.contains("<script") && !dom.contains(" src="), "{dom}");
    assert!(dom.contains("id=\"ready-meaning\""), "{dom}");
}
