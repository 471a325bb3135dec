//! End to end, the whole alerting path with real components on loopback:
//! the exporter follows a gateway log; a real Prometheus scrapes it and
//! evaluates the shipped rules every second; a real Alertmanager (the
//! shipped example config, timings shortened) posts to a webhook receiver
//! that is this test. Appending ENOTCONN lines must make the first-response
//! alert arrive with a runbook link that resolves to the advice, and making
//! them frequent must make the escalation arrive. Then every dashboard
//! expression runs against that Prometheus and returns data.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Alertmanager, Exporter, Prometheus, Webhook, append, free_port, http_get, require, sum, tmpdir,
    urlencode,
};

/// Length of a "frequent" window in the test (shipped: 900 s). At least 3×
/// (scrape + evaluation interval), as docs/alerts.md asks: an error is
/// only remembered while it is younger than one window.
const WINDOW_SECONDS: u64 = 6;
/// No single wait may take longer than this ...
const MAX_WAIT: Duration = Duration::from_secs(90);
/// ... and the whole test no longer than this.
const MAX_TEST: Duration = Duration::from_secs(240);

/// The first ENOTCONN line: Linux numbering (107) in a profile whose
/// zero series is BSD errno 57, so it creates a new series starting at 1.
const FIRST_LINE: &str = "ERROR write: (107) Transport endpoint is not connected\n";
/// The KB Q100707 line itself, for the later errors.
const KB_LINE: &str = "ERROR write: (57) Socket is not connected\n";

struct Clock {
    start: Instant,
}

impl Clock {
    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Polls `f` every 200 ms until it returns `Some`, at most `limit`
    /// (capped by [`MAX_WAIT`] and the test's overall budget); `None` on
    /// timeout.
    fn try_wait<T>(&self, limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let budget = MAX_TEST.saturating_sub(self.start.elapsed());
        let deadline = Instant::now() + limit.min(MAX_WAIT).min(budget);
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait<T>(
        &self,
        what: &str,
        limit: Duration,
        f: impl FnMut() -> Option<T>,
        diagnose: impl FnOnce() -> String,
    ) -> T {
        let t0 = Instant::now();
        match self.try_wait(limit, f) {
            Some(v) => {
                println!(
                    "[{:6.1}s] {what} (after {:.1}s)",
                    self.elapsed(),
                    t0.elapsed().as_secs_f64()
                );
                v
            }
            None => panic!(
                "timed out after {:.1}s waiting for {what}\n{}",
                t0.elapsed().as_secs_f64(),
                diagnose()
            ),
        }
    }
}

fn unix_now() -> f64 {
    gateway_exporter::clock::unix_now()
}

/// `gateway_exporter explain --profile msmail` on `lines`: one JSON object
/// per line.
fn explain(lines: &str) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
        .args(["explain", "--profile", "msmail"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Starts the exporter listening on a port chosen up front, so that the
/// same port can be given to `--tcp.local-port`: Prometheus' scrape
/// connection then shows up in the per-port connection states. Retries if
/// another process took the port first.
fn start_exporter(log: &std::path::Path, state: &std::path::Path) -> (Exporter, SocketAddr) {
    for _ in 0..3 {
        let port = free_port().to_string();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let args = [
            "--log.path",
            log.to_str().unwrap(),
            "--log.profile",
            "msmail",
            "--web.listen-address",
            &addr.to_string(),
            "--tcp.local-port",
            &port,
            "--gateway.process",
            "gateway_exporter",
            // Fresh: this exporter has never counted anything.
            "--state.dir",
            state.to_str().unwrap(),
        ];
        // The helper adds a second listener on 127.0.0.1:0; it panics if
        // the exporter exits (for instance, our port was taken).
        let started = std::panic::catch_unwind(|| Exporter::start(&args));
        if let Ok(e) = started {
            if TcpStream::connect(addr).is_ok() && http_get(addr, "/metrics").0 == 200 {
                return (e, addr);
            }
        }
    }
    panic!("could not start the exporter on a chosen port");
}

/// The shipped Alertmanager example, with its receivers pointed at the
/// webhook and the grouping delays shortened. Everything else (routes,
/// inhibition) is what users get.
fn alertmanager_config(webhook: SocketAddr) -> String {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/alertmanager/alertmanager.yml"
    ))
    .unwrap();
    let mut config = shipped;
    for (from, to) in [
        ("http://127.0.0.1:5001/", format!("http://{webhook}/")),
        ("group_wait: 30s", "group_wait: 1s".to_string()),
        ("group_interval: 5m", "group_interval: 1s".to_string()),
    ] {
        assert!(
            config.contains(from),
            "alertmanager.yml no longer has {from:?}"
        );
        config = config.replace(from, &to);
    }
    config
}

/// The shipped rules with the window length shortened through its single
/// configuration point (`gateway:config:frequent_window_seconds`).
fn shortened_rules() -> String {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/rules/gateway.rules.yml"
    ))
    .unwrap();
    let setting = "expr: vector(900)";
    assert_eq!(
        shipped.matches(setting).count(),
        1,
        "the window length must be set in exactly one place"
    );
    shipped.replace(setting, &format!("expr: vector({WINDOW_SECONDS})"))
}

