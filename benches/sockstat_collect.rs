//! Times one collection of the socket-statistics collectors: a registry
//! built by `sockstat::register()`, gathered and encoded in the text format
//! as `/metrics` would serve it. Driven by `benches/sockstat.sh`, which
//! opens the connections and times node_exporter beside it; prints
//! `key=value` lines.
//!
//! ```text
//! cargo bench --bench sockstat_collect -- --port 40001 --port 40002 --runs 9 [--source procfs]
//! ```

// A bench is a program of its own: its exit codes are its own business.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use gateway_exporter::sockstat::connections::{ConnectionsCollector, Source};
use gateway_exporter::sockstat::health::WithHealth;
use gateway_exporter::sockstat::{SockstatConfig, register};
use prometheus::Registry;
use prometheus::proto::MetricFamily;

struct Args {
    ports: Vec<u16>,
    runs: usize,
    source: Source,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ports: Vec::new(),
        runs: 9,
        source: Source::Netlink,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => args.ports.push(
                value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?,
            ),
            "--runs" => {
                args.runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?
            }
            "--source" => {
                args.source = match value("--source")?.as_str() {
                    "netlink" => Source::Netlink,
                    "procfs" => Source::Procfs,
                    other => return Err(format!("--source: netlink or procfs, not {other}")),
                }
            }
            // `cargo bench` appends --bench to every harness-less target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.ports.is_empty() || args.runs == 0 {
        return Err(
            "usage: sockstat_collect --port P [--port P …] [--runs N] [--source netlink|procfs]"
                .into(),
        );
    }
    Ok(args)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The sum of the gauges of `name` whose labels include all of `labels`.
fn sum(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> f64 {
    families
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric())
        .filter(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| m.get_gauge().get_value())
        .sum()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let registry = Registry::new();
    let cfg = SockstatConfig {
        procfs: "/proc".into(),
        local_ports: args.ports.clone(),
        remote_ports: args.ports.clone(),
        process_names: Vec::new(),
        ..SockstatConfig::default()
    };
    let built = match args.source {
        Source::Netlink => register(&registry, &cfg),
        // The connections collector alone, on the fallback path.
        Source::Procfs => WithHealth::new(
            ConnectionsCollector::new("/proc", &args.ports, &args.ports)
                .with_source(Source::Procfs),
        )
        .and_then(|c| registry.register(Box::new(c))),
    };
    if let Err(e) = built {
        eprintln!("register: {e}");
        std::process::exit(1);
    }

    // One untimed collection: page in the code and the kernel's caches as
    // a long-running exporter would have them.
    let mut text = gateway_exporter::metrics::render_registry(&registry);
    let mut times: Vec<Duration> = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let start = Instant::now();
        text = gateway_exporter::metrics::render_registry(&registry);
        times.push(start.elapsed());
    }
    times.sort();
    let families = registry.gather();
    let median = times[times.len() / 2];
    let source = if sum(
        &families,
        "gateway_tcp_connections_source",
        &[("source", "procfs")],
    ) > 0.0
    {
        "procfs"
    } else {
        "netlink"
    };
    let established = |direction| {
        sum(
            &families,
            "gateway_tcp_connections",
            &[("direction", direction), ("state", "established")],
        )
    };
    println!("ours_source={source}");
    println!("ours_established_inbound={}", established("inbound"));
    println!("ours_established_outbound={}", established("outbound"));
    println!(
        "ours_collectors_up={}",
        sum(&families, "gateway_collector_up", &[])
    );
    for f in families
        .iter()
        .filter(|f| f.name() == "gateway_collector_duration_seconds")
    {
        for m in f.get_metric() {
            let collector = m.get_label().first().map_or("?", |l| l.value());
            println!(
                "ours_last_duration_{collector}_seconds={:.6}",
                m.get_gauge().get_value()
            );
        }
    }
    println!("ours_runs={}", times.len());
    println!("ours_median_seconds={:.6}", median.as_secs_f64());
    println!("ours_min_seconds={:.6}", times[0].as_secs_f64());
    println!(
        "ours_max_seconds={:.6}",
        times[times.len() - 1].as_secs_f64()
    );
    println!("ours_exposition_bytes={}", text.len());
    println!("ours_rss_kib={}", status_kib("VmRSS:"));
    println!("ours_peak_rss_kib={}", status_kib("VmHWM:"));
}
