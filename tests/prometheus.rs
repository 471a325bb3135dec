//! End to end with a real Prometheus server: it scrapes the exporter every
//! second over loopback, and PromQL sees exactly what the log holds.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::{Exporter, Prometheus, append, require, tmpdir};

#[test]
fn prometheus_scrapes_exact_counts() {
    let Some(prometheus) = require("prometheus") else {
        return;
    };
    let dir = tmpdir("prometheus-e2e");
    let log = dir.join("gw.log");
    append(&log, "");
    let e = Exporter::start(&["--log.path", log.to_str().unwrap()]);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['{}']\n",
        e.addr
    );
    let p = Prometheus::start(&prometheus, &dir, &config, &[]);

    append(
        &log,
        "ERROR write: (57) Socket is not connected\n\
         ERROR write: (57) Socket is not connected\n\
         ERROR read: (54) Connection reset by peer\n\
         ERROR write: (119) network error\n\
         socket write failed, WSAENOTCONN (10057)\n\
         INFO all good\n",
    );
    let want: BTreeMap<String, f64> = [
        ("ENOTCONN", 3.0),
        ("ECONNRESET", 1.0),
        ("UNKNOWN", 1.0),
        ("EPIPE", 0.0),
        ("ETIMEDOUT", 0.0),
        ("ECONNREFUSED", 0.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = BTreeMap::new();
    while Instant::now() < deadline {
        got = p
            .query("sum by (errname) (gateway_socket_errors_total)")
            .into_iter()
            .map(|(l, v)| (l["errname"].as_str().unwrap_or("").to_string(), v))
            .collect();
        if got == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(got, want);
    let up = p.query("up{job=\"gateway\"}");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0);
    let lines = p.query("gateway_log_lines_total");
    assert_eq!(lines[0].1, 6.0);
}
