//! A restart that reads hours of backlog at once: the exporter counts the
//! windows the lines were written in, so the escalation alert
//! (GatewaySocketNotConnectedFrequent) fires on a real Prometheus with the
//! shipped rules, though Prometheus itself sees a single scrape's worth.

mod support;

use std::time::{Duration, Instant};

use support::{Exporter, Prometheus, require, sum, tmpdir};

use gateway_exporter::clock::unix_now;
use gateway_exporter::timestamp::rfc3339_utc;

fn rfc3339(t: i64) -> String {
    rfc3339_utc(t as f64)
}

#[test]
fn a_backlog_with_errors_in_three_hours_fires_the_escalation() {
    let Some(prometheus) = require("prometheus") else {
        return;
    };
    let dir = tmpdir("backlog-windows");
    let now = unix_now() as i64;
    // Six hours of log; socket errors in three separate hours, with
    // ordinary lines between them.
    let mut log = String::new();
    for (ago, text) in [
        (6 * 3600, "SMTPGATE started, polling every 60 seconds"),
        (5 * 3600 + 600, "ERROR write: (57) Socket is not connected"),
        (5 * 3600 + 590, "Message 0001A2B3 requeued for retry"),
        (3 * 3600 + 300, "ERROR write: (57) Socket is not connected"),
        (3 * 3600 + 200, "Sent 3 messages to mail.example.com"),
        (3600 + 120, "ERROR write: (57) Socket is not connected"),
        (60, "Sent 1 message to mail.example.com"),
    ] {
        log.push_str(&format!("{} {text}\n", rfc3339(now - ago)));
    }
    let path = dir.join("gw.log");
    std::fs::write(&path, log).unwrap();
    let exporter = Exporter::start(&[
        "--gateway.log-path",
        path.to_str().unwrap(),
        "--gateway.log-profile",
        "msmail",
        "--gateway.start-at",
        "beginning",
    ]);
    exporter.wait_for(
        "gateway_socket_errors_total",
        &[("errname", "ENOTCONN")],
        3.0,
    );
    let text = exporter.scrape();
    let last = sum(
        &text,
        "gateway_last_socket_error_timestamp_seconds",
        &[("op", "write"), ("errname", "ENOTCONN")],
    )
    .unwrap();
    assert_eq!(
        last as i64,
        now - 3600 - 120,
        "the last error's time is not the line's"
    );
    assert_eq!(
        sum(
            &text,
            "gateway_socket_error_windows",
            &[("op", "write"), ("errname", "ENOTCONN")]
        ),
        Some(3.0),
        "{text}"
    );

    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/rules/gateway.rules.yml"
    ))
    .unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - gateway.rules.yml\n\
         scrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['{}']\n",
        exporter.addr
    );
    let prom_dir = dir.join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let p = Prometheus::start(
        &prometheus,
        &prom_dir,
        &config,
        &[("gateway.rules.yml", &rules)],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let firing = p.query(
            "ALERTS{alertname=\"GatewaySocketNotConnectedFrequent\",alertstate=\"firing\",reason=\"windows\"}",
        );
        if !firing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the escalation did not fire: windows={:?} ALERTS={:?}",
            p.query("instance_source:gateway_socket_notconn_error_windows:count24h"),
            p.query("ALERTS")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Prometheus alone saw one window: the count came from the lines.
    let prometheus_only =
        p.query("changes(instance_source:gateway_socket_notconn_error_window:index[24h]) + 1");
    assert!(
        prometheus_only.iter().all(|(_, v)| *v < 3.0),
        "{prometheus_only:?}"
    );
}
