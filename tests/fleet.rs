//! A fleet under real Prometheus servers: 20 exporters on loopback, each
//! following its own log with its own error mix; one Prometheus scrapes
//! them all with the shipped rules, a second federates only the fleet
//! recording rules from it, a third receives its remote write. The fleet
//! dashboard's queries, the recording rules and both downstream servers
//! must give the exact per-instance and fleet totals the logs hold.
//!
//! Exact, not approximately: every series the increase()/rate() queries
//! read starts at 0 before the first error (the exporter creates the
//! watched write-error series at start, and the rules record a 0 before
//! the errors are appended), and Prometheus extrapolates neither towards
//! a counter's zero point nor past a sample taken at the evaluation time.
//! So `increase(...[1h])` is the count and `rate(...[5m])` is the count
//! over 300 s.
//!
//! It also reports what one exporter costs a Prometheus: series per
//! target and samples per second at the test's 1 s interval and at the
//! usual 15 s.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{Exporter, Prometheus, append, http_get, require, tmpdir, urlencode};

const EXPORTERS: usize = 20;
/// What a default exporter may cost in series (issue 16's budget).
const SERIES_BUDGET: f64 = 200.0;

/// The watched write errors as MS Mail Gateway logs them (BSD numbers).
const LINES: [(&str, &str); 5] = [
    ("ENOTCONN", "ERROR write: (57) Socket is not connected"),
    ("ECONNRESET", "ERROR write: (54) Connection reset by peer"),
    ("EPIPE", "ERROR write: (32) Broken pipe"),
    ("ETIMEDOUT", "ERROR write: (60) Operation timed out"),
    ("ECONNREFUSED", "ERROR write: (61) Connection refused"),
];

/// Instance `i`'s count of each errname of [`LINES`]: every instance
/// differs, some have none of an errname, and no two fleet totals match.
fn mix(i: usize) -> [u64; 5] {
    let i = i as u64;
    [
        i + 1,
        i % 3,
        (i * 7) % 5,
        u64::from(i % 4 == 0) * 2,
        (i / 5) % 3,
    ]
}

type Rows = Vec<(serde_json::Map<String, serde_json::Value>, f64)>;

/// `label` → value of each result.
fn by(rows: &Rows, label: &str) -> BTreeMap<String, f64> {
    rows.iter()
        .map(|(l, v)| {
            let key = l.get(label).and_then(|v| v.as_str()).unwrap_or("");
            (key.to_string(), *v)
        })
        .collect()
}

/// Polls `promql` on `p` until `check` holds, or fails after `timeout`
/// with the last result.
fn eventually(
    p: &Prometheus,
    promql: &str,
    timeout: Duration,
    check: impl Fn(&Rows) -> bool,
) -> Rows {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = p.query(promql);
        if check(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "{promql}: {rows:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `got` (floats from PromQL) equals `want` (counts), to rounding.
fn same(got: &BTreeMap<String, f64>, want: &BTreeMap<String, u64>) -> bool {
    got.len() == want.len()
        && want
            .iter()
            .all(|(k, w)| got.get(k).is_some_and(|g| (g - *w as f64).abs() < 1e-6))
}

/// Every panel query of a dashboard: (title, expr).
fn dashboard_queries(path: &Path) -> Vec<(String, String)> {
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    let mut stack: Vec<serde_json::Value> = d["panels"].as_array().cloned().unwrap_or_default();
    while let Some(p) = stack.pop() {
        stack.extend(p["panels"].as_array().cloned().unwrap_or_default());
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            if let Some(expr) = t["expr"].as_str() {
                let title = p["title"].as_str().unwrap_or("").to_string();
                out.push((title, expr.to_string()));
            }
        }
    }
    out
}

/// The dashboard's template variables as Grafana fills them with "All"
/// selected for instance and source, the job chosen, and a rate interval
/// of a few scrapes at this test's 1 s.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$job", "gateway")
        .replace("$instance", ".*")
        .replace("$source", ".*")
}