/// A firing alert named `name` posted to the webhook: `(path, alert)`.
fn firing(webhook: &Webhook, name: &str) -> Option<(String, Value)> {
    webhook
        .alerts()
        .into_iter()
        .find(|(_, a)| a["status"] == "firing" && a["labels"]["alertname"] == name)
}

/// Fetches a runbook URL from the exporter and returns the text of the
/// section its anchor names (tags stripped, whitespace collapsed), after
/// checking the anchor is an element id in the page.
fn runbook_section(url: &str, exporter: SocketAddr) -> String {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("runbook_url {url} is not http://"));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // The default links use the alert's instance label, which is the
    // address Prometheus scraped: the exporter itself.
    assert_eq!(
        authority,
        exporter.to_string(),
        "runbook_url {url} does not point at the exporter"
    );
    let (path, anchor) = path
        .split_once('#')
        .unwrap_or_else(|| panic!("runbook_url {url} has no anchor"));
    let (status, html) = http_get(exporter, path);
    assert_eq!(status, 200, "GET {url}: {html}");
    let id = format!("id=\"{anchor}\"");
    let start = html
        .find(&id)
        .unwrap_or_else(|| panic!("the runbook has no element {id}:\n{html}"));
    // From the heading that carries the id to the next h2.
    let section = &html[html[..start].rfind('<').unwrap_or(start)..];
    let end = section[1..].find("<h2").map_or(section.len(), |i| i + 1);
    text_of(&section[..end])
}

/// Visible text of an HTML fragment: tags removed, entities decoded,
/// whitespace collapsed.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An instant query: `Ok(number of series)`, or `Err` with the status and
/// body when Prometheus rejects it (400 for a parse error).
fn query_count(p: &Prometheus, expr: &str) -> Result<usize, String> {
    let (status, body) = http_get(p.addr, &format!("/api/v1/query?query={}", urlencode(expr)));
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("{status}: {body}"));
    }
    Ok(match &v["data"]["result"] {
        Value::Array(a) => a.len(),
        Value::Null => 0,
        _ => 1, // scalar or string
    })
}

