//! The standard `process_*` metrics of the exporter itself, read from
//! `/proc/self` (the same names and meanings as every Prometheus client).

use std::path::PathBuf;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, IntGauge, Opts};

pub struct ProcessCollector {
    proc_root: PathBuf,
    descs: Vec<Desc>,
    cpu: Counter,
    open_fds: IntGauge,
    max_fds: IntGauge,
    virtual_memory: IntGauge,
    resident_memory: IntGauge,
    start_time: Gauge,
    threads: IntGauge,
}

/// Fields of `/proc/self/stat` after the command name.
struct Stat {
    utime: u64,
    stime: u64,
    threads: i64,
    starttime: u64,
    vsize: u64,
    rss_pages: i64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name may contain spaces and parentheses: fields start
    // after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N - 3].
    let field = |n: usize| f.get(n - 3).copied();
    Some(Stat {
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        threads: field(20)?.parse().ok()?,
        starttime: field(22)?.parse().ok()?,
        vsize: field(23)?.parse().ok()?,
        rss_pages: field(24)?.parse().ok()?,
    })
}

fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

impl ProcessCollector {
    pub fn new(proc_root: impl Into<PathBuf>) -> ProcessCollector {
        // Names and help are literals: construction cannot fail.
        fn int(name: &str, help: &str) -> IntGauge {
            IntGauge::with_opts(Opts::new(name, help)).expect("valid metric")
        }
        let cpu = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))
        .expect("valid metric");
        let start_time = Gauge::with_opts(Opts::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        ))
        .expect("valid metric");
        let open_fds = int("process_open_fds", "Number of open file descriptors.");
        let max_fds = int(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        );
        let virtual_memory = int(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        );
        let resident_memory = int(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        );
        let threads = int("process_threads", "Number of OS threads in the process.");
        let parts: [&dyn Collector; 7] = [
            &cpu,
            &open_fds,
            &max_fds,
            &virtual_memory,
            &resident_memory,
            &start_time,
            &threads,
        ];
        let descs = parts
            .iter()
            .flat_map(|c| c.desc().into_iter().cloned())
            .collect();
        ProcessCollector {
            proc_root: proc_root.into(),
            descs,
            cpu,
            open_fds,
            max_fds,
            virtual_memory,
            resident_memory,
            start_time,
            threads,
        }
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let me = self.proc_root.join("self");
        let mut out = Vec::new();
        if let Some(stat) = std::fs::read_to_string(me.join("stat"))
            .ok()
            .and_then(|t| parse_stat(&t))
        {
            let ticks = rustix::param::clock_ticks_per_second() as f64;
            let page = rustix::param::page_size() as i64;
            let cpu = (stat.utime + stat.stime) as f64 / ticks;
            // A Counter only goes up; set it by adding the difference.
            let delta = cpu - self.cpu.get();
            if delta > 0.0 {
                self.cpu.inc_by(delta);
            }
            self.threads.set(stat.threads);
            self.virtual_memory.set(stat.vsize as i64);
            self.resident_memory.set(stat.rss_pages * page);
            out.extend(self.cpu.collect());
            out.extend(self.threads.collect());
            out.extend(self.virtual_memory.collect());
            out.extend(self.resident_memory.collect());
            if let Some(btime) = std::fs::read_to_string(self.proc_root.join("stat"))
                .ok()
                .and_then(|t| boot_time(&t))
            {
                self.start_time
                    .set(btime as f64 + stat.starttime as f64 / ticks);
                out.extend(self.start_time.collect());
            }
        }
        if let Ok(dir) = std::fs::read_dir(me.join("fd")) {
            self.open_fds.set(dir.count() as i64);
            out.extend(self.open_fds.collect());
        }
        if let Some(max) = std::fs::read_to_string(me.join("limits"))
            .ok()
            .and_then(|t| max_open_files(&t))
        {
            self.max_fds.set(max);
            out.extend(self.max_fds.collect());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_hostile_command_name() {
        let line = "1234 (gw ) (x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 4242 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.utime, s.stime, s.threads, s.starttime),
            (250, 50, 7, 4242)
        );
        assert_eq!((s.vsize, s.rss_pages), (123456789, 2048));
    }

    #[test]
    fn limits_and_btime() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn reads_this_process() {
        let c = ProcessCollector::new("/proc");
        let names: Vec<String> = c.collect().iter().map(|f| f.name().to_string()).collect();
        assert!(
            names.contains(&"process_resident_memory_bytes".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"process_start_time_seconds".to_string()),
            "{names:?}"
        );
    }
}