#[test]
fn fleet_of_twenty_under_one_prometheus_federated_and_remote_written() {
    let Some(prometheus) = require("prometheus") else {
        return;
    };
    let started = Instant::now();
    let root = tmpdir("fleet");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));

    // The exporters, each on its own empty log.
    let mut exporters = Vec::new();
    for i in 0..EXPORTERS {
        let log = root.join(format!("gw-{i}.log"));
        append(&log, "");
        let e = Exporter::start(&[
            "--gateway.log-path",
            log.to_str().unwrap(),
            "--gateway.log-profile",
            "msmail",
        ]);
        exporters.push((log, e));
    }
    let instances: Vec<String> = exporters.iter().map(|(_, e)| e.addr.to_string()).collect();

    // The remote-write receiver first: the scraping server's config names it.
    let rw_dir = root.join("receiver");
    std::fs::create_dir_all(&rw_dir).unwrap();
    let receiver = Prometheus::start_with_args(
        &prometheus,
        &rw_dir,
        "global:\n  scrape_interval: 1s\n",
        &[],
        &["--web.enable-remote-write-receiver"],
    );

    // The server that scrapes the fleet, with the rules as shipped.
    let rules =
        std::fs::read_to_string(repo.join("deploy/prometheus/rules/gateway.rules.yml")).unwrap();
    let targets = instances
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let scraper_config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    cluster: fleet-a\n\
         rule_files: ['gateway.rules.yml']\n\
         scrape_configs:\n\
         \x20 - job_name: gateway\n    static_configs:\n      - targets: [{targets}]\n\
         \x20 - job_name: prometheus\n    static_configs:\n      - targets: ['{{SELF}}']\n\
         remote_write:\n\
         \x20 - url: http://{}/api/v1/write\n\
         \x20   queue_config:\n      batch_send_deadline: 1s\n\
         \x20   write_relabel_configs:\n\
         \x20     - source_labels: [__name__]\n        regex: 'gateway_.*|[a-z_]+:gateway_.*'\n        action: keep\n",
        receiver.addr
    );
    let scraper_dir = root.join("scraper");
    std::fs::create_dir_all(&scraper_dir).unwrap();
    // Its own address is known only once it runs: the self-scrape target
    // is filled in by a reload.
    let scraper = Prometheus::start(
        &prometheus,
        &scraper_dir,
        &scraper_config.replace("{SELF}", "127.0.0.1:1"),
        &[("gateway.rules.yml", &rules)],
    );
    std::fs::write(
        scraper_dir.join("prometheus.yml"),
        scraper_config.replace("{SELF}", &scraper.addr.to_string()),
    )
    .unwrap();
    let (status, body) = post(scraper.addr, "/-/reload");
    assert_eq!(status, 200, "reload: {body}");

    let long = Duration::from_secs(30);
    eventually(&scraper, "count(up{job=\"gateway\"} == 1)", long, |r| {
        r.len() == 1 && r[0].1 == EXPORTERS as f64
    });
    // The recorded sums exist (at 0) before any error: the first error is
    // then an increase the rules see.
    eventually(
        &scraper,
        "count(instance_source_op_errname:gateway_socket_errors_total:sum == 0)",
        long,
        |r| r.len() == 1 && r[0].1 == (EXPORTERS * LINES.len()) as f64,
    );
    std::thread::sleep(Duration::from_secs(2));

    // The errors, and what the fleet must add up to.
    let mut per_instance: BTreeMap<String, u64> = BTreeMap::new();
    let mut notconn_per_instance: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_errname: BTreeMap<String, u64> = BTreeMap::new();
    for (i, (log, e)) in exporters.iter().enumerate() {
        let counts = mix(i);
        let mut text = String::new();
        for ((name, line), n) in LINES.iter().zip(counts) {
            for _ in 0..n {
                text.push_str(line);
                text.push('\n');
            }
            *per_errname.entry(name.to_string()).or_default() += n;
        }
        // Noise that is no socket error.
        text.push_str("INFO mail delivered\n");
        append(log, &text);
        per_instance.insert(e.addr.to_string(), counts.iter().sum());
        notconn_per_instance.insert(e.addr.to_string(), counts[0]);
    }
    let total: u64 = per_instance.values().sum();
    let notconn_total = per_errname["ENOTCONN"];
    let fleet: BTreeMap<String, u64> = [("gateway".to_string(), total)].into();
    eprintln!("fleet: {EXPORTERS} exporters, {total} socket errors, by errname {per_errname:?}");

    // Raw counters and the first recording rule, per instance.
    eventually(
        &scraper,
        "sum by (instance) (gateway_socket_errors_total{job=\"gateway\"})",
        long,
        |r| same(&by(r, "instance"), &per_instance),
    );
    eventually(
        &scraper,
        "sum by (instance) (instance_source_op_errname:gateway_socket_errors_total:sum)",
        long,
        |r| same(&by(r, "instance"), &per_instance),
    );
    eventually(
        &scraper,
        "sum by (instance) (instance_source:gateway_socket_notconn_errors_total:sum)",
        long,
        |r| same(&by(r, "instance"), &notconn_per_instance),
    );
    // The fleet recordings.
    let fleet_by_errname = "sum by (errname) (job_op_errname:gateway_socket_errors:increase1h)";
    eventually(&scraper, fleet_by_errname, long, |r| {
        same(&by(r, "errname"), &per_errname)
    });
    eventually(
        &scraper,
        "sum by (errname) (job_op_errname:gateway_socket_errors:rate5m) * 300",
        long,
        |r| same(&by(r, "errname"), &per_errname),
    );
    eventually(
        &scraper,
        "job:gateway_socket_notconn_errors:increase15m",
        long,
        |r| {
            same(
                &by(r, "job"),
                &[("gateway".to_string(), notconn_total)].into(),
            )
        },
    );

    // Every query of the fleet dashboard evaluates; those with a known
    // answer give it.
    let queries = dashboard_queries(&repo.join("dashboards/gateway-fleet.json"));
    let top10 = |m: &BTreeMap<String, u64>| {
        let mut v: Vec<u64> = m.values().copied().collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.truncate(10);
        v
    };
    let values = |r: &Rows, scale: f64| {
        let mut v: Vec<u64> = r.iter().map(|(_, x)| (x * scale).round() as u64).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    };
    let instances_with_notconn = notconn_per_instance.values().filter(|n| **n > 0).count() as u64;
    let mut checked = Vec::new();
    for (title, expr) in &queries {
        let q = substitute(expr);
        let timeout = Duration::from_secs(15);
        let one = |want: u64, scale: f64| {
            move |r: &Rows| r.len() == 1 && ((r[0].1 * scale) - want as f64).abs() < 1e-6
        };
        match title.as_str() {
            "Socket errors/s (fleet)" => {
                eventually(&scraper, &format!("({q}) * 300"), timeout, one(total, 1.0));
            }
            "Exporters down" | "Log sources unreadable" => {
                eventually(&scraper, &q, timeout, one(0, 1.0));
            }
            "Instances with ENOTCONN (15m)" => {
                eventually(&scraper, &q, timeout, one(instances_with_notconn, 1.0));
            }
            "Socket errors by errname" => {
                eventually(&scraper, &format!("({q}) * 300"), timeout, |r| {
                    same(&by(r, "errname"), &per_errname)
                });
            }
            "Socket errors by op" => {
                eventually(&scraper, &format!("({q}) * 300"), timeout, |r| {
                    same(&by(r, "op"), &[("write".to_string(), total)].into())
                });
            }
            "ENOTCONN write errors by instance (15m)" => {
                eventually(&scraper, &q, timeout, |r| {
                    same(&by(r, "instance"), &notconn_per_instance)
                });
            }
            "All instances: socket errors by job and errname" => {
                eventually(&scraper, &format!("({q}) * 300"), timeout, |r| {
                    same(&by(r, "errname"), &per_errname)
                });
            }
            "All instances: socket errors in the last hour by op and errname" => {
                eventually(&scraper, &q, timeout, |r| {
                    same(&by(r, "errname"), &per_errname)
                });
            }
            // increase() at an arbitrary instant extrapolates past the
            // last sample; at the rules' own evaluation time it does not.
            "Top instances by socket errors (1h)" => {
                let r = query_at(&scraper, &q, last_evaluation(&scraper));
                assert_eq!(values(&r, 1.0), top10(&per_instance), "{title}: {r:?}");
            }
            "Top instances by ENOTCONN errors (24h)" => {
                let r = query_at(&scraper, &q, last_evaluation(&scraper));
                assert_eq!(
                    values(&r, 1.0),
                    top10(&notconn_per_instance),
                    "{title}: {r:?}"
                );
            }
            _ => {
                // Known only to evaluate (alerts, line rates, ages).
                scraper.query(&q);
                continue;
            }
        }
        checked.push(title.clone());
    }
    assert_eq!(checked.len(), 11, "dashboard panels checked: {checked:?}");
    // Fleet totals by job, as a fleet view reads them.
    eventually(
        &scraper,
        "sum by (job) (job_op_errname:gateway_socket_errors:increase1h)",
        long,
        |r| same(&by(r, "job"), &fleet),
    );

    // A second Prometheus federates only the fleet recordings.
    let federated = [
        "job_op_errname:gateway_socket_errors:increase1h",
        "job_op_errname:gateway_socket_errors:rate5m",
        "job:gateway_socket_notconn_errors:increase15m",
    ];
    let matches = federated
        .iter()
        .map(|n| format!("'{{__name__=\"{n}\"}}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let federation_config = format!(
        "global:\n  scrape_interval: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n\
         \x20   params:\n      'match[]': [{matches}]\n\
         \x20   static_configs:\n      - targets: ['{}']\n",
        scraper.addr
    );
    let fed_dir = root.join("federation");
    std::fs::create_dir_all(&fed_dir).unwrap();
    let federation = Prometheus::start(&prometheus, &fed_dir, &federation_config, &[]);
    eventually(&federation, fleet_by_errname, long, |r| {
        same(&by(r, "errname"), &per_errname)
    });
    eventually(
        &federation,
        "sum by (job) (job_op_errname:gateway_socket_errors:increase1h)",
        long,
        |r| same(&by(r, "job"), &fleet),
    );
    eventually(
        &federation,
        "sum by (errname) (job_op_errname:gateway_socket_errors:rate5m) * 300",
        long,
        |r| same(&by(r, "errname"), &per_errname),
    );
    eventually(
        &federation,
        "job:gateway_socket_notconn_errors:increase15m{cluster=\"fleet-a\"}",
        long,
        |r| {
            same(
                &by(r, "job"),
                &[("gateway".to_string(), notconn_total)].into(),
            )
        },
    );
    // Only the recordings crossed: no raw series, and a handful of series
    // whatever the fleet's size.
    assert!(federation.query("gateway_socket_errors_total").is_empty());
    let federated_series = federation.query("count({job=\"gateway\"})");
    let federated_series = federated_series.first().map_or(0.0, |r| r.1);
    assert_eq!(
        federated_series,
        (2 * LINES.len() + 1) as f64,
        "federated series"
    );

    // The remote-write receiver holds the raw counters and the recordings.
    eventually(
        &receiver,
        "sum by (instance) (gateway_socket_errors_total{cluster=\"fleet-a\"})",
        long,
        |r| same(&by(r, "instance"), &per_instance),
    );
    eventually(&receiver, fleet_by_errname, long, |r| {
        same(&by(r, "errname"), &per_errname)
    });

    // What one exporter costs.
    let series =
        scraper.query("count by (instance) ({job=\"gateway\", __name__!~\".*:.*|ALERTS.*\"})");
    assert_eq!(series.len(), EXPORTERS);
    let scraped = scraper.query("scrape_samples_scraped{job=\"gateway\"}");
    let (min, max) = scraped.iter().fold((f64::MAX, 0.0f64), |(lo, hi), (_, v)| {
        (lo.min(*v), hi.max(*v))
    });
    let with_auto = series.iter().map(|r| r.1).fold(0.0f64, f64::max);
    assert!(
        max <= SERIES_BUDGET,
        "series per exporter {max} over the budget {SERIES_BUDGET}"
    );
    let appended = eventually(
        &scraper,
        "sum(rate(prometheus_tsdb_head_samples_appended_total[10s]))",
        long,
        |r| r.len() == 1 && r[0].1 > 0.0,
    )[0]
    .1;
    eprintln!(
        "series per exporter: {min}..{max} scraped ({with_auto} with Prometheus' own up/scrape_* series); budget {SERIES_BUDGET}"
    );
    eprintln!(
        "samples/s per exporter: {max} at a 1 s scrape interval, {:.1} at 15 s; the scraping server appended {appended:.0} samples/s in all ({:.1} per exporter, rules and self-scrape included)",
        max / 15.0,
        appended / EXPORTERS as f64
    );
    eprintln!("fleet test took {:.1} s", started.elapsed().as_secs_f64());
    drop(exporters);
}

/// When the rules last recorded the per-instance sums (every rule of the
/// group records at that same instant).
fn last_evaluation(p: &Prometheus) -> f64 {
    let r = p.query("max(timestamp(instance_source_op_errname:gateway_socket_errors_total:sum))");
    r[0].1
}

/// An instant query at Unix time `t`.
fn query_at(p: &Prometheus, promql: &str, t: f64) -> Rows {
    let (status, body) = http_get(
        p.addr,
        &format!("/api/v1/query?query={}&time={t:.3}", urlencode(promql)),
    );
    assert_eq!(status, 200, "query {promql}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let labels = r["metric"].as_object().cloned().unwrap_or_default();
            let value = r["value"][1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            (labels, value)
        })
        .collect()
}

/// A POST with an empty body (Prometheus' lifecycle API).
fn post(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, raw)
}