#[test]
fn enotconn_lines_reach_the_webhook_with_their_runbook() {
    let (Some(prometheus), Some(alertmanager), Some(python)) = (
        require("prometheus"),
        require("prometheus-alertmanager"),
        require("python3"),
    ) else {
        return;
    };
    let clock = Clock {
        start: Instant::now(),
    };

    // The premise: the classifier decodes the first line as ENOTCONN under
    // another number than the one the zero series carries.
    let explained = explain(&format!("{FIRST_LINE}{KB_LINE}"));
    assert_eq!(explained[0]["errname"], "ENOTCONN", "{explained:?}");
    assert_eq!(explained[0]["errno"], "107", "{explained:?}");
    assert_eq!(explained[0]["dialect"], "linux", "{explained:?}");
    assert_eq!(explained[1]["errname"], "ENOTCONN", "{explained:?}");
    assert_eq!(explained[1]["errno"], "57", "{explained:?}");

    let dir = tmpdir("alerting-e2e");
    let log = dir.join("SMTPGATE.LOG");
    append(&log, "");

    let webhook = Webhook::start();
    let am_dir = dir.join("alertmanager");
    std::fs::create_dir_all(&am_dir).unwrap();
    let am = Alertmanager::start(&alertmanager, &am_dir, &alertmanager_config(webhook.addr));
    let (exporter, target) = start_exporter(&log, &dir.join("state"));
    let prom_dir = dir.join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - gateway.rules.yml\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n\
         scrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['{target}']\n",
        am.addr
    );
    let rules = shortened_rules();
    let p = Prometheus::start(
        &prometheus,
        &prom_dir,
        &config,
        &[("gateway.rules.yml", &rules)],
    );
    println!(
        "[{:6.1}s] started: exporter {target}, prometheus {}, alertmanager {}, webhook {}",
        clock.elapsed(),
        p.addr,
        am.addr,
        webhook.addr
    );
    let diagnose = || {
        format!(
            "webhook posts: {:#?}\nALERTS: {:?}\nalertmanager log:\n{}\nexporter log: {:?}",
            webhook.posts(),
            p.query("ALERTS"),
            am.log_text(),
            exporter.log_lines()
        )
    };

    // Lines that are not ENOTCONN: other socket errors, an unrecognized
    // error line and a plain one, so the log-health panels have data.
    append(
        &log,
        "INFO Sent 3 messages to relay.example.com\n\
         ERROR read: (54) Connection reset by peer\n\
         ERROR write: (32) Broken pipe\n\
         ERROR relay session to peer failed: unexpected reply\n",
    );

    // A fresh exporter that has never seen ENOTCONN: its zero series (BSD
    // 57) is all there is, and Prometheus has recorded the sum at 0.
    let inst = format!("instance=\"{target}\"");
    clock.wait(
        "first scrape: up == 1, ENOTCONN sum recorded at 0",
        Duration::from_secs(60),
        || {
            let up = p.query(&format!("up{{job=\"gateway\",{inst}}}"));
            let sum = p.query(&format!(
                "instance_source:gateway_socket_notconn_errors_total:sum{{{inst}}}"
            ));
            (up.len() == 1 && up[0].1 == 1.0 && sum.len() == 1 && sum[0].1 == 0.0).then_some(())
        },
        diagnose,
    );
    let text = exporter.scrape();
    let enotconn = [("op", "write"), ("errname", "ENOTCONN")];
    assert_eq!(
        sum(&text, "gateway_socket_errors_total", &enotconn),
        Some(0.0)
    );
    assert_eq!(
        sum(
            &text,
            "gateway_socket_errors_total",
            &[("errname", "ENOTCONN"), ("errno", "57")]
        ),
        Some(0.0),
        "the msmail zero series is BSD errno 57:\n{text}"
    );
    assert!(webhook.alerts().is_empty(), "{:?}", webhook.posts());

    // ONE ENOTCONN line, under errno 107: the first-response alert arrives.
    append(&log, FIRST_LINE);
    let t_first = Instant::now();
    let (path, warning) = clock.wait(
        "GatewaySocketNotConnected at the webhook",
        Duration::from_secs(60),
        || firing(&webhook, "GatewaySocketNotConnected"),
        diagnose,
    );
    println!(
        "          first line -> webhook: {:.1}s",
        t_first.elapsed().as_secs_f64()
    );
    assert_eq!(path, "/oncall", "routed by the example config: {warning}");
    let labels = &warning["labels"];
    assert_eq!(labels["severity"], "warning", "{warning}");
    assert_eq!(labels["instance"], target.to_string(), "{warning}");
    assert_eq!(labels["job"], "gateway", "{warning}");
    assert_eq!(labels["source"], "default", "{warning}");
    let annotations = &warning["annotations"];
    let description = annotations["description"].as_str().unwrap_or("");
    assert!(
        annotations["summary"]
            .as_str()
            .is_some_and(|s| s.contains(&target.to_string())),
        "{warning}"
    );
    assert!(
        description.contains(&target.to_string())
            && description.contains("source default")
            && description.contains("restart the gateway computer"),
        "{warning}"
    );
    let runbook_url = annotations["runbook_url"].as_str().unwrap_or("");
    assert_eq!(
        runbook_url,
        format!("http://{target}/runbook#gatewaysocketnotconnected"),
        "{warning}"
    );
    // One blip is not frequent.
    assert!(firing(&webhook, "GatewaySocketNotConnectedFrequent").is_none());
    assert!(
        p.query("ALERTS{alertname=\"GatewaySocketNotConnectedFrequent\"}")
            .is_empty()
    );

    // The link resolves, and its section holds the first response.
    let section = runbook_section(runbook_url, target);
    println!("          runbook section: {section:.160}...");
    for advice in [
        "restart the gateway computer",
        "clear all connection information from the TCP/IP stack",
        "How to confirm it cleared",
    ] {
        assert!(
            section.contains(advice),
            "runbook section lacks {advice:?}:\n{section}"
        );
    }

    // Frequent: errors in 3 separate (shortened, clock-aligned) windows.
    // Each new line goes into the window after the previous error's, and we
    // wait until Prometheus has counted that window; a window Prometheus
    // missed (an error must be seen while younger than one window) is
    // retried with one more line, within the overall budget.
    let windows = || -> usize {
        p.query(&format!(
            "instance_source:gateway_socket_notconn_error_windows:count24h{{{inst}}}"
        ))
        .first()
        .map_or(0, |(_, v)| *v as usize)
    };
    let last_error_ts = || {
        sum(
            &exporter.scrape(),
            "gateway_last_socket_error_timestamp_seconds",
            &enotconn,
        )
        .expect("the exporter reports when it last counted ENOTCONN")
    };
    let mut seen = clock
        .try_wait(Duration::from_secs(2 * WINDOW_SECONDS), || {
            Some(windows()).filter(|n| *n >= 1)
        })
        .unwrap_or(0);
    let mut lines = 1;
    while seen < 3 {
        assert!(
            lines < 8,
            "Prometheus kept missing windows:\n{}",
            diagnose()
        );
        let w = WINDOW_SECONDS as f64;
        let next_window = ((last_error_ts() / w).floor() + 1.0) * w;
        let pause = next_window + 0.3 - unix_now();
        if pause > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(pause));
        }
        append(&log, KB_LINE);
        lines += 1;
        match clock.try_wait(Duration::from_secs(WINDOW_SECONDS + 10), || {
            Some(windows()).filter(|n| *n > seen)
        }) {
            Some(n) => {
                seen = n;
                println!(
                    "[{:6.1}s] line {lines}: Prometheus counts {seen} window(s)",
                    clock.elapsed()
                );
            }
            None => println!(
                "[{:6.1}s] line {lines}: window not counted, one more",
                clock.elapsed()
            ),
        }
        if seen == 2 {
            // Two windows are not frequent.
            assert!(
                p.query("ALERTS{alertname=\"GatewaySocketNotConnectedFrequent\"}")
                    .is_empty(),
                "{}",
                diagnose()
            );
        }
    }
    let (path, critical) = clock.wait(
        "GatewaySocketNotConnectedFrequent at the webhook",
        Duration::from_secs(60),
        || firing(&webhook, "GatewaySocketNotConnectedFrequent"),
        diagnose,
    );
    assert_eq!(
        path, "/escalation",
        "routed by the example config: {critical}"
    );
    let labels = &critical["labels"];
    assert_eq!(labels["severity"], "critical", "{critical}");
    assert_eq!(labels["reason"], "windows", "{critical}");
    assert_eq!(labels["instance"], target.to_string(), "{critical}");
    assert!(
        critical["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("check with the TCP/IP vendor")),
        "{critical}"
    );
    let runbook_url = critical["annotations"]["runbook_url"]
        .as_str()
        .unwrap_or("");
    assert_eq!(
        runbook_url,
        format!("http://{target}/runbook#gatewaysocketnotconnectedfrequent"),
        "{critical}"
    );
    // The example config's inhibition: while the escalation fires, the
    // first-response warning for the same gateway is suppressed (one
    // instruction at a time).
    clock.wait(
        "Alertmanager inhibits GatewaySocketNotConnected",
        Duration::from_secs(30),
        || {
            let filter = urlencode("alertname=\"GatewaySocketNotConnected\"");
            let (status, body) = http_get(am.addr, &format!("/api/v2/alerts?filter={filter}"));
            let alerts: Value = serde_json::from_str(&body).ok()?;
            let state = &alerts.as_array()?.first()?["status"];
            (status == 200
                && state["state"] == "suppressed"
                && state["inhibitedBy"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty()))
            .then_some(())
        },
        diagnose,
    );
    let section = runbook_section(runbook_url, target);
    for advice in [
        "check with the TCP/IP vendor",
        "Evidence to collect",
        "gateway_tcp_connections",
        "gateway_sockstat_",
        "gateway_exporter_build_info",
        "matching log lines",
    ] {
        assert!(
            section.contains(advice),
            "escalation section lacks {advice:?}:\n{section}"
        );
    }

    // Every dashboard expression runs against this Prometheus. With the
    // exporter configured for per-port states (its own port) and a restart
    // witness (its own process), every one has data to return here: the
    // rule is "no error, and at least one series" for all of them.
    let out = Command::new(python)
        .args(["dashboards/check.py", "--exprs"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exprs: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(exprs.len() > 20, "too few expressions: {exprs:?}");
    // The check itself catches a parse error (Prometheus answers 400).
    assert!(query_count(&p, "sum(gateway_log_up").is_err());
    let mut errors = Vec::new();
    let mut empty = Vec::new();
    for expr in &exprs {
        match query_count(&p, expr) {
            Err(e) => errors.push(format!("{expr}\n    {e}")),
            Ok(0) => empty.push(expr.clone()),
            Ok(_) => {}
        }
    }
    assert!(
        errors.is_empty(),
        "dashboard expressions Prometheus rejects:\n{}",
        errors.join("\n")
    );
    // A rate() needs two samples in its range: give late series a moment.
    if !empty.is_empty() {
        clock.try_wait(Duration::from_secs(10), || {
            empty.retain(|e| query_count(&p, e).is_ok_and(|n| n == 0));
            empty.is_empty().then_some(())
        });
    }
    assert!(
        empty.is_empty(),
        "dashboard expressions without data:\n{}",
        empty.join("\n")
    );
    println!(
        "[{:6.1}s] {} dashboard expressions: all parse and return data",
        clock.elapsed(),
        exprs.len()
    );

    // Passed: stop everything, then remove the temp dirs (kept on failure
    // for the logs).
    drop(p);
    drop(am);
    drop(exporter);
    drop(webhook);
    let _ = std::fs::remove_dir_all(&dir);
}
